"""Flip-back, rescoring, OKS, OKS-NMS and soft-NMS of boxes."""
import pytest
import torch
from mmdet.models.layers import multiclass_nms

from hrpose.codecs import MSRAHeatmap
from hrpose.models.roi_heads.pose_postprocessing import keypoint_oks, oks_nms, rescore_instances

COCO_FLIP = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
COCO_SIGMAS = torch.tensor([
    .026, .025, .025, .035, .035, .079, .079, .072, .072, .062, .062, .107, .107, .087, .087,
    .089, .089
])


def test_flipping_back_twice_is_the_identity():
    heatmaps = torch.rand(4, 17, 64, 48, generator=torch.Generator().manual_seed(0))
    codec = MSRAHeatmap()
    twice = codec.flip_back(codec.flip_back(heatmaps, COCO_FLIP), COCO_FLIP)
    torch.testing.assert_close(twice, heatmaps)
    with pytest.raises(ValueError, match='17 channels'):
        codec.flip_back(heatmaps, COCO_FLIP[:14])


def test_rescoring_multiplies_by_the_mean_confident_keypoint_score():
    box_scores = torch.tensor([0.9, 0.8, 0.5])
    keypoint_scores = torch.tensor([[0.9, 0.7, 0.1], [0.1, 0.15, 0.05], [0.3, 0.5, 0.4]])
    rescored = rescore_instances(box_scores, keypoint_scores, keypoint_score_thr=0.2)
    torch.testing.assert_close(rescored, torch.tensor([0.9 * 0.8, 0.0, 0.5 * 0.4]))


def test_oks_of_identical_poses_is_one_and_falls_with_distance():
    pose = torch.rand(1, 17, 2, generator=torch.Generator().manual_seed(2)) * 100
    area = torch.tensor([100. * 200.])
    assert keypoint_oks(pose, pose, area, COCO_SIGMAS).item() == pytest.approx(1.0)
    shifted = keypoint_oks(pose, pose + 5, area, COCO_SIGMAS).item()
    further = keypoint_oks(pose, pose + 15, area, COCO_SIGMAS).item()
    assert 1.0 > shifted > further > 0.0


def make_poses():
    gen = torch.Generator().manual_seed(3)
    person = torch.rand(17, 2, generator=gen) * torch.tensor([100., 200.]) + 50
    duplicate = person + 1.0  # the same person found twice
    other = person + torch.tensor([300., 0.])  # a distinct person
    keypoints = torch.stack([person, duplicate, other])
    scores = torch.tensor([0.9, 0.8, 0.7])
    areas = torch.full((3, ), 100. * 200.)
    return keypoints, scores, areas


def test_oks_nms_removes_a_duplicate_and_keeps_a_distinct_pose():
    keypoints, scores, areas = make_poses()
    keep, kept_scores = oks_nms(keypoints, scores, areas, COCO_SIGMAS, iou_threshold=0.9)
    assert keep.tolist() == [0, 2]
    torch.testing.assert_close(kept_scores, torch.tensor([0.9, 0.7]))


def test_soft_oks_nms_decays_the_duplicate():
    keypoints, scores, areas = make_poses()
    keep, kept_scores = oks_nms(keypoints, scores, areas, COCO_SIGMAS, iou_threshold=0.5,
                                soft=True, sigma=0.3)
    assert keep.tolist() == [0, 2, 1]
    oks = keypoint_oks(keypoints[:1], keypoints[1:2], areas[:1], COCO_SIGMAS).item()
    decayed = 0.8 * torch.exp(torch.tensor(-oks**2 / 0.3)).item()
    assert kept_scores[2].item() == pytest.approx(decayed, rel=1e-5)


def test_soft_nms_keeps_overlapping_people_that_hard_nms_drops():
    # Two people standing close: their boxes overlap with IoU 80 / 120 = 2/3.
    boxes = torch.tensor([[100., 100., 200., 400.], [120., 100., 220., 400.]])
    scores = torch.tensor([[0.95, 0.05], [0.85, 0.15]])  # (N, classes + background)
    hard, _ = multiclass_nms(boxes, scores, 0.05, dict(type='nms', iou_threshold=0.5), 100)
    soft, _ = multiclass_nms(boxes, scores, 0.05,
                             dict(type='soft_nms', iou_threshold=0.5, min_score=0.05), 100)
    assert len(hard) == 1
    assert len(soft) == 2 and soft[1, 4] < 0.85  # kept, with a decayed score
