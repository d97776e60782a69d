"""Per-keypoint localisation errors of COCO keypoint results against the ground truth.

COCO AP says how good the poses are; this says *which* keypoints are wrong. Each labelled
ground-truth person is matched to one predicted pose of its image (greedily, the
highest-scoring predictions first, each taking the unmatched person with which it has the
highest OKS, as COCOeval matches), and for every labelled keypoint of a matched person the
distance to the predicted keypoint is recorded.
"""
from typing import Dict, List, Sequence

import numpy as np
import torch
from pycocotools.coco import COCO

from hrpose.models.roi_heads.pose_postprocessing import keypoint_oks


def match_poses(gt_keypoints: np.ndarray, gt_visible: np.ndarray, gt_areas: np.ndarray,
                pred_keypoints: np.ndarray, pred_scores: np.ndarray, sigmas: np.ndarray,
                min_oks: float) -> List[int]:
    """Greedy OKS matching of the predictions of one image to its persons.

    Args:
        gt_keypoints: (N, K, 2) labelled persons; gt_visible (N, K) bool; gt_areas (N,).
        pred_keypoints: (M, K, 2) predicted poses with scores (M,).
        sigmas: (K,) OKS sigmas.
        min_oks: a prediction below this OKS with every free person matches none.

    Returns:
        list: for each person, the index of its prediction or -1.
    """
    matched = [-1] * len(gt_keypoints)
    if len(gt_keypoints) == 0 or len(pred_keypoints) == 0:
        return matched
    oks = keypoint_oks(torch.from_numpy(gt_keypoints), torch.from_numpy(pred_keypoints),
                       torch.from_numpy(gt_areas), torch.from_numpy(sigmas),
                       visible=torch.from_numpy(gt_visible)).numpy()  # (N, M)
    for p in np.argsort(-pred_scores, kind='stable'):
        free = [g for g in range(len(gt_keypoints)) if matched[g] < 0]
        if not free:
            break
        best = max(free, key=lambda g: oks[g, p])
        if oks[best, p] >= min_oks:
            matched[best] = int(p)
    return matched


def per_keypoint_errors(coco_gt: COCO, results: Sequence[dict], sigmas: Sequence[float],
                        min_oks: float = 0.1) -> Dict[str, object]:
    """Distances between matched predicted and labelled keypoints, keypoint by keypoint.

    Args:
        coco_gt: the ground truth (pycocotools COCO).
        results: COCO keypoint results, dicts with ``image_id``, ``keypoints`` (3 x K list,
            x, y, score) and ``score``, as ``tools/test.py`` writes them.
        sigmas: (K,) OKS sigmas of the dataset.
        min_oks: the OKS a prediction needs with a person to be matched to it.

    Returns:
        dict: ``errors`` (list of K arrays of pixel distances), ``normalised`` (the same
        divided by the person scale ``sqrt(area)``), ``labelled`` (K,) counts of labelled
        keypoints, ``persons`` and ``matched_persons``.
    """
    sigmas = np.asarray(sigmas, dtype=np.float64)
    num_keypoints = len(sigmas)
    by_image: Dict[int, List[dict]] = {}
    for i, result in enumerate(results):
        if len(result['keypoints']) != 3 * num_keypoints:
            raise ValueError(f'result {i} (image {result["image_id"]}) has '
                             f'{len(result["keypoints"])} keypoint values, expected '
                             f'3 x {num_keypoints}')
        by_image.setdefault(result['image_id'], []).append(result)

    errors = [[] for _ in range(num_keypoints)]
    normalised = [[] for _ in range(num_keypoints)]
    labelled = np.zeros(num_keypoints, dtype=np.int64)
    persons = matched_persons = 0
    for image_id in coco_gt.getImgIds():
        anns = [a for a in coco_gt.loadAnns(coco_gt.getAnnIds(imgIds=image_id, iscrowd=False))
                if a.get('num_keypoints', 0) > 0 or any(a.get('keypoints', [])[2::3])]
        if not anns:
            continue
        for ann in anns:
            if len(ann['keypoints']) != 3 * num_keypoints:
                raise ValueError(f'annotation {ann["id"]} (image {image_id}) has '
                                 f'{len(ann["keypoints"])} keypoint values, expected '
                                 f'3 x {num_keypoints}')
        gt = np.array([a['keypoints'] for a in anns], dtype=np.float64).reshape(
            len(anns), num_keypoints, 3)
        areas = np.array([a.get('area') or a['bbox'][2] * a['bbox'][3] for a in anns],
                         dtype=np.float64)
        visible = gt[..., 2] > 0
        preds = by_image.get(image_id, [])
        pred = np.array([r['keypoints'] for r in preds], dtype=np.float64).reshape(
            len(preds), num_keypoints, 3)
        scores = np.array([r['score'] for r in preds], dtype=np.float64)
        matched = match_poses(gt[..., :2], visible, areas, pred[..., :2], scores, sigmas,
                              min_oks)
        persons += len(anns)
        labelled += visible.sum(0)
        for g, p in enumerate(matched):
            if p < 0:
                continue
            matched_persons += 1
            distance = np.linalg.norm(gt[g, :, :2] - pred[p, :, :2], axis=-1)
            for k in np.flatnonzero(visible[g]):
                errors[k].append(distance[k])
                normalised[k].append(distance[k] / np.sqrt(max(areas[g], 1e-6)))
    return dict(
        errors=[np.array(e) for e in errors],
        normalised=[np.array(e) for e in normalised],
        labelled=labelled,
        persons=persons,
        matched_persons=matched_persons)
