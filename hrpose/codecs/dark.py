"""DARK (Zhang et al., Distribution-Aware Coordinate Representation, CVPR 2020)."""
from typing import Tuple

import torch
from torch import Tensor

from hrpose.registry import KEYPOINT_CODECS
from .base import BaseHeatmapCodec, gaussian_heatmaps, gaussian_target_weights
from .refinement import dark_offset, heatmap_argmax


@KEYPOINT_CODECS.register_module()
class DARKHeatmap(BaseHeatmapCodec):
    """Unbiased Gaussian targets at the exact sub-pixel keypoint; decoding by Gaussian
    modulation, log and one Newton step at the maximum.

    Args:
        heatmap_size: (W, H) of the heatmaps, e.g. (48, 64).
        sigma: Gaussian standard deviation in heatmap pixels.
        roi_padding: see :class:`BaseHeatmapCodec`.
        blur_kernel_size: Gaussian kernel of the modulation (11 for sigma 2 at 64x48).
    """

    def __init__(self, heatmap_size: Tuple[int, int] = (48, 64), sigma: float = 2.0,
                 roi_padding: float = 1.25, blur_kernel_size: int = 11) -> None:
        super().__init__(heatmap_size=heatmap_size, roi_padding=roi_padding)
        if sigma <= 0:
            raise ValueError(f'sigma must be positive, got {sigma}')
        self.sigma = float(sigma)
        self.blur_kernel_size = blur_kernel_size

    def encode(self, keypoints: Tensor, keypoints_visible: Tensor,
               rois: Tensor) -> Tuple[Tensor, Tensor]:
        """Targets (R, K, H, W) with a unit-peak Gaussian at each keypoint's exact heatmap
        coordinates over the whole heatmap, and weights (R, K) (1: labelled, its 3-sigma box
        on the heatmap), as mmpose's ``generate_unbiased_gaussian_heatmaps``."""
        coords = self.to_heatmap_coords(keypoints.float(), rois.float())
        weights = gaussian_target_weights(coords, keypoints_visible, self.heatmap_size,
                                          self.sigma, rounded=False)
        heatmaps = gaussian_heatmaps(coords, self.heatmap_size, self.sigma)
        return heatmaps * weights[..., None, None], weights

    def decode_heatmap_coords(self, heatmaps: Tensor) -> Tuple[Tensor, Tensor]:
        """Argmax + DARK's Newton step: heatmap coordinates (R, K, 2) and maxima (R, K)."""
        x, y, scores = heatmap_argmax(heatmaps)
        integer = torch.stack([x, y], dim=-1).to(heatmaps.dtype)
        return integer + dark_offset(heatmaps, x, y, self.blur_kernel_size), scores
