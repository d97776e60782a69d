"""A pretrained HRNet checkpoint that cannot be loaded gives a message naming the file."""
import os.path as osp

import pytest
import torch
from mmdet.models.backbones import HRNet as MMDetHRNet
from mmengine.registry import init_default_scope

from hrpose.models import HRNetWithWeightCheck, pretrained_weights_location
from hrpose.registry import MODELS

TINY_EXTRA = dict(
    stage1=dict(
        num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(1, ), num_channels=(8, )),
    stage2=dict(
        num_modules=1, num_branches=2, block='BASIC', num_blocks=(1, 1), num_channels=(4, 8)),
    stage3=dict(
        num_modules=1,
        num_branches=3,
        block='BASIC',
        num_blocks=(1, 1, 1),
        num_channels=(4, 8, 16)),
    stage4=dict(
        num_modules=1,
        num_branches=4,
        block='BASIC',
        num_blocks=(1, 1, 1, 1),
        num_channels=(4, 8, 16, 32)))


def test_hrnet_wrapper_has_a_name_of_its_own_and_mmdet_hrnet_stays_mmdet_s():
    init_default_scope('hrpose')
    assert MODELS.get('HRNetWithWeightCheck') is HRNetWithWeightCheck
    assert MODELS.get('HRNet') is MMDetHRNet  # no silent replacement in hrpose's scope
    assert MODELS.get('mmdet.HRNet') is MMDetHRNet


def test_openmmlab_name_maps_to_url_and_hub_path():
    url, path = pretrained_weights_location('open-mmlab://msra/hrnetv2_w32')
    assert url.endswith('/hrnetv2_w32-dc9eeb4f.pth') and url.startswith('https://')
    assert path == osp.join(torch.hub.get_dir(), 'checkpoints', 'hrnetv2_w32-dc9eeb4f.pth')


def test_unloadable_checkpoint_says_where_to_put_the_file(tmp_path):
    missing = str(tmp_path / 'hrnetv2_w32.pth')
    backbone = HRNetWithWeightCheck(
        extra=TINY_EXTRA, init_cfg=dict(type='Pretrained', checkpoint=missing))
    with pytest.raises(RuntimeError) as err:
        backbone.init_weights()
    message = str(err.value)
    assert missing in message and 'model.backbone.init_cfg=None' in message


def test_random_init_needs_no_file():
    backbone = HRNetWithWeightCheck(extra=TINY_EXTRA)
    backbone.init_weights()
    outs = backbone(torch.zeros(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [4, 8, 16, 32]
