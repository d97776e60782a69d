"""The Keypoint R-CNN baseline decodes as detectron2 does, so comparisons are fair."""
import torch

from hrpose.codecs import OneHotHeatmap
from tests.reference.detectron2_keypoints import heatmaps_to_keypoints


def test_one_hot_decode_equals_detectron2():
    gen = torch.Generator().manual_seed(0)
    # Boxes of fractional sizes, two sharing a rounded-up size (decoded together), one
    # smaller than the 56x56 map.
    rois = torch.tensor([[10.2, 20.7, 80.9, 190.1], [300.0, 40.5, 370.3, 209.9],
                         [5.0, 5.0, 45.6, 38.2], [100.0, 100.0, 221.0, 420.0]])
    logits = torch.randn(4, 17, 56, 56, generator=gen) * 3
    keypoints, scores = OneHotHeatmap().decode(logits, rois)
    reference = torch.from_numpy(heatmaps_to_keypoints(logits, rois))
    torch.testing.assert_close(keypoints, reference[..., :2], atol=1e-4, rtol=0)
    torch.testing.assert_close(scores, reference[..., 3], atol=1e-6, rtol=1e-5)
    assert (scores > 0).all() and not torch.allclose(scores, reference[..., 2])  # not logits


def test_one_hot_decode_of_no_rois():
    keypoints, scores = OneHotHeatmap().decode(torch.zeros(0, 17, 56, 56), torch.zeros(0, 4))
    assert keypoints.shape == (0, 17, 2) and scores.shape == (0, 17)
