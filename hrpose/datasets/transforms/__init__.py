"""Keypoint-aware data transforms (registered into hrpose.registry.TRANSFORMS)."""
from .keypoint_transforms import (KeypointRandomFlip, KeypointResize, LoadKeypointAnnotations,
                                  PackKeypointDetInputs)

__all__ = [
    'LoadKeypointAnnotations', 'KeypointResize', 'KeypointRandomFlip', 'PackKeypointDetInputs'
]
