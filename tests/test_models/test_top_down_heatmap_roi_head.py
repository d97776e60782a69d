"""The tiny hrpose model: losses (with and without keypoint RoIs) and predictions."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from hrpose.registry import DATASETS, MODELS
from tests.conftest import TINY_POSE_CONFIG, synthetic_cfg_options


@pytest.fixture(scope='module')
def cfg(synthetic_root):
    cfg = Config.fromfile(TINY_POSE_CONFIG)
    cfg.merge_from_dict(
        dict(opt.split('=', 1) for opt in synthetic_cfg_options(synthetic_root)[:3]))
    return cfg


@pytest.fixture(scope='module')
def batch(cfg):
    init_default_scope('hrpose')
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    return dict(inputs=[dataset[i]['inputs'] for i in range(2)],
                data_samples=[dataset[i]['data_samples'] for i in range(2)])


def build_model(cfg):
    init_default_scope('hrpose')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def test_training_losses_include_a_finite_keypoint_loss(cfg, batch):
    model = build_model(cfg).train()
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    losses = model(**data, mode='loss')
    assert 'loss_keypoint' in losses
    assert torch.isfinite(losses['loss_keypoint']) and losses['loss_keypoint'] > 0
    losses['loss_keypoint'].backward()
    grad = model.roi_head.keypoint_head.final_conv.weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_batch_without_labelled_keypoints_gives_zero_loss_with_a_graph(cfg, batch):
    model = build_model(cfg).train()
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    for sample in data['data_samples']:
        sample.gt_instances.keypoints_visible.zero_()
    loss = model(**data, mode='loss')['loss_keypoint']
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert model.roi_head.keypoint_head.final_conv.weight.grad is not None


def test_predictions_carry_keypoints_in_original_image_coordinates(cfg, batch):
    model = build_model(cfg).eval()
    data = model.data_preprocessor(copy.deepcopy(batch), False)
    with torch.no_grad():
        results = model(**data, mode='predict')
    for result in results:
        pred = result.pred_instances
        n = len(pred.bboxes)
        assert pred.keypoints.shape == (n, 17, 2)
        assert pred.keypoint_scores.shape == (n, 17)
        if n:
            # Keypoints lie inside the expanded RoIs of their boxes.
            rois = model.roi_head.codec.expand_rois(pred.bboxes)
            assert torch.all(pred.keypoints[..., 0] >= rois[:, None, 0] - 1.0)
            assert torch.all(pred.keypoints[..., 0] <= rois[:, None, 2] + 1.0)
