"""Half-precision inference: the layers under autocast, coordinates in float32, the results
of the float32 model."""
import glob
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from hrpose.apis import inference_keypoints, init_model
from hrpose.deploy.parity import matched_differences, prediction_differences
from hrpose.engine import find_resumable_checkpoint
from tests.helpers import (COCO_METAINFO, OVERFIT_CONFIG, TINY_POSE_CONFIG, printed_metrics,
                           run_tool)

COCO_METAINFO_OPTION = {'test_dataloader.dataset.metainfo': COCO_METAINFO}


def overfit_model(udp_overfit_run, **settings):
    """The model of the shared UDP overfit run, with inference ``settings`` (precision,
    compile_mode, channels_last)."""
    work_dir, _ = udp_overfit_run
    return init_model(
        osp.join(work_dir, osp.basename(OVERFIT_CONFIG)),
        find_resumable_checkpoint(work_dir),
        cfg_options=COCO_METAINFO_OPTION,
        **settings)


@pytest.mark.parametrize('rpn_head_float32', [True, False])
def test_bf16_runs_the_layers_in_half_precision_and_the_coordinates_in_float32(rpn_head_float32):
    """What runs in which dtype, recorded by hooks on one image: the backbone's, the box
    head's and the keypoint head's outputs in bfloat16, the RPN head's too with
    ``rpn_head_float32=False`` (float32 by default); both RoI extractors' inputs, the RPN's
    and the box head's decoding inputs and the heatmap decoding in float32."""
    torch.manual_seed(0)
    model = init_model(
        TINY_POSE_CONFIG,
        cfg_options=dict(COCO_METAINFO_OPTION, **{'model.rpn_head_float32': rpn_head_float32}),
        precision='bf16')
    seen = {}

    def record(name, which='output'):

        def hook(module, args, output):
            value = output if which == 'output' else args
            while isinstance(value, (list, tuple)):
                value = value[0]
            seen[name] = value.dtype

        return hook

    model.backbone.register_forward_hook(record('backbone'))
    model.rpn_head.rpn_conv.register_forward_hook(record('rpn conv'))
    model.roi_head.bbox_head.register_forward_hook(record('box head'))
    model.roi_head.keypoint_head.register_forward_hook(record('keypoint head'))
    model.roi_head.bbox_roi_extractor.register_forward_hook(record('box RoIAlign input', 'args'))
    model.roi_head.keypoint_roi_extractor.register_forward_hook(
        record('keypoint RoIAlign input', 'args'))
    predict_by_feat = model.rpn_head.predict_by_feat
    box_predict_by_feat = model.roi_head.bbox_head.predict_by_feat
    decode = model.roi_head.codec.decode_heatmap_coords

    def recorded(name, function):

        def wrapper(*args, **kwargs):
            value = args[0] if args else kwargs['cls_scores']  # mmdet passes these by name
            while isinstance(value, (list, tuple)):
                value = value[0]
            seen[name] = value.dtype
            return function(*args, **kwargs)

        return wrapper

    model.rpn_head.predict_by_feat = recorded('RPN decoding input', predict_by_feat)
    model.roi_head.bbox_head.predict_by_feat = recorded('box decoding input', box_predict_by_feat)
    model.roi_head.codec.decode_heatmap_coords = recorded('heatmap decoding input', decode)
    result = inference_keypoints(
        model,
        np.random.RandomState(0).randint(0, 255, (214, 320, 3), dtype=np.uint8))
    assert len(result['scores']) > 0
    assert seen == {
        'backbone': torch.bfloat16,
        'rpn conv': torch.float32 if rpn_head_float32 else torch.bfloat16,
        'RPN decoding input': torch.float32,
        'box RoIAlign input': torch.float32,
        'box head': torch.bfloat16,
        'box decoding input': torch.float32,
        'keypoint RoIAlign input': torch.float32,
        'keypoint head': torch.bfloat16,
        'heatmap decoding input': torch.float32,
    }


def test_bad_precisions_are_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match="precision='fp8': expected one of fp32, fp16, bf16"):
        init_model(TINY_POSE_CONFIG, cfg_options=COCO_METAINFO_OPTION, precision='fp8')
    with pytest.raises(ValueError, match="needs model.type='KeypointTwoStageDetector'"):
        init_model(
            'configs/_base_/models/faster-rcnn_hrnet-w32_hrfpn.py',
            cfg_options=COCO_METAINFO_OPTION,
            fp16=True)


