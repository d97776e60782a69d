"""MSRA heatmaps (Xiao et al., Simple Baselines, 2018), hrpose's default codec."""
from typing import Tuple

import torch
from torch import Tensor

from hrpose.registry import KEYPOINT_CODECS
from .base import BaseHeatmapCodec, gaussian_target_weights, windowed_gaussian_heatmaps
from .refinement import heatmap_argmax, quarter_offset


@KEYPOINT_CODECS.register_module()
class MSRAHeatmap(BaseHeatmapCodec):
    """Gaussian at the quantised keypoint; argmax + quarter-pixel shift on decoding.

    Encoding puts a Gaussian (standard deviation ``sigma`` heatmap pixels) on the centre of
    the heatmap pixel that holds the keypoint, cut to a square of 3 sigma around it;
    decoding takes the argmax and moves a quarter pixel toward the higher neighbour on each
    axis. Both as mmpose's ``MSRAHeatmap`` (``generate_gaussian_heatmaps``,
    ``refine_keypoints``), in hrpose's RoI frame.

    Args:
        heatmap_size: (W, H) of the heatmaps, e.g. (48, 64).
        sigma: Gaussian standard deviation in heatmap pixels.
        roi_padding: see :class:`BaseHeatmapCodec`.
    """

    def __init__(self, heatmap_size: Tuple[int, int] = (48, 64), sigma: float = 2.0,
                 roi_padding: float = 1.25) -> None:
        super().__init__(heatmap_size=heatmap_size, roi_padding=roi_padding)
        if sigma <= 0:
            raise ValueError(f'sigma must be positive, got {sigma}')
        self.sigma = float(sigma)

    def encode(self, keypoints: Tensor, keypoints_visible: Tensor,
               rois: Tensor) -> Tuple[Tensor, Tensor]:
        """Targets (R, K, H, W) with a unit-peak Gaussian at the nearest heatmap pixel
        centre of each keypoint, and weights (R, K) (1: labelled, its 3-sigma window on the
        heatmap)."""
        coords = self.to_heatmap_coords(keypoints.float(), rois.float())
        weights = gaussian_target_weights(coords, keypoints_visible, self.heatmap_size,
                                          self.sigma, rounded=True)
        heatmaps = windowed_gaussian_heatmaps(coords, self.heatmap_size, self.sigma,
                                              subpixel=False)
        return heatmaps * weights[..., None, None], weights

    def decode_heatmap_coords(self, heatmaps: Tensor) -> Tuple[Tensor, Tensor]:
        """Argmax + quarter shift: heatmap coordinates (R, K, 2) and maxima (R, K)."""
        x, y, scores = heatmap_argmax(heatmaps)
        integer = torch.stack([x, y], dim=-1).to(heatmaps.dtype)
        return integer + quarter_offset(heatmaps, x, y), scores
