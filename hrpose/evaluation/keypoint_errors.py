"""Per-keypoint localisation errors of COCO keypoint results against the ground truth.

COCO AP says how good the poses are; this says *which* keypoints are wrong. Predictions are
matched to labelled persons by COCOeval itself (highest scores first, each taking the free
person with which it has the highest OKS, at one OKS threshold), and for every labelled
keypoint of a matched person the distance to the predicted keypoint is recorded.
"""
import contextlib
import io
import json
import os.path as osp
from typing import Dict, Sequence

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from .coco_keypoint_metric import set_object_areas


def per_keypoint_errors(coco_gt: COCO,
                        results: Sequence[dict],
                        sigmas: Sequence[float],
                        min_oks: float = 0.1) -> Dict[str, object]:
    """Distances between matched predicted and labelled keypoints, keypoint by keypoint.

    Args:
        coco_gt: the ground truth (pycocotools COCO).
        results: COCO keypoint results, dicts with ``image_id``, ``category_id``,
            ``keypoints`` (3 x K list: x, y, score) and ``score``, as ``tools/test.py``
            writes them.
        sigmas: (K,) OKS sigmas of the dataset.
        min_oks: the OKS a prediction needs with a person to be matched to it.

    Returns:
        dict: ``errors`` (list of K arrays of pixel distances), ``normalised`` (the same
        divided by each person's scale ``sqrt(area)``), ``labelled`` (K,) counts of labelled
        keypoints, ``persons`` (labelled, non-crowd persons, the ones COCOeval scores) and
        ``matched_persons``.
    """
    sigmas = np.asarray(sigmas, dtype=np.float64)
    num_keypoints = len(sigmas)
    for i, result in enumerate(results):
        if len(result['keypoints']) != 3 * num_keypoints:
            raise ValueError(f'result {i} (image {result["image_id"]}) has '
                             f'{len(result["keypoints"])} keypoint values, expected '
                             f'3 x {num_keypoints}')
    set_object_areas(coco_gt)
    persons = [
        a for a in coco_gt.dataset['annotations']
        if not a.get('iscrowd', 0) and a.get('num_keypoints', 0) > 0
    ]
    labelled = np.zeros(num_keypoints, dtype=np.int64)
    for ann in persons:
        if len(ann['keypoints']) != 3 * num_keypoints:
            raise ValueError(f'annotation {ann["id"]} (image {ann["image_id"]}) has '
                             f'{len(ann["keypoints"])} keypoint values, expected '
                             f'3 x {num_keypoints}')
        labelled += np.asarray(ann['keypoints'][2::3]) > 0

    matches = []  # (ground-truth id, result id) pairs
    if results:
        with contextlib.redirect_stdout(io.StringIO()):
            # loadRes adds ids and areas to the dicts it is given: give it copies.
            coco_dt = coco_gt.loadRes([dict(r) for r in results])
            coco_eval = COCOeval(coco_gt, coco_dt, 'keypoints')
            params = coco_eval.params
            params.kpt_oks_sigmas = sigmas
            params.iouThrs = np.array([min_oks])
            params.areaRng, params.areaRngLbl = [[0, np.inf]], ['all']
            params.maxDets = [len(results)]
            coco_eval.evaluate()
        for image in coco_eval.evalImgs:
            if image is None:
                continue
            for gt_id, dt_id, ignored in zip(image['gtIds'], image['gtMatches'][0],
                                             image['gtIgnore']):
                if not ignored and dt_id > 0:
                    matches.append((gt_id, int(dt_id)))

    errors = np.full((len(matches), num_keypoints), np.nan)
    scales = np.ones(len(matches))
    for row, (gt_id, dt_id) in enumerate(matches):
        gt = np.asarray(coco_gt.anns[gt_id]['keypoints'], dtype=np.float64).reshape(-1, 3)
        dt = np.asarray(coco_dt.anns[dt_id]['keypoints'], dtype=np.float64).reshape(-1, 3)
        distance = np.linalg.norm(gt[:, :2] - dt[:, :2], axis=-1)
        errors[row] = np.where(gt[:, 2] > 0, distance, np.nan)
        scales[row] = np.sqrt(max(coco_gt.anns[gt_id]['area'], 1e-6))
    normalised = errors / scales[:, None]
    return dict(
        errors=[e[~np.isnan(e)] for e in errors.T],
        normalised=[e[~np.isnan(e)] for e in normalised.T],
        labelled=labelled,
        persons=len(persons),
        matched_persons=len(matches))


def load_keypoint_results(path: str) -> list:
    """The list of a COCO keypoint results file, with what is wrong with it named."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no such results file (tools/test.py writes one with '
                                '--cfg-options test_evaluator.outfile_prefix=DIR/results)')
    with open(path) as f:
        try:
            results = json.load(f)
        except json.JSONDecodeError as error:
            raise ValueError(f'{path} is not valid json: {error}') from None
    if not isinstance(results, list):
        raise ValueError(f'{path}: expected a list of COCO keypoint results, got '
                         f'{type(results).__name__}')
    return results
