"""hrpose models: the HRNet backbone with a weight check, the keypoint RoI head, keypoint heads and
losses (hrpose.registry.MODELS). HRFPN, the RPN and the box head are mmdet's, reached
through the parent registry."""
from .backbones import *  # noqa: F401,F403
from .detectors import KeypointTwoStageDetector  # noqa: F401
from .losses import *  # noqa: F401,F403
from .roi_heads import *  # noqa: F401,F403
