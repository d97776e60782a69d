"""The same images through two models (PyTorch and ONNX Runtime): how far apart they are."""
from typing import Dict, List, Sequence

import numpy as np
import torch
from torchvision.ops import box_iou

RESULT_KEYS = ('bboxes', 'scores', 'keypoints', 'keypoint_scores')


def prediction_differences(reference: Sequence[dict], other: Sequence[dict]) -> Dict[str, float]:
    """Largest absolute differences between two lists of per-image predictions (the dicts of
    ``inference_keypoints``), and the number of images whose person counts differ.

    Returns:
        dict: ``images``, ``persons`` (of ``reference``), ``count_mismatches``, and for
        each of ``bboxes``, ``scores``, ``keypoints``, ``keypoint_scores`` the largest
        absolute difference over the images whose counts agree (0 where none has a person).
    """
    if len(reference) != len(other):
        raise ValueError(f'{len(reference)} predictions against {len(other)}')
    worst = {key: 0.0 for key in RESULT_KEYS}
    mismatches = 0
    for ref, oth in zip(reference, other):
        if len(ref['scores']) != len(oth['scores']):
            mismatches += 1
            continue
        for key in RESULT_KEYS:
            if len(ref[key]):
                worst[key] = max(worst[key], float(np.abs(ref[key] - oth[key]).max()))
    return dict(
        images=len(reference),
        persons=int(sum(len(r['scores']) for r in reference)),
        count_mismatches=mismatches,
        **worst)


def format_differences(differences: Dict[str, float]) -> List[str]:
    """Lines for a log: counts, then each largest difference."""
    lines = [
        f'{differences["images"]} images, {differences["persons"]} persons, '
        f'{differences["count_mismatches"]} image(s) with another person count'
    ]
    for key in RESULT_KEYS:
        lines.append(f'  largest |difference| of {key}: {differences[key]:.3g}')
    return lines


def matched_differences(reference: Sequence[dict],
                        other: Sequence[dict],
                        min_iou: float = 0.5) -> Dict[str, object]:
    """Two models' persons matched by box (greedy, the reference's best first, IoU at least
    ``min_iou``), for results that may order or cut persons differently (another
    precision): how many are matched, the scores of the unmatched ones, and the largest
    differences over the matched.

    Returns:
        dict: ``matched``, ``unmatched_scores`` (the scores of every person of either side
        without a partner), and for ``scores`` and ``keypoints`` the largest absolute
        difference over the matched persons.
    """
    matched, unmatched = 0, []
    worst = dict(scores=0.0, keypoints=0.0)
    for ref, oth in zip(reference, other):
        iou = box_iou(torch.from_numpy(ref['bboxes']), torch.from_numpy(oth['bboxes'])).numpy()
        free = np.ones(len(oth['bboxes']), dtype=bool)
        for i in np.argsort(-ref['scores'], kind='stable'):
            candidates = np.where(free, iou[i], -1.0)
            j = int(np.argmax(candidates)) if len(candidates) else -1
            if j < 0 or candidates[j] < min_iou:
                unmatched.append(float(ref['scores'][i]))
                continue
            free[j] = False
            matched += 1
            worst['scores'] = max(worst['scores'], abs(float(ref['scores'][i] - oth['scores'][j])))
            worst['keypoints'] = max(
                worst['keypoints'], float(np.abs(ref['keypoints'][i] - oth['keypoints'][j]).max()))
        unmatched += [float(s) for s in oth['scores'][free]]
    return dict(matched=matched, unmatched_scores=sorted(unmatched, reverse=True), **worst)
