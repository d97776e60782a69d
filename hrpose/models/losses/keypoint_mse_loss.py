"""Weighted mean squared error between predicted and target heatmaps."""
import torch.nn as nn
from torch import Tensor

from hrpose.registry import MODELS


@MODELS.register_module()
class KeypointMSELoss(nn.Module):
    """MSE over heatmap pixels, each keypoint weighted (0 for unlabelled or outside the RoI).

    ``loss = loss_weight * mean_{r,k,y,x}(w_{r,k} * (pred - target)^2)``, the mean taken
    over all R * K * H * W elements as in HRNet's top-down training.

    Args:
        use_target_weight: weight each keypoint by its target weight.
        loss_weight: multiplier of the loss.
    """

    def __init__(self, use_target_weight: bool = True, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.use_target_weight = use_target_weight
        self.loss_weight = loss_weight

    def forward(self, pred: Tensor, target: Tensor, target_weight: Tensor) -> Tensor:
        """
        Args:
            pred: (R, K, H, W) predicted heatmaps.
            target: (R, K, H, W) target heatmaps.
            target_weight: (R, K) per-keypoint weights.

        Returns:
            Tensor: scalar loss; 0 (with a graph to ``pred``) when R == 0.
        """
        if pred.shape != target.shape:
            raise ValueError(f'pred {tuple(pred.shape)} and target {tuple(target.shape)} '
                             'heatmaps differ in shape')
        if pred.numel() == 0:
            return pred.sum() * 0.0
        squared = (pred - target)**2
        if self.use_target_weight:
            squared = squared * target_weight[..., None, None]
        return self.loss_weight * squared.mean()


@MODELS.register_module()
class CombinedTargetMSELoss(nn.Module):
    """UDP's loss for combined maps (R, 3K, H, W): MSE on each classification map, and MSE
    on the x/y offset maps counted only where the target class map is on.

    ``loss = loss_weight * 0.5 * (mse(class) + mse(offsets inside the disk))``, each keypoint
    weighted by its target weight, means over all R * K * H * W elements.

    Args:
        loss_weight: multiplier of the loss.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, pred: Tensor, target: Tensor, target_weight: Tensor) -> Tensor:
        if pred.shape != target.shape:
            raise ValueError(f'pred {tuple(pred.shape)} and target {tuple(target.shape)} '
                             'maps differ in shape')
        if pred.numel() == 0:
            return pred.sum() * 0.0
        R, C, H, W = pred.shape
        pred = pred.reshape(R, C // 3, 3, H, W)
        target = target.reshape(R, C // 3, 3, H, W)
        weight = target_weight[..., None, None]
        classes = target[:, :, 0]
        class_loss = (weight * (pred[:, :, 0] - classes)**2).mean()
        offset_loss = (weight * classes * ((pred[:, :, 1:] - target[:, :, 1:])**2).sum(2)).mean()
        return self.loss_weight * 0.5 * (class_loss + offset_loss)
