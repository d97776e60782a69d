"""The Keypoint R-CNN baseline decodes as detectron2 does, so comparisons are fair."""
import torch
import torch.nn.functional as F

from hrpose.codecs import OneHotHeatmap


def detectron2_heatmaps_to_keypoints(maps: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
    """Transcription of detectron2's ``heatmaps_to_keypoints``
    (detectron2/modeling/roi_heads/keypoint_head.py): per RoI, bicubic resize of the logits
    to the RoI's size rounded up, argmax, pixel centre (+0.5) rescaled by size / rounded
    size; returns (R, K, 4) as x, y, logit, score."""
    offset_x, offset_y = rois[:, 0], rois[:, 1]
    widths = (rois[:, 2] - rois[:, 0]).clamp(min=1)
    heights = (rois[:, 3] - rois[:, 1]).clamp(min=1)
    widths_ceil, heights_ceil = widths.ceil(), heights.ceil()
    num_rois, num_keypoints = maps.shape[:2]
    xy_preds = maps.new_zeros(rois.shape[0], num_keypoints, 4)
    width_corrections = widths / widths_ceil
    height_corrections = heights / heights_ceil
    keypoints_idx = torch.arange(num_keypoints, device=maps.device)
    for i in range(num_rois):
        outsize = (int(heights_ceil[i]), int(widths_ceil[i]))
        roi_map = F.interpolate(maps[[i]], size=outsize, mode='bicubic', align_corners=False)
        roi_map = roi_map.reshape(roi_map.shape[1:])
        max_score, _ = roi_map.view(num_keypoints, -1).max(1)
        max_score = max_score.view(num_keypoints, 1, 1)
        tmp_full_resolution = (roi_map - max_score).exp_()
        tmp_pool_resolution = (maps[i] - max_score).exp_()
        roi_map_scores = tmp_full_resolution / tmp_pool_resolution.sum((1, 2), keepdim=True)
        w = roi_map.shape[2]
        pos = roi_map.view(num_keypoints, -1).argmax(1)
        x_int = pos % w
        y_int = (pos - x_int) // w
        x = (x_int.float() + 0.5) * width_corrections[i]
        y = (y_int.float() + 0.5) * height_corrections[i]
        xy_preds[i, :, 0] = x + offset_x[i]
        xy_preds[i, :, 1] = y + offset_y[i]
        xy_preds[i, :, 2] = roi_map[keypoints_idx, y_int, x_int]
        xy_preds[i, :, 3] = roi_map_scores[keypoints_idx, y_int, x_int]
    return xy_preds


def test_one_hot_decode_equals_detectron2():
    gen = torch.Generator().manual_seed(0)
    # Boxes of fractional sizes, two sharing a rounded-up size (decoded together), one
    # smaller than the 56x56 map.
    rois = torch.tensor([[10.2, 20.7, 80.9, 190.1], [300.0, 40.5, 370.3, 209.9],
                         [5.0, 5.0, 45.6, 38.2], [100.0, 100.0, 221.0, 420.0]])
    logits = torch.randn(4, 17, 56, 56, generator=gen) * 3
    keypoints, scores = OneHotHeatmap().decode(logits, rois)
    reference = detectron2_heatmaps_to_keypoints(logits, rois)
    torch.testing.assert_close(keypoints, reference[..., :2], atol=1e-4, rtol=0)
    torch.testing.assert_close(scores, reference[..., 3], atol=1e-6, rtol=1e-5)
    assert (scores > 0).all() and not torch.allclose(scores, reference[..., 2])  # not logits


def test_one_hot_decode_of_no_rois():
    keypoints, scores = OneHotHeatmap().decode(torch.zeros(0, 17, 56, 56), torch.zeros(0, 4))
    assert keypoints.shape == (0, 17, 2) and scores.shape == (0, 17)
