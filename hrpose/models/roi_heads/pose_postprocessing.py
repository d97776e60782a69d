"""Test-time pose tricks as small batched functions: rescoring, OKS and OKS-NMS (flipping
heatmaps back is each codec's :meth:`flip_back`)."""
from typing import Optional

import numpy as np
import torch
from torch import Tensor


def rescore_instances(box_scores: Tensor, keypoint_scores: Tensor,
                      keypoint_score_thr: float) -> Tensor:
    """Instance score = box score x mean of the keypoint scores above the threshold (0
    where none is), as top-down methods rescore their persons.

    Args:
        box_scores: (N, ) detection scores.
        keypoint_scores: (N, K) heatmap maxima.
        keypoint_score_thr: keypoints scoring at or below it are left out of the mean.

    Returns:
        Tensor: (N, ) rescored instances.
    """
    confident = (keypoint_scores > keypoint_score_thr).to(keypoint_scores.dtype)
    count = confident.sum(dim=1)
    mean = (keypoint_scores * confident).sum(dim=1) / count.clamp(min=1)
    return box_scores * torch.where(count > 0, mean, torch.zeros_like(mean))


def keypoint_oks(keypoints: Tensor,
                 other: Tensor,
                 areas: Tensor,
                 sigmas: Tensor,
                 other_areas: Optional[Tensor] = None) -> Tensor:
    """Object keypoint similarity of every pose in ``keypoints`` with every one in ``other``.

    ``OKS = mean_k exp(-d_k^2 / (2 s^2 (2 sigma_k)^2))`` over all K keypoints, as mmpose's
    ``oks_iou`` computes it for OKS-NMS: ``s^2`` is the mean of the two poses' areas
    (``areas`` alone when ``other_areas`` is not given).

    Args:
        keypoints: (N, K, 2).
        other: (M, K, 2).
        areas: (N, ) areas of ``keypoints`` (mmpose: the area of the expanded top-down box).
        sigmas: (K, ) per-keypoint sigmas of the dataset.
        other_areas: optional (M, ) areas of ``other``.

    Returns:
        Tensor: (N, M) similarities in [0, 1].
    """
    if sigmas.numel() != keypoints.shape[1]:
        raise ValueError(f'{sigmas.numel()} sigmas for poses with K={keypoints.shape[1]}')
    variances = (2 * sigmas)**2
    squared = ((keypoints[:, None] - other[None])**2).sum(-1)  # (N, M, K)
    scale = areas[:, None] if other_areas is None else (areas[:, None] + other_areas[None]) / 2
    e = squared / (2 * (scale[..., None] + torch.finfo(squared.dtype).eps) * variances)
    return torch.exp(-e).mean(-1)


def oks_nms(keypoints: Tensor,
            scores: Tensor,
            areas: Tensor,
            sigmas: Tensor,
            iou_threshold: float = 0.9,
            soft: bool = False,
            max_dets: Optional[int] = None) -> Tensor:
    """OKS-NMS of one image's poses, as mmpose's ``oks_nms`` and ``soft_oks_nms``.

    Hard: keep the best remaining pose, drop every pose whose OKS with it is above
    ``iou_threshold``, repeat. Soft: keep the best, multiply every remaining pose's running
    score by ``exp(-OKS^2 / iou_threshold)``, re-sort, repeat until ``max_dets`` are kept;
    the running scores only order the poses (the kept poses keep their own scores, as in
    mmpose's metric). The (N, N) OKS matrix is computed in one batched call (pairs use the
    mean of their areas), copied to the host once, and the greedy pass runs there: no
    device synchronisation per kept pose.

    Args:
        keypoints: (N, K, 2) poses.
        scores: (N, ) their scores.
        areas: (N, ) their areas (the expanded RoIs', as mmpose uses its boxes' scales).
        sigmas: (K, ) dataset sigmas.
        iou_threshold: the OKS above which a pose is suppressed (hard), or the width of the
            decay (soft).
        soft: soft OKS-NMS.
        max_dets: the most poses kept (None: all; mmpose's soft variant keeps 20).

    Returns:
        Tensor: kept indices (L, ) into the input, in the order they were kept.
    """
    num = len(scores)
    if num == 0:
        return scores.new_zeros(0, dtype=torch.long)
    oks = keypoint_oks(keypoints, keypoints, areas, sigmas, other_areas=areas)
    # One transfer of the matrix and the scores; the loop below only touches host memory.
    oks_host = oks.detach().cpu().double().numpy()
    running = scores.detach().cpu().double().numpy()
    remaining = np.ones(num, dtype=bool)
    limit = num if max_dets is None else min(num, max_dets)
    keep = []
    while len(keep) < limit and remaining.any():
        best = int(np.argmax(np.where(remaining, running, -np.inf)))
        keep.append(best)
        remaining[best] = False
        overlap = oks_host[best]
        if soft:
            running = np.where(remaining, running * np.exp(-overlap**2 / iou_threshold), running)
        else:
            remaining &= overlap <= iou_threshold
    return torch.as_tensor(keep, dtype=torch.long).to(scores.device)


