from .keypoint_ce_loss import KeypointCrossEntropyLoss
from .keypoint_mse_loss import CombinedTargetMSELoss, KeypointMSELoss

__all__ = ['KeypointMSELoss', 'KeypointCrossEntropyLoss', 'CombinedTargetMSELoss']
