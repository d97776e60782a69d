"""The everyday tools on the CPU: demo (image, folder, video), browse_dataset, analyze_logs,
benchmark, get_flops, print_config and publish_model (tools/test.py --show-dir is in
test_train_test_tools.py). The light ones run in this process."""
import glob
import hashlib
import json
import os
import os.path as osp
import shutil
import sys

import cv2
import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from hrpose.apis import init_model
from hrpose.registry import DATASETS
from tests.helpers import TINY_POSE_CONFIG, run_script, synthetic_cfg_options

K = 17
LEFT_SHOULDER, RIGHT_SHOULDER = 5, 6
LEFT_COLOR_BGR = (0, 128, 255)  # coco_person.py's left-side keypoint colour
RIGHT_COLOR_BGR = (255, 128, 0)


@pytest.fixture(scope='module')
def random_checkpoint(tmp_path_factory) -> str:
    """The tiny model with seeded random weights, saved as a plain state-dict checkpoint."""
    torch.manual_seed(0)
    model = init_model(TINY_POSE_CONFIG, None, device='cpu')
    path = str(tmp_path_factory.mktemp('weights') / 'tiny_random.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return path


def demo_args(input_path, checkpoint, out_dir, *extra):
    # Random weights give low keypoint scores: draw every keypoint of every person.
    return [
        sys.executable, 'demo/demo.py', input_path, TINY_POSE_CONFIG, checkpoint, '--out-dir',
        out_dir, '--score-thr', '0', '--kpt-thr=-1e9', *extra
    ]


def check_instance_json(instance, height, width):
    assert set(instance) == {'bbox', 'score', 'keypoints', 'keypoint_scores'}
    x1, y1, x2, y2 = instance['bbox']
    assert 0 <= x1 <= x2 <= width and 0 <= y1 <= y2 <= height
    assert np.asarray(instance['keypoints']).shape == (K, 2)
    assert np.asarray(instance['keypoint_scores']).shape == (K, )


def drawn_fraction(original: np.ndarray, drawn: np.ndarray, keypoints: np.ndarray) -> float:
    """Fraction of keypoints whose 3x3 neighbourhood changed clearly in the drawing."""
    height, width = original.shape[:2]
    changed = []
    for x, y in keypoints:
        col, row = int(np.clip(x, 1, width - 2)), int(np.clip(y, 1, height - 2))
        a = original[row - 1:row + 2, col - 1:col + 2].astype(np.float32)
        b = drawn[row - 1:row + 2, col - 1:col + 2].astype(np.float32)
        changed.append(np.abs(a - b).mean() > 20)
    return float(np.mean(changed))


def test_demo_on_one_coco_image_draws_keypoints_and_writes_json(tmp_path, shared_data,
                                                                random_checkpoint):
    image_path = osp.join(shared_data, 'coco', '000000000785.jpg')
    out_dir = str(tmp_path / 'out')
    printed = run_script(*demo_args(image_path, random_checkpoint, out_dir, '--device', 'cpu')[1:])
    assert '1 image(s) drawn' in printed

    original = mmcv.imread(image_path)
    drawn = mmcv.imread(osp.join(out_dir, 'vis', '000000000785.jpg'))
    assert drawn.shape == original.shape
    with open(osp.join(out_dir, 'predictions', '000000000785.json')) as f:
        record = json.load(f)
    assert record['image'] == image_path
    assert len(record['keypoint_names']) == K and record['keypoint_names'][0] == 'nose'
    assert len(record['instances']) > 0
    height, width = original.shape[:2]
    for instance in record['instances']:
        check_instance_json(instance, height, width)
    # The highest-scoring person's keypoints are drawn last-but-not-covered often enough:
    # most of their locations must differ from the input image.
    best = max(record['instances'], key=lambda inst: inst['score'])
    assert drawn_fraction(original, drawn, np.asarray(best['keypoints'])) >= 0.5


@pytest.mark.slow
def test_demo_on_the_coco_folder_writes_one_drawing_and_json_per_image(
        tmp_path, shared_data, random_checkpoint):
    out_dir = str(tmp_path / 'out')
    run_script(*demo_args(
        osp.join(shared_data, 'coco'), random_checkpoint, out_dir, '--batch-size', '2')[1:])
    images = sorted(osp.basename(p) for p in glob.glob(osp.join(shared_data, 'coco', '*.jpg')))
    assert len(images) == 4
    assert sorted(osp.basename(p) for p in glob.glob(osp.join(out_dir, 'vis', '*'))) == images
    jsons = sorted(glob.glob(osp.join(out_dir, 'predictions', '*.json')))
    assert [osp.basename(p) for p in jsons] == [n.replace('.jpg', '.json') for n in images]
    for path in jsons:
        with open(path) as f:
            record = json.load(f)
        height, width = mmcv.imread(record['image']).shape[:2]
        for instance in record['instances']:
            check_instance_json(instance, height, width)


@pytest.mark.slow
def test_demo_on_the_posetrack_video_writes_every_frame(tmp_path, shared_data, random_checkpoint):
    video = osp.join(shared_data, 'video', 'posetrack18_000001.mp4')
    capture = cv2.VideoCapture(video)
    num_frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    width, height = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                     int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    ok, first_frame = capture.read()
    capture.release()
    assert ok and num_frames > 0

    out_dir = str(tmp_path / 'out')
    printed = run_script(*demo_args(video, random_checkpoint, out_dir, '--batch-size', '2')[1:])
    assert f'{num_frames} frames drawn' in printed

    written = cv2.VideoCapture(osp.join(out_dir, 'posetrack18_000001.mp4'))
    frames = []
    while True:
        ok, frame = written.read()
        if not ok:
            break
        frames.append(frame)
    written.release()
    assert len(frames) == num_frames
    assert frames[0].shape == (height, width, 3)

    with open(osp.join(out_dir, 'posetrack18_000001.json')) as f:
        record = json.load(f)
    assert record['num_frames'] == num_frames == len(record['frames'])
    assert [frame['frame'] for frame in record['frames']] == list(range(num_frames))
    first = record['frames'][0]
    assert len(first['instances']) > 0
    for instance in first['instances']:
        check_instance_json(instance, height, width)
    best = max(first['instances'], key=lambda inst: inst['score'])
    assert drawn_fraction(first_frame, frames[0], np.asarray(best['keypoints'])) >= 0.5


def test_demo_names_a_missing_input(tmp_path, random_checkpoint):
    printed = run_script(
        *demo_args('no/such/video.mp4', random_checkpoint, str(tmp_path))[1:], expect_exit=1)
    assert 'no/such/video.mp4 does not exist' in printed


def packed_keypoints(config: Config, index: int):
    """(keypoints (N, K, 2), visible (N, K), image width) of a training sample, unflipped."""
    init_default_scope('hrpose')
    dataset_cfg = config.train_dataloader.dataset
    dataset_cfg.pipeline = [t for t in dataset_cfg.pipeline if t['type'] != 'KeypointRandomFlip']
    sample = DATASETS.build(dataset_cfg)[index]
    gt = sample['data_samples'].gt_instances
    return (np.asarray(gt.keypoints), np.asarray(gt.keypoints_visible), sample['inputs'].shape[-1])


def test_browse_dataset_draws_a_flipped_left_keypoint_on_the_mirrored_side(
        tmp_path, synthetic_root):
    out_dir = str(tmp_path / 'browse')
    flip_index = 3  # train pipeline: load, annotations, resize, flip, pack
    config = Config.fromfile(TINY_POSE_CONFIG)
    assert config.train_dataloader.dataset.pipeline[flip_index]['type'] == 'KeypointRandomFlip'
    run_script('tools/analysis_tools/browse_dataset.py', TINY_POSE_CONFIG, '--output-dir', out_dir,
               '--num', '1', '--cfg-options',
               f'train_dataloader.dataset.pipeline.{flip_index}.prob=1.0',
               *synthetic_cfg_options(synthetic_root))
    drawings = glob.glob(osp.join(out_dir, '0000_*.png'))
    assert len(drawings) == 1
    drawn = mmcv.imread(drawings[0])  # BGR

    config.merge_from_dict(
        {'train_dataloader.dataset.data_root': synthetic_root.rstrip('/') + '/'})
    keypoints, visible, width = packed_keypoints(config, 0)
    # A flip mirrors x (pixel centres at i + 0.5: x -> W - x) and swaps left and right, so
    # the keypoint drawn in the left colour is the mirrored *right* shoulder of the original.
    checked = 0
    for person, person_visible in zip(keypoints, visible):
        if not (person_visible[LEFT_SHOULDER] and person_visible[RIGHT_SHOULDER]):
            continue
        new_left = np.array([width - person[RIGHT_SHOULDER, 0], person[RIGHT_SHOULDER, 1]])
        new_right = np.array([width - person[LEFT_SHOULDER, 0], person[LEFT_SHOULDER, 1]])
        if np.abs(new_left - new_right).max() < 8:
            continue  # too close to tell the two colours apart
        for point, color in ((new_left, LEFT_COLOR_BGR), (new_right, RIGHT_COLOR_BGR)):
            col, row = np.floor(point).astype(int)
            np.testing.assert_allclose(
                drawn[row, col], color, atol=40, err_msg=f'pixel ({col}, {row})')
        checked += 1
    assert checked > 0


def test_print_config_shows_the_resolved_config(tmp_path):
    save_path = str(tmp_path / 'resolved.py')
    printed = run_script('tools/misc/print_config.py', TINY_POSE_CONFIG, '--save-path', save_path,
                         '--cfg-options', 'model.test_cfg.rcnn.flip_test=True')
    assert "type='KeypointTwoStageDetector'" in printed
    resolved = Config.fromfile(save_path)
    assert resolved.model.test_cfg.rcnn.flip_test is True
    assert resolved.model.backbone.extra.stage4.num_channels == (8, 16, 32, 64)


def conv_multiply_adds(conv: torch.nn.Module, input_hw: tuple) -> int:
    """Multiply-adds of one image through a Conv2d or ConvTranspose2d (bias left out, as
    the counter does): every output pixel of a convolution takes k*k*Cin/groups products
    per output channel; a transposed convolution scatters each input pixel through the
    whole k*k*Cout kernel."""
    kernel = conv.kernel_size[0] * conv.kernel_size[1]
    per_pixel = kernel * conv.in_channels * conv.out_channels // conv.groups
    if isinstance(conv, torch.nn.ConvTranspose2d):
        return per_pixel * input_hw[0] * input_hw[1]
    height = (input_hw[0] + 2 * conv.padding[0] - conv.kernel_size[0]) // conv.stride[0] + 1
    width = (input_hw[1] + 2 * conv.padding[1] - conv.kernel_size[1]) // conv.stride[1] + 1
    return per_pixel * height * width


def test_get_flops_counts_the_image_part_and_the_per_person_branches():
    printed = run_script('tools/analysis_tools/get_flops.py', TINY_POSE_CONFIG, '--shape', '128',
                         '160')
    params = float(printed.split('parameters: ')[1].split(' M')[0])
    model = init_model(TINY_POSE_CONFIG, None)
    assert params == pytest.approx(sum(p.numel() for p in model.parameters()) / 1e6, abs=0.01)
    assert 'image part (backbone + neck + RPN) at 128x160' in printed
    # The keypoint branch counted by hand from its layers: convs at the RoI feature size,
    # a deconvolution, the 1x1 layer at the heatmap size.
    head = model.roi_head.keypoint_head
    size, expected = tuple(head.roi_feat_size), 0
    for layer in [
            m for m in head.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))
    ]:
        expected += conv_multiply_adds(layer, size)
        if isinstance(layer, torch.nn.ConvTranspose2d):
            size = (size[0] * layer.stride[0], size[1] * layer.stride[1])
    assert size == (64, 48)
    keypoint_gflops = float(printed.split('keypoint branch ')[1].split(' GFLOPs')[0])
    assert keypoint_gflops == pytest.approx(expected / 1e9, abs=5e-4)