@pytest.mark.slow
@pytest.mark.parametrize('precision, keypoint_px, score', [('fp16', 0.5, 1e-3),
                                                           ('bf16', 2.0, 1e-2)])
def test_half_precision_finds_the_float32_persons_on_the_coco_sample(shared_data, udp_overfit_run,
                                                                     precision, keypoint_px,
                                                                     score):
    """The model trained on the 4 COCO sample images, in float16 and bfloat16 on the CPU
    (the RPN head in float32, the default): the same 12 persons, keypoints within 0.5 px of
    the float32 ones in the original images in float16 (measured on three trainings, seeds
    0, 1, 2: 0.056, 0.095 and 0.232 px; 0.62 px on seed 0 with the RPN head in float16, a
    box taken from another of two near-equal proposals), 2 px in bfloat16 (7 bits of
    mantissa; measured 0.61, 0.16, 0.34 px), scores within 1e-3 (float16, measured up to
    9e-6) or 1e-2 (bfloat16, up to 6e-5)."""
    images = sorted(glob.glob(osp.join(shared_data, 'coco', '*.jpg')))
    expected = inference_keypoints(overfit_model(udp_overfit_run), images)
    found = inference_keypoints(overfit_model(udp_overfit_run, precision=precision), images)
    differences = matched_differences(expected, found)
    print(precision, differences)
    assert differences['matched'] == sum(len(e['scores']) for e in expected) == 12
    assert differences['unmatched_scores'] == []
    assert differences['keypoints'] <= keypoint_px
    assert differences['scores'] <= score


def confident(predictions, score_thr: float):
    """Each image's persons scoring at least ``score_thr``."""
    out = []
    for p in predictions:
        keep = p['scores'] >= score_thr
        out.append({k: v[keep] if isinstance(v, np.ndarray) else v for k, v in p.items()})
    return out


@pytest.mark.full  # 88 images in float16 on the CPU: minutes
def test_fp16_on_unseen_images_keeps_the_confident_persons_and_keypoints(
        shared_data, udp_overfit_run):
    """The same model on the 88 COCO train images it never saw: its heatmaps there are flat
    (near-equal maxima move between precisions) and its proposals near-equal, so parity is
    asserted where the model is sure: of the persons scoring 0.5 or more in either
    precision, at least 97 % are found (box IoU 0.5) among the persons of the other, with
    scores within 0.02, and the keypoints scoring 0.5 or more in both lie within 0.5 px.
    Measured (both directions counted), seeds 0, 1, 2: 82, 246 and 177 confident persons,
    of which 0, 0 and 1 without a partner (a person scoring 0.81 in float32 that float16
    does not find, with the box head in float32 too: its features); 62, 12 and 28
    confident keypoints, within 0.052, 0.039 and 0.040 px."""
    images = sorted(glob.glob(osp.join(shared_data, 'coco_train88', '*.jpg')))
    full = inference_keypoints(overfit_model(udp_overfit_run), images)
    half = inference_keypoints(overfit_model(udp_overfit_run, precision='fp16'), images)
    worst, count, persons, missing = 0.0, 0, 0, 0
    for sure, other in ((confident(full, 0.5), half), (confident(half, 0.5), full)):
        differences = matched_differences(sure, other)
        persons += sum(len(p['scores']) for p in sure)
        missing += sum(len(p['scores']) for p in sure) - differences['matched']
        assert differences['scores'] <= 0.02
        for ref, oth in zip(sure, other):
            iou = box_iou(torch.from_numpy(ref['bboxes']), torch.from_numpy(oth['bboxes']))
            for i, j in enumerate(iou.argmax(dim=1).tolist() if iou.numel() else []):
                if iou[i, j] < 0.5:
                    continue  # one of the missing
                both = (ref['keypoint_scores'][i] >= 0.5) & (oth['keypoint_scores'][j] >= 0.5)
                distance = np.linalg.norm(ref['keypoints'][i] - oth['keypoints'][j], axis=-1)
                worst, count = max([worst, *distance[both]]), count + int(both.sum())
    print(f'{persons} confident persons, {missing} without a partner; {count} confident '
          f'keypoints, worst {worst:.3f} px (both directions counted)')
    assert persons > 0 and missing <= 0.03 * persons
    assert count > 0 and worst <= 0.5


