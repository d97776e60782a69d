"""Every shipped config parses, builds its model, and runs its pipelines, test settings and
evaluator on a sample."""
import glob
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from hrpose.datasets import load_keypoint_metainfo
from hrpose.registry import MODELS
from tests.helpers import REPO_ROOT

CONFIGS = sorted(
    p for p in glob.glob(osp.join(REPO_ROOT, 'configs', '*', '*.py')) if '_base_' not in p)


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.basename(p))
def test_config_builds(path):
    init_default_scope('hrpose')
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'hrpose'
    model = MODELS.build(cfg.model)
    head = model.roi_head.keypoint_head
    meta = load_keypoint_metainfo(dict(cfg.train_dataloader.dataset.metainfo))
    # The head predicts as many keypoints as the dataset has.
    assert head.num_keypoints == meta['num_keypoints']
    # The RoIAlign output feeds the head at the size it expects.
    roi_layer = cfg.model.roi_head.keypoint_roi_extractor.roi_layer
    assert tuple(roi_layer.output_size) == head.roi_feat_size


def test_all_method_configs_are_found():
    names = {osp.basename(p) for p in CONFIGS}
    assert {
        'hrpose_hrnet-w32_hrfpn_1x_coco.py', 'hrpose_hrnet-w18_hrfpn_1x_coco.py',
        'hrpose_hrnet-w48_hrfpn_1x_coco.py'
    } <= names


def point_at_sample(cfg, shared_data, synthetic_root):
    """Point a config's datasets and evaluators at a real sample (COCO or CrowdPose, by K)
    or, for the synthetic configs, at a small synthetic set; returns the annotation file."""
    if 'synthetic' in cfg.train_dataloader.dataset.data_root:
        root, ann, prefix = synthetic_root, 'annotations/person_keypoints_val.json', 'val/'
        train_ann, train_prefix = 'annotations/person_keypoints_train.json', 'train/'
    else:
        k = load_keypoint_metainfo(dict(cfg.train_dataloader.dataset.metainfo))['num_keypoints']
        folder, ann = ('coco', 'test_coco.json') if k == 17 else ('crowdpose',
                                                                  'test_crowdpose.json')
        root, prefix = osp.join(shared_data, folder), ''
        train_ann, train_prefix = ann, ''
    root = root.rstrip('/') + '/'
    for loader, ann_file, img in (('train_dataloader', train_ann, train_prefix),
                                  ('test_dataloader', ann, prefix)):
        dataset = cfg[loader].dataset
        dataset.data_root, dataset.ann_file = root, ann_file
        dataset.data_prefix = dict(img=img)
    cfg.test_evaluator.ann_file = root + ann
    return root + ann


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.basename(p))
def test_config_pipelines_model_and_evaluator_run_on_a_sample(path, shared_data, synthetic_root):
    """The training pipeline (random resize, flip, AID...), the test pipeline, the test-time
    settings (flip test, soft-NMS, OKS-NMS...) and the evaluator (COCO, CrowdPose) of every
    config, on one real image, with random weights."""
    from mmengine.dataset import pseudo_collate

    from hrpose.registry import DATASETS, METRICS
    init_default_scope('hrpose')
    cfg = Config.fromfile(path)
    ann_file = point_at_sample(cfg, shared_data, synthetic_root)
    for transform in cfg.train_dataloader.dataset.pipeline:
        if transform['type'] in ('KeypointRandomFlip', 'PersonInformationDropping'):
            transform['prob'] = 1.0  # every random transform runs once
    torch.manual_seed(0)
    np.random.seed(0)
    train_set = DATASETS.build(cfg.train_dataloader.dataset)
    sample = train_set[0]
    gt = sample['data_samples'].gt_instances
    assert gt.keypoints.shape[1:] == (len(train_set.metainfo['flip_indices']), 2)
    assert gt.keypoints.shape[0] == len(gt.bboxes) > 0

    test_cfg = cfg.test_dataloader.dataset
    for transform in test_cfg.pipeline:
        if transform['type'] == 'KeypointResize' and max(transform['scale']) > 700:
            transform['scale'] = (333, 200)  # the same transforms on a smaller image
    test_set = DATASETS.build(test_cfg)
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model).eval()
    metric = METRICS.build(cfg.test_evaluator)
    metric.dataset_meta = test_set.metainfo
    with torch.no_grad():
        results = model.test_step(pseudo_collate([test_set[0]]))
    pred = results[0].pred_instances
    assert pred.keypoints.shape == (len(pred.bboxes), test_set.metainfo['num_keypoints'], 2)
    metric.process({}, [r.to_dict() for r in results])
    metrics = metric.compute_metrics(metric.results)
    assert 0.0 <= metrics['kpt_AP'] <= 1.0 and 'bbox_mAP' in metrics
    if 'keypoints_crowd' in cfg.test_evaluator.get('iou_types', ()):
        assert {'kpt_AP_easy', 'kpt_AP_medium', 'kpt_AP_hard'} <= set(metrics)
    assert osp.isfile(ann_file)
