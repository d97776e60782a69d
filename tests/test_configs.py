"""Every shipped config parses and builds its model and its datasets' metainfo."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from hrpose.datasets import load_keypoint_metainfo
from hrpose.registry import MODELS
from tests.conftest import REPO_ROOT

CONFIGS = sorted(
    p for p in glob.glob(osp.join(REPO_ROOT, 'configs', '*', '*.py'))
    if '_base_' not in p)


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
    assert {'hrpose_hrnet-w32_hrfpn_1x_coco.py', 'hrpose_hrnet-w18_hrfpn_1x_coco.py',
            'hrpose_hrnet-w48_hrfpn_1x_coco.py'} <= names
