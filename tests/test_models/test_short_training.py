"""Each codec learns at once: the keypoint loss of the tiny config falls well below the loss of
predicting all-zero heatmaps (what an untrained head outputs), on the same batches, within
the warm-up and 30 iterations at the full learning rate.

The heatmap loss has weight 1000 so that, at initialisation, it outweighs the box losses.
At the end of the 50-iteration warm-up alone the fall depended on the seed (last 10
iterations at 0.64-0.95 of the first 5 over seeds 0-5 and the four codecs), too close to
any bound; 30 iterations more leave it clear (see the closing assertion).
"""
import copy

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from hrpose.models.roi_heads.heatmap_keypoint_head import HeatmapKeypointHead
from tests.helpers import TEST_SEED, TINY_POSE_CONFIG, codec_config, synthetic_cfg_dict

WARMUP_ITERS = 50
TRAIN_ITERS = WARMUP_ITERS + 30


@pytest.fixture
def record_zero_level(monkeypatch):
    """Records (loss, loss of all-zero heatmaps) of every training step of the branch."""
    records = []
    original = HeatmapKeypointHead.loss_and_target

    def loss_and_target(self, heatmaps, *args, **kwargs):
        out = original(self, heatmaps, *args, **kwargs)
        with torch.no_grad():
            zero = self.loss_keypoint(
                torch.zeros_like(heatmaps), out['keypoint_targets'], out['keypoint_weights'])
        records.append((float(out['loss_keypoint'].detach()), float(zero)))
        return out

    monkeypatch.setattr(HeatmapKeypointHead, 'loss_and_target', loss_and_target)
    return records


@pytest.mark.parametrize(
    'codec, loss',
    [
        ('MSRAHeatmap', 'KeypointMSELoss'),
        # DARK's targets are MSRA's Gaussians at unrounded centres, and UDP learns in the overfit
        # run of `make test`: both short runs go to `make test-full` (the coordinate oracle checks
        # their encoding and decoding in `make test`).
        pytest.param('DARKHeatmap', 'KeypointMSELoss', marks=pytest.mark.full),
        pytest.param('UDPHeatmap', 'KeypointMSELoss', marks=pytest.mark.full),
        ('UDPCombinedHeatmap', 'CombinedTargetMSELoss'),
    ])
def test_keypoint_loss_falls_below_the_all_zero_level_within_80_iterations(
        tmp_path, synthetic_root, record_zero_level, codec, loss):
    cfg = Config.fromfile(TINY_POSE_CONFIG)
    options = synthetic_cfg_dict(synthetic_root)
    options.update({
        'train_cfg.max_iters':
        TRAIN_ITERS,
        'val_cfg':
        None,
        'val_dataloader':
        None,
        'randomness.seed':
        TEST_SEED,
        'val_evaluator':
        None,
        'default_hooks.checkpoint.interval':
        TRAIN_ITERS + 1,
        'default_hooks.logger.interval':
        10,
        'model.roi_head.keypoint_head.codec':
        dict(_delete_=True, **codec_config(codec, cfg.model.roi_head.keypoint_head.codec)),
        'model.roi_head.keypoint_head.loss_keypoint':
        dict(_delete_=True, type=loss, loss_weight=1000.0),
    })
    cfg.merge_from_dict(options)
    assert cfg.train_dataloader.dataset.pipeline[2]['type'] == 'KeypointResize'
    assert cfg.param_scheduler[0]['end'] == WARMUP_ITERS  # the tiny config's warm-up
    cfg.work_dir = str(tmp_path)
    runner = Runner.from_cfg(copy.deepcopy(cfg))
    runner.train()
    records = np.asarray(record_zero_level)
    assert len(records) == TRAIN_ITERS
    ratio = records[:, 0] / records[:, 1]
    first, last = ratio[:5].mean(), ratio[-10:].mean()
    print(f'{codec}: keypoint loss / all-zero level, first 5 iterations {first:.2f}, '
          f'last 10 of {TRAIN_ITERS} {last:.2f} (all-zero level {records[-10:, 1].mean():.2f})')
    assert first > 0.9  # at initialisation the head predicts about zero
    # Measured over seeds 0-5 (HRPOSE_TEST_SEED, one thread), all four codecs: 0.50-0.75 of
    # the all-zero level in the last 10 of 80 iterations, from 1.00-1.16; the last at most
    # 0.71 of the first (at the end of the warm-up alone: up to 0.95).
    assert last < 0.92 * first
