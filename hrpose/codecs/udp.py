"""UDP (Huang et al., The Devil is in the Details: Unbiased Data Processing, CVPR 2020)."""
from typing import Tuple

import torch
from torch import Tensor

from hrpose.registry import KEYPOINT_CODECS
from .base import BaseHeatmapCodec
from .dark import DARKHeatmap
from .refinement import gaussian_blur_reflect, heatmap_argmax, sample_at


@KEYPOINT_CODECS.register_module()
class UDPHeatmap(DARKHeatmap):
    """UDP's unbiased transform, RoI edges on the centres of the first and last heatmap
    pixels (scale ``(W - 1) / roi_w``), with DARK's Gaussian targets at the exact keypoint
    and DARK's refinement (as UDP's heatmap variant does). Encoding, decoding, RoI pooling
    and flips all use the same transform. Arguments: those of :class:`DARKHeatmap`.
    """

    unbiased_transform = True


@KEYPOINT_CODECS.register_module()
class UDPCombinedHeatmap(BaseHeatmapCodec):
    """UDP's 'combined' targets: per keypoint a classification map (1 within ``radius`` of
    the keypoint) and x/y offset maps ``(keypoint - pixel) / radius``; decoding reads the
    offsets at the maximum of the blurred classification map. Heatmaps are (R, 3K, H, W),
    ordered [class, x offset, y offset] per keypoint. UDP's unbiased transform.

    Args:
        heatmap_size: (W, H) of the heatmaps, e.g. (48, 64).
        roi_padding: see :class:`BaseHeatmapCodec`.
        radius_factor: the radius as a fraction of the longer heatmap side (UDP's 0.0546875,
            3.5 pixels at 64x48).
        blur_kernel_size: k of the (2k + 1) blur of the classification maps on decoding.
    """

    channels_per_keypoint = 3
    unbiased_transform = True

    def __init__(self, heatmap_size: Tuple[int, int] = (48, 64), roi_padding: float = 1.25,
                 radius_factor: float = 0.0546875, blur_kernel_size: int = 11) -> None:
        super().__init__(heatmap_size=heatmap_size, roi_padding=roi_padding)
        self.radius_factor = float(radius_factor)
        self.radius = radius_factor * max(self.heatmap_size)
        self.blur_kernel_size = blur_kernel_size

    def encode(self, keypoints: Tensor, keypoints_visible: Tensor,
               rois: Tensor) -> Tuple[Tensor, Tensor]:
        """Targets (R, 3K, H, W) and weights (R, K)."""
        coords = self.to_heatmap_coords(keypoints.float(), rois.float())
        W, H = self.heatmap_size
        xs = torch.arange(W, dtype=coords.dtype, device=coords.device)
        ys = torch.arange(H, dtype=coords.dtype, device=coords.device)
        offset_x = (coords[..., 0:1, None] - xs).expand(-1, -1, H, W) / self.radius
        offset_y = (coords[..., 1:2, None] - ys[:, None]).expand(-1, -1, H, W) / self.radius
        classes = ((offset_x**2 + offset_y**2) <= 1).to(coords.dtype)
        weights = self.target_weights(coords, keypoints_visible)
        targets = torch.stack([classes, offset_x, offset_y], dim=2)
        targets = targets * weights[:, :, None, None, None]
        R, K = weights.shape
        return targets.reshape(R, 3 * K, H, W), weights

    def decode_heatmap_coords(self, heatmaps: Tensor) -> Tuple[Tensor, Tensor]:
        """Classification maximum + offsets: coordinates (R, K, 2) and maxima (R, K)."""
        R, C, H, W = heatmaps.shape
        maps = heatmaps.reshape(R, C // 3, 3, H, W)
        # As mmpose's UDP decoding: the classification maps are blurred (kernel 2k + 1,
        # OpenCV's default border) before their maximum is taken. The score is the unblurred
        # map's value there (1 on a perfect disc; the blurred peak of a 3.5-pixel disc is
        # about 0.35, which would shift every keypoint score threshold).
        classes = gaussian_blur_reflect(maps[:, :, 0], 2 * self.blur_kernel_size + 1)
        x, y, _ = heatmap_argmax(classes)
        scores = sample_at(maps[:, :, 0], x, y)
        offset = torch.stack([sample_at(maps[:, :, 1], x, y), sample_at(maps[:, :, 2], x, y)],
                             dim=-1)
        return torch.stack([x, y], dim=-1).to(heatmaps.dtype) + offset * self.radius, scores

    def flip_back(self, heatmaps: Tensor, flip_indices) -> Tensor:
        """As :meth:`BaseHeatmapCodec.flip_back`; the x offsets also change sign."""
        maps = self._mirrored_maps(heatmaps, flip_indices)
        maps = torch.cat([maps[:, :, :1], -maps[:, :, 1:2], maps[:, :, 2:]], dim=2)
        return maps.reshape(heatmaps.shape)