def postprocess_poses(results, img_meta: dict, test_cfg: dict):
    """One image's box detections with their poses -> the poses that are evaluated.

    As mmpose's top-down protocol and COCO's keypoint evaluation: every detection is
    rescored (``rescore``), OKS-NMS runs over all of them (``oks_nms``), and the
    ``max_poses_per_img`` (default 20, COCOeval's maxDets for keypoints) best by the final
    score are kept, best first. The box detections themselves are not changed.

    Args:
        results (InstanceData): ``bboxes`` (N, 4), ``scores`` (N,), ``keypoints``
            (N, K, 2), ``keypoint_scores`` (N, K) and ``keypoint_rois`` (N, 4, the expanded
            boxes the keypoints were decoded in, which give each pose's area), all in one
            image's coordinates.
        img_meta: the image's metainfo (``keypoint_sigmas`` for OKS-NMS).
        test_cfg: ``rescore``, ``keypoint_score_thr`` (default 0.2), ``oks_nms``,
            ``max_poses_per_img``.

    Returns:
        InstanceData: the poses kept (L <= max_poses_per_img), best first, rescored, without
        ``keypoint_rois``.
    """
    poses = results.clone()
    rois = poses.pop('keypoint_rois')
    if test_cfg.get('rescore', False):
        poses.scores = rescore_instances(poses.scores, poses.keypoint_scores,
                                         test_cfg.get('keypoint_score_thr', 0.2))
    max_poses = test_cfg.get('max_poses_per_img', 20)
    nms_cfg = test_cfg.get('oks_nms')
    if nms_cfg and len(poses) > 1:
        sigmas = img_meta.get('keypoint_sigmas', nms_cfg.get('sigmas'))
        if sigmas is None:
            raise KeyError('OKS-NMS: no keypoint_sigmas in the image metainfo (pack them '
                           'with PackKeypointDetInputs) nor in test_cfg.oks_nms.sigmas')
        # The pose area as mmpose's OKS-NMS takes it: the expanded (top-down) box's.
        areas = (rois[:, 2] - rois[:, 0]) * (rois[:, 3] - rois[:, 1])
        soft = nms_cfg.get('soft', False)
        keep = oks_nms(
            poses.keypoints,
            poses.scores,
            areas,
            poses.keypoints.new_tensor(sigmas),
            iou_threshold=nms_cfg.get('iou_threshold', 0.9),
            soft=soft,
            max_dets=max_poses if soft else None)
        poses = poses[keep]
    # COCOeval's order: by score, stable.
    order = torch.sort(poses.scores, descending=True, stable=True)[1]
    if max_poses is not None:
        order = order[:max_poses]
    return poses[order]


def describe_test_protocol(rcnn_test_cfg: dict) -> str:
    """One line on what turns box detections into box and pose results, for the logs: flip
    test, rescoring, OKS-NMS, the caps. ``rcnn_test_cfg``: ``model.test_cfg.rcnn``."""
    cfg = rcnn_test_cfg or {}
    nms_cfg = cfg.get('oks_nms')
    if nms_cfg:
        kind = 'soft OKS-NMS (decay exp(-oks^2/thr))' if nms_cfg.get('soft') else 'OKS-NMS'
        nms = f'{kind}, thr {nms_cfg.get("iou_threshold", 0.9)}'
    else:
        nms = 'no OKS-NMS'
    rescore = (f'rescored (box score x mean keypoint score above '
               f'{cfg.get("keypoint_score_thr", 0.2)})'
               if cfg.get('rescore') else 'box scores (no rescoring)')
    box_nms = (cfg.get('nms') or {}).get('type', 'nms')
    return (f'box results: up to {cfg.get("max_per_img", 100)} per image after {box_nms}; '
            f'pose results: flip test {"on" if cfg.get("flip_test") else "off"}, {rescore}, '
            f'{nms}, then the {cfg.get("max_poses_per_img", 20)} best per image')
