from .annotation_checks import AnnotationWarning
from .coco_keypoint import CocoKeypointDataset, load_keypoint_metainfo
from .samplers import (SeededDefaultSampler, SeededIndex, SeededInfiniteSampler, augmentation_seed,
                       seeded_generators)
from .synthetic import make_synthetic_coco, render_synthetic_image
from .transforms import *  # noqa: F401,F403

__all__ = [
    'AnnotationWarning', 'CocoKeypointDataset', 'load_keypoint_metainfo', 'make_synthetic_coco',
    'render_synthetic_image', 'SeededDefaultSampler', 'SeededIndex', 'SeededInfiniteSampler',
    'augmentation_seed', 'seeded_generators'
]
