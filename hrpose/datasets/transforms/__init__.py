"""Keypoint-aware data transforms (registered into hrpose.registry.TRANSFORMS)."""
from .information_dropping import PersonInformationDropping
from .loading import BadImageError, LoadCheckedImage
from .keypoint_transforms import (KeypointRandomFlip, KeypointResize, LoadKeypointAnnotations,
                                  PackKeypointDetInputs)

__all__ = [
    'LoadKeypointAnnotations', 'KeypointResize', 'KeypointRandomFlip', 'PackKeypointDetInputs',
    'PersonInformationDropping', 'LoadCheckedImage', 'BadImageError'
]
