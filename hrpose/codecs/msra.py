"""MSRA heatmaps (Xiao et al., Simple Baselines, 2018), hrpose's default codec."""
from typing import Tuple

import torch
from torch import Tensor

from hrpose.registry import KEYPOINT_CODECS

from .base import GaussianHeatmapCodec
from .refinement import heatmap_argmax, quarter_offset


@KEYPOINT_CODECS.register_module()
class MSRAHeatmap(GaussianHeatmapCodec):
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

    target_peak = 'rounded'

    def decode_heatmap_coords(self, heatmaps: Tensor) -> Tuple[Tensor, Tensor]:
        """Argmax + quarter shift: heatmap coordinates (R, K, 2) and maxima (R, K)."""
        x, y, scores = heatmap_argmax(heatmaps)
        integer = torch.stack([x, y], dim=-1).to(heatmaps.dtype)
        return integer + quarter_offset(heatmaps, x, y), scores
