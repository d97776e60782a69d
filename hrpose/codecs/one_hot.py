"""Keypoint R-CNN's one-hot maps (He et al., Mask R-CNN, 2017), decoded as detectron2 does."""
from typing import Tuple

import torch
from torch import Tensor

from hrpose.registry import KEYPOINT_CODECS

from .base import BaseHeatmapCodec


@KEYPOINT_CODECS.register_module()
class OneHotHeatmap(BaseHeatmapCodec):
    """Keypoint R-CNN's targets (He et al., 2017): a one-hot map at the keypoint's pixel of
    a square heatmap (default 56x56) laid over the person box as it is (no aspect-ratio
    expansion, no padding); decoding as detectron2 does it (bicubic resize of the logits to
    the RoI's size, argmax there, softmax scores). The baseline the Gaussian codecs are
    compared against, trained with a cross-entropy over positions.

    Args:
        heatmap_size: (W, H) of the maps (detectron2: 56x56).
        roi_padding: factor by which the box grows (1: the box itself).
    """

    def __init__(self, heatmap_size: Tuple[int, int] = (56, 56), roi_padding: float = 1.0) -> None:
        super().__init__(heatmap_size=heatmap_size, roi_padding=roi_padding)

    def expand_rois(self, bboxes: Tensor) -> Tensor:
        """The boxes (R, 4) as they are, grown by ``roi_padding`` about their centres."""
        centre = (bboxes[:, :2] + bboxes[:, 2:]) / 2
        half = (bboxes[:, 2:] - bboxes[:, :2]).clamp(min=1e-3) * (self.roi_padding / 2)
        return torch.cat([centre - half, centre + half], dim=1)

    def encode_heatmap_coords(self, coords: Tensor,
                              keypoints_visible: Tensor) -> Tuple[Tensor, Tensor]:
        """One-hot maps (R, K, H, W) at the nearest pixel and weights (R, K)."""
        W, H = self.heatmap_size
        centres = torch.floor(coords + 0.5)
        xs = torch.arange(W, dtype=coords.dtype, device=coords.device)
        ys = torch.arange(H, dtype=coords.dtype, device=coords.device)
        one_hot = ((ys == centres[..., 1:2])[..., :, None] &
                   (xs == centres[..., 0:1])[..., None, :]).to(coords.dtype)
        weights = self.target_weights(coords, keypoints_visible)
        return one_hot * weights[..., None, None], weights

    def decode(self, heatmaps: Tensor, rois: Tensor) -> Tuple[Tensor, Tensor]:
        """Keypoints as detectron2's ``heatmaps_to_keypoints`` reads Keypoint R-CNN's logits.

        Each RoI's logits are resized (bicubic) to the RoI's own size in pixels, rounded up;
        the argmax there, at its pixel centre and rescaled by size / rounded size, is the
        keypoint. The score is a probability: the softmax value at the maximum, normalised
        over the 56x56 logits so that it does not depend on the person's size.

        Args:
            heatmaps: (R, K, H, W) logits.
            rois: (R, 4) the person boxes they were predicted for.

        Returns:
            tuple: keypoints (R, K, 2) in image coordinates and scores (R, K).
        """
        with torch.autocast(device_type=heatmaps.device.type, enabled=False):
            heatmaps, rois = heatmaps.float(), rois.float()
            R, K = heatmaps.shape[:2]
            keypoints, scores = heatmaps.new_zeros(R, K, 2), heatmaps.new_zeros(R, K)
            if R == 0:
                return keypoints, scores
            sizes = (rois[:, 2:] - rois[:, :2]).clamp(min=1)  # (R, 2) as w, h
            sizes_ceil = sizes.ceil()
            # RoIs of the same rounded size are resized together: one interpolation per
            # distinct size (each person has its own size, so this is the per-RoI loop of
            # the reference when sizes differ).
            groups = torch.unique(sizes_ceil, dim=0).tolist()
            for w_ceil, h_ceil in groups:
                index = torch.nonzero((sizes_ceil[:, 0] == w_ceil)
                                      & (sizes_ceil[:, 1] == h_ceil)).flatten()
                logits = heatmaps[index]
                resized = torch.nn.functional.interpolate(
                    logits, size=(int(h_ceil), int(w_ceil)), mode='bicubic', align_corners=False)
                peak, position = resized.flatten(2).max(dim=-1)  # (n, K)
                # softmax value at the peak, normalised over the original-size logits
                normaliser = (logits - peak[..., None, None]).exp().sum(dim=(-2, -1))
                x = (position % int(w_ceil)).float() + 0.5
                y = torch.div(position, int(w_ceil), rounding_mode='floor').float() + 0.5
                correction = sizes[index] / sizes_ceil[index]  # (n, 2)
                keypoints[index] = rois[index, None, :2] + torch.stack(
                    [x * correction[:, 0:1], y * correction[:, 1:2]], dim=-1)
                scores[index] = 1.0 / normaliser
            return keypoints, scores