# ---------------------------------------------------------------------------------------
# Tools that read a real training run of the tiny config.


@pytest.mark.slow
def test_training_logs_to_tensorboard_when_configured(trained_run):
    events = glob.glob(osp.join(trained_run, '*', 'vis_data', 'events.out.tfevents.*'))
    assert len(events) == 1 and osp.getsize(events[0]) > 0


@pytest.mark.slow
def test_analyze_logs_plots_loss_and_ap_curves_of_a_real_run(tmp_path, trained_run):
    out = str(tmp_path / 'curves.png')
    printed = run_script('tools/analysis_tools/analyze_logs.py', 'plot_curve', trained_run,
                         '--keys', 'loss', 'loss_keypoint', 'coco/kpt_AP', '--out', out)
    assert 'plotted loss, loss_keypoint, coco/kpt_AP' in printed
    with open(glob.glob(osp.join(trained_run, '*', 'vis_data', 'scalars.json'))[0]) as f:
        records = [json.loads(line) for line in f]
    assert [r['iter'] for r in records if 'loss' in r] == [1, 2, 3, 4]
    # The AP is plotted at the iteration it was measured at, not at epoch 0.
    assert [r['step'] for r in records if 'coco/kpt_AP' in r] == [4]
    image = mmcv.imread(out)
    assert image is not None and image.shape[0] > 100 and image.shape[1] > 100
    # Something is drawn: a blank white canvas would have a single colour.
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 10

    printed = run_script('tools/analysis_tools/analyze_logs.py', 'cal_train_time', trained_run)
    assert 'logged intervals, mean' in printed


