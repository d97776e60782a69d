"""mmcv's compiled ops, as tools/install/install.sh builds them, against hand-computed values
(CPU)."""
import math

import pytest
import torch
from mmcv.ops import RoIAlign, nms, soft_nms

# Two boxes that overlap with IoU 81 / 119 (intersection 9x9, union 100 + 100 - 81) and a
# third one far away.
BOXES = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [20., 20., 30., 30.]])
SCORES = torch.tensor([0.9, 0.8, 0.7])
IOU_01 = 81.0 / 119.0


def test_roi_align_matches_bilinear_samples_of_a_linear_ramp():
    # f(x, y) = x + 4y on a 4x4 map: bilinear interpolation is exact on a linear function,
    # so every sample equals the ramp at the sample point.
    feature = torch.arange(16, dtype=torch.float32).reshape(1, 1, 4, 4)
    rois = torch.tensor([[0., 0., 0., 4., 4.], [0., 1., 1., 3., 2.]])
    pooled = RoIAlign(
        output_size=(2, 2), spatial_scale=1.0, sampling_ratio=1, aligned=True)(feature, rois)
    assert pooled.shape == (2, 1, 2, 2)
    # aligned=True shifts boxes by -0.5 px (pixel centres at integers). Box 0 becomes
    # [-0.5, 3.5]^2 with 2 px bins, sampled at 0.5 and 2.5 on each axis.
    expected0 = torch.tensor([[0.5 + 4 * 0.5, 2.5 + 4 * 0.5], [0.5 + 4 * 2.5, 2.5 + 4 * 2.5]])
    # Box 1 becomes x in [0.5, 2.5], y in [0.5, 1.5]: bin centres x 1.0, 2.0 and y 0.75, 1.25.
    expected1 = torch.tensor([[1.0 + 4 * 0.75, 2.0 + 4 * 0.75], [1.0 + 4 * 1.25, 2.0 + 4 * 1.25]])
    torch.testing.assert_close(pooled[0, 0], expected0)
    torch.testing.assert_close(pooled[1, 0], expected1)


def test_roi_align_backward_spreads_gradient_over_the_sampled_pixels():
    feature = torch.zeros(1, 1, 4, 4, requires_grad=True)
    rois = torch.tensor([[0., 1., 1., 2., 2.]])  # aligned: one sample at (1.0, 1.0)
    RoIAlign(1, 1.0, sampling_ratio=1, aligned=True)(feature, rois).sum().backward()
    expected = torch.zeros(4, 4)
    expected[1, 1] = 1.0
    torch.testing.assert_close(feature.grad[0, 0], expected)


def test_nms_drops_the_overlapping_lower_score_box():
    dets, keep = nms(BOXES, SCORES, iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    torch.testing.assert_close(dets[:, 4], torch.tensor([0.9, 0.7]))
    # Above the IoU of the pair, both are kept.
    _, keep = nms(BOXES, SCORES, iou_threshold=0.7)
    assert keep.tolist() == [0, 1, 2]


@pytest.mark.parametrize(
    'method, expected_score',
    [
        ('linear', 0.8 * (1 - IOU_01)),  # s * (1 - IoU) above the threshold
        ('gaussian', 0.8 * math.exp(-IOU_01**2 / 0.5)),  # s * exp(-IoU^2 / sigma)
    ])
def test_soft_nms_decays_instead_of_dropping(method, expected_score):
    dets, keep = soft_nms(
        BOXES, SCORES, iou_threshold=0.3, sigma=0.5, min_score=1e-3, method=method)
    assert keep.tolist() == [0, 2, 1]
    torch.testing.assert_close(
        dets[:, 4], torch.tensor([0.9, 0.7, expected_score]), atol=1e-5, rtol=0)
