from .keypoint_mse_loss import KeypointMSELoss

__all__ = ['KeypointMSELoss']
