"""Cross-entropy over heatmap positions, Keypoint R-CNN's keypoint loss."""
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from hrpose.registry import MODELS


@MODELS.register_module()
class KeypointCrossEntropyLoss(nn.Module):
    """Softmax cross-entropy over the H x W positions of each keypoint's logit map, the
    target being the one-hot position; averaged over labelled keypoints.

    Args:
        loss_weight: multiplier of the loss.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, pred: Tensor, target: Tensor, target_weight: Tensor) -> Tensor:
        """
        Args:
            pred: (R, K, H, W) logits.
            target: (R, K, H, W) one-hot maps (zero where the keypoint is not labelled).
            target_weight: (R, K) 1 for labelled keypoints inside their RoI.

        Returns:
            Tensor: scalar loss; 0 (with a graph to ``pred``) when nothing is labelled.
        """
        if pred.shape != target.shape:
            raise ValueError(f'pred {tuple(pred.shape)} and target {tuple(target.shape)} '
                             'differ in shape')
        valid = target_weight.reshape(-1) > 0
        if not valid.any():
            return pred.sum() * 0.0
        logits = pred.reshape(-1, pred.shape[-2] * pred.shape[-1])[valid]
        positions = target.reshape(-1, pred.shape[-2] * pred.shape[-1])[valid].argmax(dim=1)
        return self.loss_weight * F.cross_entropy(logits, positions)