@pytest.mark.slow
def test_tools_test_fp16_and_batches_print_the_float32_metrics(tmp_path, udp_overfit_run):
    """tools/test.py --fp16 and --batch-size 4 on the 4 COCO images: keypoint AP and box
    AP of the float32, one-image-per-pass run to 3 digits."""
    work_dir, options = udp_overfit_run
    metrics = {}
    for name, extra in (('fp32', []), ('fp16', ['--fp16']), ('batch4', ['--batch-size', '4'])):
        proc = run_tool([
            sys.executable, 'tools/test.py', OVERFIT_CONFIG, work_dir, '--work-dir',
            str(tmp_path / name), *extra, '--cfg-options', *options
        ])
        metrics[name] = printed_metrics(proc.stdout + proc.stderr)
    print(metrics)
    for name in ('fp16', 'batch4'):
        for key in ('coco/kpt_AP', 'coco/bbox_mAP'):
            assert round(metrics[name][key], 3) == round(metrics['fp32'][key], 3), (name, key)


@pytest.mark.slow
@pytest.mark.parametrize('setting', [dict(compile_mode='default'), dict(channels_last=True)])
def test_the_compiled_or_reordered_model_gives_the_eager_results(udp_overfit_run, shared_data,
                                                                 setting):
    """compile_mode='default' (inductor on the CPU; 'reduce-overhead' adds CUDA graphs on
    GPUs) and channels_last=True, the trained model on one COCO image: the same persons,
    boxes and keypoints within 0.01 px, scores within 1e-4 (measured, compiled: 0.00015 px,
    0.00006 px, equal scores)."""
    image = sorted(glob.glob(osp.join(shared_data, 'coco', '*.jpg')))[0]
    other = overfit_model(udp_overfit_run, **setting)
    expected = inference_keypoints(overfit_model(udp_overfit_run), [image])
    found = inference_keypoints(other, [image])
    if 'compile_mode' in setting:
        assert other.compile_image_part == 'default'  # it compiled, no fallback to eager
        assert other._image_part_ran_compiled
    differences = prediction_differences(expected, found)
    print(differences)
    assert differences['persons'] > 0 and differences['count_mismatches'] == 0
    assert differences['bboxes'] <= 0.01 and differences['keypoints'] <= 0.01
    assert differences['scores'] <= 1e-4


def test_a_compile_failure_falls_back_to_eager_with_a_message(monkeypatch):
    torch.manual_seed(0)
    model = init_model(
        TINY_POSE_CONFIG, cfg_options=COCO_METAINFO_OPTION, compile_mode='reduce-overhead')

    def broken(*args, **kwargs):
        raise RuntimeError('no C++ compiler found')

    monkeypatch.setattr(model, '_compiled_image_part', broken)
    image = np.zeros((120, 160, 3), np.uint8)
    result = inference_keypoints(model, image)
    assert isinstance(result['scores'], np.ndarray)
    assert model.compile_image_part is None
    with pytest.raises(ValueError, match="compile_mode='fast': expected one of"):
        init_model(TINY_POSE_CONFIG, cfg_options=COCO_METAINFO_OPTION, compile_mode='fast')


def test_channels_last_reorders_the_weights_and_runs():
    """channels_last=True keeps the convolution weights in channels-last order, also after
    loading a checkpoint's (contiguous) weights into them, and predicts; its results are
    compared with the eager ones on the trained model above (random weights give near-equal
    box scores and heatmap maxima that any reordering of sums swaps)."""
    torch.manual_seed(0)
    model = init_model(TINY_POSE_CONFIG, cfg_options=COCO_METAINFO_OPTION)
    reordered = init_model(TINY_POSE_CONFIG, cfg_options=COCO_METAINFO_OPTION, channels_last=True)
    reordered.load_state_dict(model.state_dict())
    for conv in (reordered.backbone.conv1, reordered.roi_head.keypoint_head.convs[0].conv):
        assert conv.weight.is_contiguous(memory_format=torch.channels_last)
        assert not conv.weight.is_contiguous()
    result = inference_keypoints(reordered, np.zeros((120, 160, 3), np.uint8))
    assert result['keypoints'].shape[1:] == (17, 2)
