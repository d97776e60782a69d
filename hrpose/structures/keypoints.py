"""The pixel convention of hrpose and the only functions that convert to or from it.

Image coordinates are continuous: pixel ``i`` covers ``[i, i + 1)`` and its centre is at
``i + 0.5``. Keypoints, boxes and RoIs inside hrpose (datasets, transforms, model, codecs)
all use it; mmcv's ``RoIAlign(aligned=True)`` samples in it, and a horizontal flip of an
image ``width`` pixels wide is ``x -> width - x``.

Two outside conventions meet it at the edges of hrpose:

* COCO (and CrowdPose) keypoints are pixel indices: the centre of pixel ``i`` is at ``i``.
  The dataset converts annotations in with :func:`coco_to_continuous`; the metric and the
  inference API convert predictions out with :func:`continuous_to_coco`.
* Matplotlib, which the visualiser draws with, also puts pixel ``i``'s centre at ``i``: the
  same conversion as COCO's.

Boxes are ``x1, y1, x2, y2`` edges in both conventions (COCO's ``[x, y, w, h]`` boxes and
mmdet's boxes agree), so only points are converted.
"""
from typing import Sequence, TypeVar

import numpy as np
import torch

Points = TypeVar('Points', np.ndarray, torch.Tensor)

# Pixel centre in hrpose's coordinates minus pixel centre in index coordinates.
PIXEL_CENTRE_OFFSET = 0.5


def coco_to_continuous(points: Points) -> Points:
    """COCO pixel-index points (..., 2) -> hrpose's continuous coordinates (..., 2)."""
    return points + PIXEL_CENTRE_OFFSET


def continuous_to_coco(points: Points) -> Points:
    """hrpose's continuous points (..., 2) -> COCO pixel indices (..., 2) (also matplotlib's
    drawing coordinates)."""
    return points - PIXEL_CENTRE_OFFSET


def mirror_keypoints(keypoints: Points, width: float, flip_indices: Sequence[int]) -> Points:
    """Keypoints (N, K, 2) of persons as they appear in the horizontally mirrored image:
    x -> ``width`` - x, and keypoint ``i`` is the original's ``flip_indices[i]`` (a left
    wrist stays a left wrist). Returns a new array or tensor."""
    index = list(flip_indices)
    if len(index) != keypoints.shape[-2]:
        raise ValueError(f'flip_indices has {len(index)} entries but the keypoints have '
                         f'K={keypoints.shape[-2]}')
    mirrored = keypoints[..., index, :]
    mirrored = mirrored.clone() if isinstance(mirrored, torch.Tensor) else mirrored.copy()
    mirrored[..., 0] = width - mirrored[..., 0]
    return mirrored


def mirror_boxes(boxes: Points, width: float) -> Points:
    """Boxes (N, 4) ``x1, y1, x2, y2`` in the horizontally mirrored image: x -> width - x
    (so the new x1 is the mirrored x2)."""
    if isinstance(boxes, torch.Tensor):
        return torch.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]],
                           dim=1)
    return np.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], axis=1)
