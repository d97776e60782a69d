"""The heatmap keypoint detector trained and evaluated through tools/train.py and test.py."""
import json
import os.path as osp
import re
import sys

import numpy as np
import pytest
from mmengine.config import Config
from pycocotools.coco import COCO

from hrpose.datasets import load_keypoint_metainfo
from hrpose.evaluation.keypoint_errors import per_keypoint_errors
from tests.helpers import (COCO_METAINFO, CROWDPOSE_METAINFO, OVERFIT_CONFIG, REPO_ROOT, TEST_SEED,
                           TINY_POSE_CONFIG, data_cfg_options, printed_metrics,
                           pycocotools_metrics, run_script, run_tool, synthetic_cfg_options,
                           train_overfit_run)


@pytest.mark.slow
@pytest.mark.longest
@pytest.mark.parametrize(
    'codec',
    [
        # UDP in `make test`: it exercises the most geometry (its own pooling RoIs and transform,
        # and DARK's refinement); the coordinate oracle covers every codec's chain in seconds.
        pytest.param('MSRAHeatmap', marks=pytest.mark.full),
        pytest.param('DARKHeatmap', marks=pytest.mark.full),
        'UDPHeatmap',
    ])
def test_overfit_the_coco_sample_reaches_keypoint_ap_0_95(request, tmp_path, shared_data, codec):
    """Targets, decoding, coordinates and the metric agree for each codec: memorising 4
    real COCO images for 400-500 iterations (4-5 minutes on 2 CPU cores) gives keypoint AP
    >= 0.95 when testing on the same images, and every keypoint, the ankles included, is
    found: its median error is under 5% of the person scale sqrt(area) (a keypoint the
    model has not learned is off by about 100%). DARK and UDP decode sub-pixel maxima, so
    their errors must also be smaller on average than MSRA's quantised ones (measured: MSRA
    0.020, DARK 0.008, UDP 0.008 of the scale)."""
    ann_file = osp.join(shared_data, 'coco', 'test_coco.json')
    if codec == 'UDPHeatmap':  # the session's shared run
        work_dir, options = request.getfixturevalue('udp_overfit_run')
    else:
        work_dir = str(tmp_path / 'work')
        options = train_overfit_run(work_dir, osp.join(shared_data, 'coco'), codec)
    test_dir = str(tmp_path / 'test')  # the logs of tools/test.py, beside the run
    used = Config.fromfile(osp.join(work_dir, osp.basename(OVERFIT_CONFIG)))
    assert used.model.roi_head.keypoint_head.codec.type == codec
    out_prefix = str(tmp_path / 'results')
    proc = run_tool([
        sys.executable, 'tools/test.py', OVERFIT_CONFIG, work_dir, '--work-dir', test_dir,
        '--cfg-options', *options, f'test_evaluator.outfile_prefix={out_prefix}'
    ])
    output = proc.stdout + proc.stderr
    metrics = printed_metrics(output)
    kpt_ap = metrics['coco/kpt_AP']
    with open(out_prefix + '.keypoints.json') as f:
        dets = json.load(f)
    assert dets and len(dets[0]['keypoints']) == 17 * 3
    sigmas = load_keypoint_metainfo(COCO_METAINFO)['sigmas']
    errors = per_keypoint_errors(COCO(ann_file), dets, sigmas)
    median_over_scale = np.array([np.median(e) for e in errors['normalised']])
    print(f'{codec} overfit keypoint AP on the 4 COCO sample images: {kpt_ap:.4f}, '
          f'box AP: {metrics["coco/bbox_mAP"]:.4f}, median error over '
          f'scale per keypoint: {np.round(median_over_scale, 3).tolist()}')
    assert errors['matched_persons'] == errors['persons']
    for name, value in pycocotools_metrics(ann_file, out_prefix).items():
        assert metrics[name] == pytest.approx(value, abs=1e-4), name
    assert np.all(median_over_scale < 0.05), median_over_scale
    if codec != 'MSRAHeatmap':
        assert median_over_scale.mean() < 0.015, median_over_scale
    assert kpt_ap >= 0.95

    # The same checkpoint under the flip test with rescoring and OKS-NMS: other poses, the
    # same box results (the box branch's, as NMS left them) and so the same box AP.
    flip_prefix = str(tmp_path / 'flip')
    proc = run_tool([
        sys.executable, 'tools/test.py', OVERFIT_CONFIG, work_dir, '--work-dir', test_dir,
        '--cfg-options', *options, f'test_evaluator.outfile_prefix={flip_prefix}',
        'model.test_cfg.rcnn.flip_test=True', 'model.test_cfg.rcnn.rescore=True',
        'model.test_cfg.rcnn.oks_nms.iou_threshold=0.9'
    ])
    output = proc.stdout + proc.stderr
    assert ('test protocol: box results: up to 100 per image after nms; pose results: flip '
            'test on, rescored') in output
    flipped = printed_metrics(output)
    for name, value in metrics.items():
        if name.startswith('coco/bbox_'):
            assert flipped[name] == value, name
    with open(out_prefix + '.bbox.json') as f, open(flip_prefix + '.bbox.json') as g:
        assert json.load(f) == json.load(g)
    with open(flip_prefix + '.keypoints.json') as f:
        assert json.load(f) != dets


