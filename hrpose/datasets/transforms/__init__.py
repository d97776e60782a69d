"""Keypoint-aware data transforms (registered into hrpose.registry.TRANSFORMS)."""
from .information_dropping import PersonInformationDropping
from .keypoint_transforms import (KeypointRandomFlip, KeypointResize, LoadKeypointAnnotations,
                                  PackKeypointDetInputs)
from .loading import BadImageError, LoadCheckedImage

__all__ = [
    'LoadKeypointAnnotations', 'KeypointResize', 'KeypointRandomFlip', 'PackKeypointDetInputs',
    'PersonInformationDropping', 'LoadCheckedImage', 'BadImageError'
]