@pytest.mark.slow
def test_publish_model_keeps_weights_only_and_the_release_loads(tmp_path, trained_run):
    in_file = osp.join(trained_run, 'iter_4.pth')
    printed = run_script('tools/model_converters/publish_model.py', in_file,
                         str(tmp_path / 'tiny.pth'))
    published = glob.glob(str(tmp_path / 'tiny-*.pth'))
    assert len(published) == 1, printed
    with open(published[0], 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    assert published[0].endswith(f'tiny-{digest[:8]}.pth')
    checkpoint = torch.load(published[0], map_location='cpu', weights_only=True)
    assert 'optimizer' not in checkpoint and 'message_hub' not in checkpoint
    original = torch.load(in_file, map_location='cpu', weights_only=False)
    for key, value in original['state_dict'].items():
        assert torch.equal(checkpoint['state_dict'][key], value), key
    assert init_model(TINY_POSE_CONFIG, published[0]) is not None


@pytest.mark.slow
def test_benchmark_reports_images_per_second(trained_run, synthetic_root):
    printed = run_script('tools/analysis_tools/benchmark.py', TINY_POSE_CONFIG,
                         osp.join(trained_run, 'iter_4.pth'), '--num-images', '2', '--warmup', '1',
                         '--cfg-options', *synthetic_cfg_options(synthetic_root))
    line = [ln for ln in printed.splitlines() if 'after 1 warm-up' in ln]
    assert len(line) == 1
    assert float(line[0].split(': ')[1].split(' ')[0]) > 0


# ---------------------------------------------------------------------------------------
# The demo never destroys or confuses its inputs.


def test_demo_refuses_to_write_the_video_over_itself(tmp_path, shared_data, random_checkpoint):
    clip = tmp_path / 'clip.mp4'
    shutil.copy(osp.join(shared_data, 'video', 'posetrack18_000001.mp4'), clip)
    before = clip.read_bytes()
    printed = run_script(
        *demo_args(str(clip), random_checkpoint, str(tmp_path))[1:], expect_exit=1)
    assert 'would overwrite the input' in printed and 'clip.mp4' in printed
    assert clip.read_bytes() == before


def test_demo_refuses_to_draw_over_the_images_it_reads(tmp_path, shared_data, random_checkpoint):
    folder = tmp_path / 'out' / 'vis'
    folder.mkdir(parents=True)
    shutil.copy(osp.join(shared_data, 'coco', '000000000785.jpg'), folder / 'a.jpg')
    before = (folder / 'a.jpg').read_bytes()
    printed = run_script(
        *demo_args(str(folder), random_checkpoint, str(tmp_path / 'out'))[1:], expect_exit=1)
    assert 'would overwrite the input' in printed
    assert (folder / 'a.jpg').read_bytes() == before


def test_demo_names_outputs_of_same_named_images_apart(tmp_path, shared_data, random_checkpoint):
    folder = tmp_path / 'photos'
    folder.mkdir()
    image = mmcv.imread(osp.join(shared_data, 'coco', '000000000785.jpg'))
    mmcv.imwrite(image, str(folder / 'photo.jpg'))
    mmcv.imwrite(image[:, ::-1], str(folder / 'photo.png'))
    out_dir = tmp_path / 'out'
    printed = run_script(*demo_args(str(folder), random_checkpoint, str(out_dir))[1:])
    assert '2 image(s) drawn' in printed
    assert sorted(p.name
                  for p in (out_dir / 'vis').iterdir()) == ['photo_jpg.jpg', 'photo_png.jpg']
    records = {p.name: json.loads(p.read_text()) for p in (out_dir / 'predictions').iterdir()}
    assert sorted(records) == ['photo_jpg.json', 'photo_png.json']
    assert records['photo_png.json']['image'].endswith('photo.png')


def test_demo_can_skip_a_broken_image_and_report_it(tmp_path, shared_data, random_checkpoint):
    folder = tmp_path / 'photos'
    folder.mkdir()
    for name in ('a.jpg', 'c.jpg'):
        shutil.copy(osp.join(shared_data, 'coco', '000000000785.jpg'), folder / name)
    (folder / 'b.jpg').write_bytes(b'not an image' * 20)
    out_dir = str(tmp_path / 'out')
    stopped = run_script(*demo_args(str(folder), random_checkpoint, out_dir)[1:], expect_exit=1)
    assert 'b.jpg' in stopped and 'do not decode' in stopped and 'image id' not in stopped
    printed = run_script(*demo_args(
        str(folder), random_checkpoint, out_dir, '--skip-bad-images', '--batch-size', '2')[1:])
    assert '2 image(s) drawn' in printed and '1 image(s) skipped' in printed
    assert sorted(os.listdir(osp.join(out_dir, 'vis'))) == ['a.jpg', 'c.jpg']


@pytest.mark.parametrize('size', ['0', '-2'])
def test_demo_batch_size_must_be_positive(tmp_path, shared_data, random_checkpoint, size):
    printed = run_script(
        *demo_args(
            osp.join(shared_data, 'coco'), random_checkpoint, str(tmp_path), '--batch-size',
            size)[1:],
        expect_exit=2)
    assert 'must be a positive integer' in printed


def test_demo_runs_the_keypoint_branch_on_the_boxes_of_a_detection_file(
        tmp_path, shared_data, random_checkpoint):
    """COCO's detection file names images by id, the number in COCO's file names: each
    image gets exactly its detections above the threshold, with their scores."""
    det_file = osp.join(shared_data, 'coco', 'test_coco_det_AP_H_56.json')
    out_dir = str(tmp_path / 'out')
    run_script(*demo_args(
        osp.join(shared_data, 'coco'), random_checkpoint, out_dir, '--person-boxes', det_file,
        '--person-box-score-thr', '0.5')[1:])
    with open(det_file) as f:
        detections = json.load(f)
    for path in sorted(glob.glob(osp.join(shared_data, 'coco', '*.jpg'))):
        name = osp.splitext(osp.basename(path))[0]
        with open(osp.join(out_dir, 'predictions', f'{name}.json')) as f:
            instances = json.load(f)['instances']
        expected = sorted(
            (d for d in detections if d['image_id'] == int(name) and d['score'] >= 0.5),
            key=lambda d: -d['score'])
        assert len(instances) == len(expected) > 0
        for instance, detection in zip(instances, expected):
            x, y, w, h = detection['bbox']
            np.testing.assert_allclose(instance['bbox'], [x, y, x + w, y + h], atol=1e-2)
            assert instance['score'] == pytest.approx(detection['score'], abs=1e-4)  # 4 digits


def test_demo_says_when_a_detection_file_names_none_of_its_images(tmp_path, shared_data,
                                                                  random_checkpoint):
    det_file = tmp_path / 'dets.json'
    det_file.write_text(json.dumps([dict(image_id=1, bbox=[0, 0, 5, 5], score=1.0)]))
    printed = run_script(
        *demo_args(
            osp.join(shared_data, 'coco'), random_checkpoint, str(tmp_path / 'out'),
            '--person-boxes', str(det_file))[1:],
        expect_exit=1)
    assert 'none of its 1 detections names one of the 4 input images' in printed


# ---------------------------------------------------------------------------------------
# Outputs are checked before the long work.


@pytest.fixture
def inference_must_not_run(monkeypatch):
    import hrpose.apis
    import hrpose.apis.video

    def refuse(*args, **kwargs):
        raise AssertionError('inference ran although the output cannot be written')

    monkeypatch.setattr(hrpose.apis, 'inference_keypoints', refuse)
    monkeypatch.setattr(hrpose.apis.inferencer, 'inference_keypoints', refuse)
    monkeypatch.setattr(hrpose.apis.video, 'inference_keypoints', refuse)


def test_demo_stops_before_inferring_a_video_it_could_not_write(tmp_path, shared_data,
                                                                random_checkpoint,
                                                                inference_must_not_run):
    """A folder where the video goes: OpenCV's writer cannot open, which it does not say."""
    (tmp_path / 'out' / 'posetrack18_000001.mp4').mkdir(parents=True)
    video = osp.join(shared_data, 'video', 'posetrack18_000001.mp4')
    printed = run_script(
        *demo_args(video, random_checkpoint, str(tmp_path / 'out'))[1:], expect_exit=1)
    assert 'cannot open an mp4v video writer' in printed and 'frames drawn' not in printed
    assert not (tmp_path / 'out' / 'posetrack18_000001.json').exists()


@pytest.mark.parametrize('input_kind', ['images', 'video'])
def test_demo_stops_before_inferring_into_an_out_dir_it_cannot_create(
        tmp_path, shared_data, random_checkpoint, inference_must_not_run, input_kind):
    blocker = tmp_path / 'a_file'
    blocker.write_text('')
    source = (
        osp.join(shared_data, 'coco') if input_kind == 'images' else osp.join(
            shared_data, 'video', 'posetrack18_000001.mp4'))
    printed = run_script(
        *demo_args(source, random_checkpoint, str(blocker / 'out'))[1:], expect_exit=1)
    assert f'{blocker / "out"}' in printed and 'cannot write there' in printed


def test_test_tool_refuses_an_out_file_that_is_a_folder_before_testing(
        tmp_path, trained_run, synthetic_root):
    (tmp_path / 'preds.pkl').mkdir()
    printed = run_script(
        'tools/test.py',
        TINY_POSE_CONFIG,
        trained_run,
        '--work-dir',
        str(tmp_path / 'work'),
        '--out',
        str(tmp_path / 'preds.pkl'),
        '--cfg-options',
        *synthetic_cfg_options(synthetic_root),
        expect_exit=1)
    assert 'is a folder; give a file name' in printed
    assert not (tmp_path / 'work').exists()  # stopped before the runner started
