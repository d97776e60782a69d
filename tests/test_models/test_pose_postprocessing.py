"""Flip-back, rescoring, OKS, OKS-NMS and soft-NMS of boxes."""
import numpy as np
import pytest
import torch
from mmdet.models.layers import multiclass_nms
from mmengine.structures import InstanceData

from hrpose.codecs import MSRAHeatmap
from hrpose.models.roi_heads.pose_postprocessing import (describe_test_protocol, keypoint_oks,
                                                         oks_nms, postprocess_poses,
                                                         rescore_instances)
from tests.reference import mmpose_pose_nms

COCO_FLIP = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
COCO_SIGMAS = torch.tensor([
    .026, .025, .025, .035, .035, .079, .079, .072, .072, .062, .062, .107, .107, .087, .087, .089,
    .089
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
    expected = mmpose_pose_nms.rescore(box_scores.numpy(), keypoint_scores.numpy(), 0.2)
    np.testing.assert_allclose(rescored.numpy(), expected, rtol=1e-6)


def test_oks_matches_mmpose_oks_iou():
    gen = torch.Generator().manual_seed(4)
    poses = torch.rand(6, 17, 2, generator=gen) * 80
    areas = torch.rand(6, generator=gen) * 5000 + 500
    ours = keypoint_oks(poses, poses, areas, COCO_SIGMAS, other_areas=areas)
    for i in range(6):
        expected = mmpose_pose_nms.oks_iou(poses[i].numpy(), poses.numpy(), areas[i].item(),
                                           areas.numpy(), COCO_SIGMAS.numpy())
        np.testing.assert_allclose(ours[i].numpy(), expected, rtol=1e-5)


def test_the_protocol_line_names_every_step():
    line = describe_test_protocol(
        dict(
            flip_test=True,
            rescore=True,
            max_per_img=100,
            oks_nms=dict(iou_threshold=0.9, soft=False)))
    assert line == ('box results: up to 100 per image after nms; pose results: flip test on, '
                    'rescored (box score x mean keypoint score above 0.2), OKS-NMS, thr 0.9, '
                    'then the 20 best per image')


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
    keep = oks_nms(keypoints, scores, areas, COCO_SIGMAS, iou_threshold=0.9)
    assert keep.tolist() == [0, 2]


def test_soft_oks_nms_reorders_by_the_decayed_scores_as_mmpose():
    """mmpose's soft_oks_nms decays every remaining pose by exp(-oks^2 / thr), whatever its
    OKS, and only orders the poses: the duplicate (0.8, decayed) goes after the distinct
    pose (0.7, barely decayed)."""
    keypoints, scores, areas = make_poses()
    keep = oks_nms(keypoints, scores, areas, COCO_SIGMAS, iou_threshold=0.9, soft=True)
    expected = mmpose_pose_nms.soft_oks_nms(
        keypoints.numpy(), scores.numpy(), areas.numpy(), COCO_SIGMAS.numpy(), thr=0.9)
    assert keep.tolist() == expected.tolist() == [0, 2, 1]
    assert oks_nms(keypoints, scores, areas, COCO_SIGMAS, soft=True, max_dets=2).tolist() == \
        [0, 2]


def crowd(seed: int, num: int = 25):
    """One image of ``num`` persons, several found twice, whose rescored order differs from
    their box order: box scores, keypoint scores, poses, boxes."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.rand(num, 2, generator=gen) * torch.tensor([900., 500.]) + 50
    sizes = torch.rand(num, 2, generator=gen) * torch.tensor([60., 120.]) + 40
    # every fourth detection duplicates the one before it, shifted by a few pixels
    for i in range(3, num, 4):
        centres[i] = centres[i - 1] + torch.rand(2, generator=gen) * 6
        sizes[i] = sizes[i - 1]
    boxes = torch.cat([centres - sizes / 2, centres + sizes / 2], dim=1)
    layout = torch.rand(17, 2, generator=gen) - 0.5
    poses = centres[:, None] + layout * sizes[:, None] + torch.randn(num, 17, 2, generator=gen)
    box_scores = torch.rand(num, generator=gen) * 0.5 + 0.5
    keypoint_scores = torch.rand(num, 17, generator=gen)
    # the five best boxes hold uncertain poses (keypoint scores just above the threshold,
    # all distinct): rescoring ranks them last
    best = torch.argsort(box_scores, descending=True)[:5]
    keypoint_scores[best] = 0.21 + 0.02 * torch.rand(5, 17, generator=gen)
    return box_scores, keypoint_scores, poses, boxes


@pytest.mark.parametrize('nms', ['oks', 'soft', None])
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_25_persons_keep_the_poses_mmpose_keeps(nms, seed):
    """Rescoring and OKS-NMS over all 25 detections, then the 20 best by final score: the
    persons and order mmpose's metric and COCOeval keep. (Capping 20 by box score first
    would drop persons that rescoring ranks in the top 20.)"""
    box_scores, keypoint_scores, poses, boxes = crowd(seed)
    codec = MSRAHeatmap()
    rois = codec.expand_rois(boxes)
    results = InstanceData(
        bboxes=boxes,
        scores=box_scores,
        labels=torch.zeros(25).long(),
        keypoints=poses,
        keypoint_scores=keypoint_scores,
        keypoint_rois=rois)
    test_cfg = dict(rescore=True, keypoint_score_thr=0.2, max_poses_per_img=20)
    if nms:
        test_cfg['oks_nms'] = dict(iou_threshold=0.9, soft=nms == 'soft')
    kept = postprocess_poses(results, dict(keypoint_sigmas=COCO_SIGMAS.tolist()), test_cfg)
    assert 'keypoint_rois' not in kept and 'keypoint_rois' in results
    areas = ((rois[:, 2] - rois[:, 0]) * (rois[:, 3] - rois[:, 1])).numpy()
    index, scores = mmpose_pose_nms.evaluated_poses(
        box_scores.numpy(),
        keypoint_scores.numpy(),
        poses.numpy(),
        areas,
        COCO_SIGMAS.numpy(),
        nms=nms,
        thr=0.9)
    np.testing.assert_allclose(kept.scores.numpy(), scores, rtol=1e-6)
    np.testing.assert_allclose(kept.bboxes.numpy(), boxes.numpy()[index])
    # the case the protocol is about: a person outside the top 20 by box score is kept
    top20_by_box = set(torch.argsort(box_scores, descending=True)[:20].tolist())
    assert set(index.tolist()) - top20_by_box
    # the box detections themselves are untouched
    assert torch.equal(results.scores, box_scores) and len(results) == 25


def test_soft_nms_keeps_overlapping_people_that_hard_nms_drops():
    # Two people standing close: their boxes overlap with IoU 80 / 120 = 2/3.
    boxes = torch.tensor([[100., 100., 200., 400.], [120., 100., 220., 400.]])
    scores = torch.tensor([[0.95, 0.05], [0.85, 0.15]])  # (N, classes + background)
    hard, _ = multiclass_nms(boxes, scores, 0.05, dict(type='nms', iou_threshold=0.5), 100)
    soft, _ = multiclass_nms(boxes, scores, 0.05,
                             dict(type='soft_nms', iou_threshold=0.5, min_score=0.05), 100)
    assert len(hard) == 1
    assert len(soft) == 2 and soft[1, 4] < 0.85  # kept, with a decayed score
