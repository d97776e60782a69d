"""Keypoint structures: hrpose's pixel convention and its conversions."""
from .keypoints import (PIXEL_CENTRE_OFFSET, coco_to_continuous, continuous_to_coco, mirror_boxes,
                        mirror_keypoints)

__all__ = [
    'PIXEL_CENTRE_OFFSET', 'coco_to_continuous', 'continuous_to_coco', 'mirror_boxes',
    'mirror_keypoints'
]
