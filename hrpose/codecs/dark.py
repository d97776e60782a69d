"""DARK (Zhang et al., Distribution-Aware Coordinate Representation, CVPR 2020)."""
from typing import Tuple

import torch
from torch import Tensor

from hrpose.registry import KEYPOINT_CODECS

from .base import GaussianHeatmapCodec
from .refinement import dark_offset, heatmap_argmax


@KEYPOINT_CODECS.register_module()
class DARKHeatmap(GaussianHeatmapCodec):
    """Unbiased Gaussian targets at the exact sub-pixel keypoint over the whole heatmap
    (mmpose's ``generate_unbiased_gaussian_heatmaps``); decoding by Gaussian modulation,
    log and one Newton step at the maximum.

    Args:
        heatmap_size: (W, H) of the heatmaps, e.g. (48, 64).
        sigma: Gaussian standard deviation in heatmap pixels.
        roi_padding: see :class:`BaseHeatmapCodec`.
        blur_kernel_size: Gaussian kernel of the modulation (11 for sigma 2 at 64x48).
    """

    target_peak = 'exact'

    def __init__(self,
                 heatmap_size: Tuple[int, int] = (48, 64),
                 sigma: float = 2.0,
                 roi_padding: float = 1.25,
                 blur_kernel_size: int = 11) -> None:
        super().__init__(heatmap_size=heatmap_size, sigma=sigma, roi_padding=roi_padding)
        self.blur_kernel_size = blur_kernel_size

    def decode_heatmap_coords(self, heatmaps: Tensor) -> Tuple[Tensor, Tensor]:
        """Argmax + DARK's Newton step: heatmap coordinates (R, K, 2) and maxima (R, K)."""
        x, y, scores = heatmap_argmax(heatmaps)
        integer = torch.stack([x, y], dim=-1).to(heatmaps.dtype)
        return integer + dark_offset(heatmaps, x, y, self.blur_kernel_size), scores