@pytest.mark.slow
def test_crowdpose_sample_trains_one_iteration_and_evaluates(tmp_path, shared_data):
    work_dir = str(tmp_path / 'work')
    options = data_cfg_options(osp.join(shared_data, 'crowdpose'), 'test_crowdpose.json') + [
        'model.roi_head.keypoint_head.num_keypoints=14',
        'train_dataloader.dataset.metainfo.from_file='
        'configs/_base_/datasets/metainfo/crowdpose.py',
        'val_dataloader.dataset.metainfo.from_file='
        'configs/_base_/datasets/metainfo/crowdpose.py',
        'test_dataloader.dataset.metainfo.from_file='
        'configs/_base_/datasets/metainfo/crowdpose.py',
        'train_dataloader.dataset.ann_file=test_crowdpose.json',
        'train_dataloader.dataset.data_prefix.img=',
        'val_dataloader.dataset.ann_file=test_crowdpose.json',
        'val_dataloader.dataset.data_prefix.img=',
        'test_dataloader.dataset.ann_file=test_crowdpose.json',
        'test_dataloader.dataset.data_prefix.img=',
        'train_cfg.max_iters=1',
        'train_cfg.val_interval=1',
    ]
    prefix = str(tmp_path / 'results')
    options += [
        'model.test_cfg.rcnn.score_thr=0.0',
        f'val_evaluator.outfile_prefix={prefix}',
        # As the CrowdPose config evaluates.
        'val_evaluator.iou_types=[keypoints_crowd,bbox]',
        'val_evaluator.use_area=False'
    ]
    proc = run_tool([
        sys.executable, 'tools/train.py', TINY_POSE_CONFIG, '--work-dir', work_dir,
        '--cfg-options', *options
    ])
    output = proc.stdout + proc.stderr
    assert 'loss_keypoint' in output
    # Evaluated after the iteration under CrowdPose's protocol: the printed numbers are
    # pycocotools' with the 14 CrowdPose sigmas and 0.53 x box areas, on the results written.
    printed = printed_metrics(output)
    sigmas = load_keypoint_metainfo(CROWDPOSE_METAINFO)['sigmas']
    assert len(sigmas) == 14
    expected = pycocotools_metrics(
        osp.join(shared_data, 'crowdpose', 'test_crowdpose.json'),
        prefix,
        sigmas=sigmas,
        box_area_ratio=0.53)
    for name, value in expected.items():
        assert printed[name] == pytest.approx(value, abs=1e-4), name

    for split in ('easy', 'medium', 'hard'):
        assert f'coco/kpt_AP_{split}' in printed


@pytest.mark.slow
def test_head_k_different_from_dataset_k_is_a_clear_error(tmp_path, synthetic_root):
    printed = run_script(
        'tools/train.py',
        TINY_POSE_CONFIG,
        '--work-dir',
        str(tmp_path),
        '--cfg-options',
        'train_cfg.max_iters=1',
        'model.roi_head.keypoint_head.num_keypoints=14',
        *synthetic_cfg_options(synthetic_root),
        expect_exit=1)
    assert ('the dataset gives K=17 keypoints per person but '
            'model.roi_head.keypoint_head.num_keypoints=14') in printed


@pytest.mark.slow
def test_keypoint_rcnn_baseline_trains_and_evaluates(tmp_path, synthetic_root):
    config = osp.join(REPO_ROOT, 'configs', 'keypoint_rcnn',
                      'keypoint-rcnn_hrnet-tiny_hrfpn_1k_synthetic.py')
    prefix = str(tmp_path / 'results')
    proc = run_tool([
        sys.executable, 'tools/train.py', config, '--work-dir',
        str(tmp_path / 'work'), '--cfg-options', 'train_cfg.max_iters=3',
        'train_cfg.val_interval=3', f'randomness.seed={TEST_SEED}',
        'model.test_cfg.rcnn.score_thr=0.0', f'val_evaluator.outfile_prefix={prefix}',
        *synthetic_cfg_options(synthetic_root)
    ])
    output = proc.stdout + proc.stderr
    losses = [float(v) for v in re.findall(r'loss_keypoint: ([0-9.]+)', output)]
    # Cross-entropy over 56x56 positions: about log(3136) = 8.05 for logits that know
    # nothing, more with detectron2's Kaiming initialisation of the deconvolution that gives
    # the logits, how much more depending on the seed (measured at the first iteration:
    # 13.7 with seed 0, 33.0 with seed 1); and it falls.
    assert losses and losses[0] > np.log(56 * 56) - 0.5
    assert losses[-1] < losses[0]
    # The baseline's keypoints go through the same evaluator: pycocotools' numbers.
    printed = printed_metrics(output)
    expected = pycocotools_metrics(
        osp.join(synthetic_root, 'annotations', 'person_keypoints_val.json'), prefix)
    for name, value in expected.items():
        assert printed[name] == pytest.approx(value, abs=1e-4), name

    # The baseline's keypoint branch on the ground-truth boxes, as hrpose's can be: the two
    # branches compared on identical boxes.
    gt_prefix = str(tmp_path / 'on_gt')
    printed = run_script('tools/test.py', config, str(tmp_path / 'work'), '--work-dir',
                         str(tmp_path / 'test_gt'), '--person-boxes', 'gt', '--cfg-options',
                         f'test_evaluator.outfile_prefix={gt_prefix}',
                         *synthetic_cfg_options(synthetic_root))
    assert 'coco/person_boxes: ground-truth person boxes' in printed
    ann_file = osp.join(synthetic_root, 'annotations', 'person_keypoints_val.json')
    with open(ann_file) as f:
        labelled = [a for a in json.load(f)['annotations'] if a.get('num_keypoints', 0) > 0]
    with open(gt_prefix + '.keypoints.json') as f:
        poses = json.load(f)
    assert sorted(p['image_id'] for p in poses) == sorted(a['image_id'] for a in labelled)
    # Every person is labelled in the synthetic set: its ground-truth boxes have box AP 1.
    assert printed_metrics(printed)['coco/bbox_mAP'] == pytest.approx(1.0)
    for name, value in pycocotools_metrics(ann_file, gt_prefix).items():
        assert printed_metrics(printed)[name] == pytest.approx(value, abs=1e-4), name
