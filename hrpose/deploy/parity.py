"""The same images through two models (PyTorch and ONNX Runtime): how far apart they are."""
from typing import Dict, List, Sequence

import numpy as np

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
