"""numpy transcriptions of mmpose's pose rescoring and OKS-NMS, for the tests.

Transcribed from open-mmlab/mmpose (1.x):

* ``mmpose/evaluation/functional/nms.py`` at 46ba2da4141b2e9b3be35c86122fd83fcb26d4ca:
  ``oks_iou``, ``oks_nms``, ``_rescore`` (gaussian) and ``soft_oks_nms``;
* ``mmpose/evaluation/metrics/coco_metric.py`` (``CocoMetric.compute_metrics``,
  ``score_mode='bbox_keypoint'``): instance score = box score x the mean of the keypoint
  scores above ``keypoint_score_thr``, then OKS-NMS per image with the dataset's sigmas and
  each instance's area; the kept instances keep their (rescored) scores;
* pycocotools ``COCOeval`` with ``maxDets=20`` for keypoints: the 20 best-scored results
  of an image are evaluated.

Poses are (N, K, 2) arrays; the keypoint scores are not used by the OKS (vis_thr=None).
"""
import numpy as np


def rescore(box_scores: np.ndarray, keypoint_scores: np.ndarray, thr: float = 0.2):
    """(N,), (N, K) -> (N,): box score x mean of the keypoint scores above ``thr`` (the
    mean is 0 where none is above)."""
    out = np.zeros(len(box_scores))
    for n, (box_score, scores) in enumerate(zip(box_scores, keypoint_scores)):
        total, count = 0.0, 0
        for s in scores:
            if s > thr:
                total += s
                count += 1
        out[n] = box_score * (total / count if count else 0)
    return out


def oks_iou(pose: np.ndarray, others: np.ndarray, area: float, other_areas: np.ndarray,
            sigmas: np.ndarray) -> np.ndarray:
    """OKS of one pose (K, 2) with each of ``others`` (M, K, 2); the pair's scale is the
    mean of their areas, plus the smallest float64 step."""
    variances = (sigmas * 2)**2
    out = np.zeros(len(others), dtype=np.float32)
    for m, other in enumerate(others):
        d2 = ((other - pose)**2).sum(-1)
        e = d2 / variances / ((area + other_areas[m]) / 2 + np.spacing(1)) / 2
        out[m] = np.sum(np.exp(-e)) / len(e)
    return out


def oks_nms(poses, scores, areas, sigmas, thr=0.9):
    """Greedy: keep the best, drop every remaining pose with OKS > ``thr`` to it. Returns
    the kept indices, best first."""
    order = scores.argsort()[::-1]
    keep = []
    while len(order) > 0:
        best = order[0]
        keep.append(best)
        overlap = oks_iou(poses[best], poses[order[1:]], areas[best], areas[order[1:]], sigmas)
        order = order[np.where(overlap <= thr)[0] + 1]
    return np.array(keep, dtype=np.int64)


def soft_oks_nms(poses, scores, areas, sigmas, thr=0.3, max_dets=20):
    """Soft: keep the best, multiply every remaining pose's running score by
    exp(-OKS^2 / thr), re-sort, repeat until ``max_dets`` are kept. Returns the kept
    indices in the order they were kept (the instances keep their input scores)."""
    order = scores.argsort()[::-1]
    running = scores[order]
    keep = []
    while len(order) > 0 and len(keep) < max_dets:
        best = order[0]
        overlap = oks_iou(poses[best], poses[order[1:]], areas[best], areas[order[1:]], sigmas)
        order = order[1:]
        running = running[1:] * np.exp(-overlap**2 / thr)
        resort = running.argsort()[::-1]
        order, running = order[resort], running[resort]
        keep.append(best)
    return np.array(keep, dtype=np.int64)


def evaluated_poses(box_scores,
                    keypoint_scores,
                    poses,
                    areas,
                    sigmas,
                    nms='oks',
                    thr=0.9,
                    keypoint_score_thr=0.2,
                    max_dets=20):
    """What COCOeval reads of one image under mmpose's protocol: every detection rescored,
    OKS-NMS'd (``nms`` 'oks', 'soft' or None), then the ``max_dets`` best by final score.
    Returns (indices into the detections, their scores), best first."""
    final = rescore(box_scores, keypoint_scores, keypoint_score_thr)
    if nms == 'oks':
        kept = oks_nms(poses, final, areas, sigmas, thr)
    elif nms == 'soft':
        kept = soft_oks_nms(poses, final, areas, sigmas, thr, max_dets)
    else:
        kept = np.arange(len(final))
    # COCOeval: sorted by score (stable, as its 'mergesort' on -score), the first maxDets
    kept = kept[np.argsort(-final[kept], kind='mergesort')][:max_dets]
    return kept, final[kept]
