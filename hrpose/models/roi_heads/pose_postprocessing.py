"""Test-time pose tricks as small batched functions: rescoring, OKS and OKS-NMS (flipping
heatmaps back is each codec's :meth:`flip_back`)."""
from typing import Optional, Tuple

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


def keypoint_oks(keypoints: Tensor, other: Tensor, areas: Tensor, sigmas: Tensor,
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


def oks_nms(keypoints: Tensor, scores: Tensor, areas: Tensor, sigmas: Tensor,
            iou_threshold: float = 0.9, soft: bool = False, sigma: float = 0.3,
            min_score: float = 0.0) -> Tuple[Tensor, Tensor]:
    """Suppress duplicate poses by OKS; the soft variant decays scores instead.

    The (N, N) OKS matrix is computed in one batched call (pairs use the mean of their
    areas, as mmpose's ``oks_nms``), copied to the host once, and the greedy pass runs
    there: no device synchronisation per kept pose.

    Args:
        keypoints: (N, K, 2) poses.
        scores: (N, ) their scores.
        areas: (N, ) their areas (the expanded RoIs', as mmpose uses its boxes' scales).
        sigmas: (K, ) dataset sigmas.
        iou_threshold: poses with OKS above it to a kept pose are suppressed (hard), or
            decayed by ``exp(-OKS^2 / sigma)`` (soft).
        soft: soft-OKS-NMS.
        sigma: decay width of the soft variant.
        min_score: with ``soft``, poses whose score falls below it are dropped.

    Returns:
        tuple: kept indices (L, ) into the input, best first, and their (possibly decayed)
        scores (L, ).
    """
    num = len(scores)
    if num == 0:
        return scores.new_zeros(0, dtype=torch.long), scores.new_zeros(0)
    oks = keypoint_oks(keypoints, keypoints, areas, sigmas, other_areas=areas)
    # One transfer of the matrix and the scores; the loop below only touches host memory.
    oks_host = oks.detach().cpu().numpy()
    scores_host = scores.detach().cpu().numpy().astype(np.float64)
    remaining = np.ones(num, dtype=bool)
    keep = []
    for _ in range(num):
        best = int(np.argmax(np.where(remaining, scores_host, -np.inf)))
        if not remaining[best] or (soft and scores_host[best] < min_score):
            break
        keep.append(best)
        remaining[best] = False
        overlap = oks_host[best]
        if soft:
            decay = np.where(overlap > iou_threshold, np.exp(-overlap**2 / sigma), 1.0)
            scores_host = np.where(remaining, scores_host * decay, scores_host)
        else:
            remaining &= overlap <= iou_threshold
    keep_index = torch.as_tensor(keep, dtype=torch.long).to(scores.device)
    kept_scores = torch.as_tensor(scores_host[keep], dtype=scores.dtype).to(scores.device)
    return keep_index, kept_scores


def postprocess_poses(results, img_meta: dict, codec, test_cfg: dict):
    """Rescoring and OKS-NMS of one image's poses, as ``test_cfg`` asks.

    Args:
        results (InstanceData): ``bboxes`` (N, 4), ``scores`` (N,), ``keypoints``
            (N, K, 2), ``keypoint_scores`` (N, K), all in one image's coordinates.
        img_meta: the image's metainfo (``keypoint_sigmas`` for OKS-NMS).
        codec: the keypoint codec, whose expanded RoIs give each pose's area.
        test_cfg: ``rescore``, ``keypoint_score_thr`` (default 0.2), ``oks_nms``.

    Returns:
        InstanceData: the poses kept, rescored.
    """
    if test_cfg.get('rescore', False):
        results.scores = rescore_instances(results.scores, results.keypoint_scores,
                                           test_cfg.get('keypoint_score_thr', 0.2))
    nms_cfg = test_cfg.get('oks_nms')
    if nms_cfg and len(results) > 1:
        sigmas = img_meta.get('keypoint_sigmas', nms_cfg.get('sigmas'))
        if sigmas is None:
            raise KeyError('OKS-NMS: no keypoint_sigmas in the image metainfo (pack them '
                           'with PackKeypointDetInputs) nor in test_cfg.oks_nms.sigmas')
        # The pose area as mmpose's OKS-NMS takes it: the expanded (top-down) box's.
        rois = codec.expand_rois(results.bboxes)
        areas = (rois[:, 2] - rois[:, 0]) * (rois[:, 3] - rois[:, 1])
        keep, scores = oks_nms(
            results.keypoints, results.scores, areas, results.keypoints.new_tensor(sigmas),
            **{k: v for k, v in nms_cfg.items() if k != 'sigmas'})
        results = results[keep]
        results.scores = scores
    return results
