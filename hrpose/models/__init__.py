"""hrpose models: the keypoint RoI head, keypoint heads and losses (hrpose.registry.MODELS).

The HRNet backbone, HRFPN neck, RPN and box head are mmdet's, reached through the parent
registry.
"""
from .losses import *  # noqa: F401,F403
from .roi_heads import *  # noqa: F401,F403
