"""UDP (Huang et al., The Devil is in the Details: Unbiased Data Processing, CVPR 2020)."""
from typing import Tuple

import torch
from torch import Tensor

from hrpose.registry import KEYPOINT_CODECS

from .base import BaseHeatmapCodec
from .dark import DARKHeatmap
from .refinement import dark_udp_offset, gaussian_blur_reflect, heatmap_argmax, sample_at


@KEYPOINT_CODECS.register_module()
class UDPHeatmap(DARKHeatmap):
    """UDP's Gaussian heatmaps, as mmpose's ``UDPHeatmap(heatmap_type='gaussian')``.

    The unbiased transform puts the RoI's edges on the centres of the first and last
    heatmap pixels (scale ``(W - 1) / roi_w``); encoding, decoding, RoI pooling and flips all
    use it. Targets: a Gaussian at the exact sub-pixel keypoint, cut to a square of 3 sigma
    around the rounded keypoint (``generate_udp_gaussian_heatmaps``). Decoding: the argmax,
    then UDP's refinement (``refine_keypoints_dark_udp``, :func:`dark_udp_offset`).

    Args:
        heatmap_size, sigma, roi_padding, blur_kernel_size: as :class:`DARKHeatmap`.
        refinement: ``'udp'`` (the reference's, default) or ``'dark'``: DARK's refinement
            (two-pixel differences, no clipping, none within 2 pixels of the border), which
            is not the published UDP method.
    """

    unbiased_transform = True
    target_peak = 'subpixel'
    REFINEMENTS = ('udp', 'dark')

    def __init__(self,
                 heatmap_size: Tuple[int, int] = (48, 64),
                 sigma: float = 2.0,
                 roi_padding: float = 1.25,
                 blur_kernel_size: int = 11,
                 refinement: str = 'udp') -> None:
        super().__init__(
            heatmap_size=heatmap_size,
            sigma=sigma,
            roi_padding=roi_padding,
            blur_kernel_size=blur_kernel_size)
        if refinement not in self.REFINEMENTS:
            raise ValueError(f'refinement must be one of {self.REFINEMENTS}, got {refinement!r}')
        self.refinement = refinement

    def decode_heatmap_coords(self, heatmaps: Tensor) -> Tuple[Tensor, Tensor]:
        """Argmax + UDP's (or DARK's) refinement: coordinates (R, K, 2) and maxima (R, K)."""
        if self.refinement == 'dark':
            return super().decode_heatmap_coords(heatmaps)
        x, y, scores = heatmap_argmax(heatmaps)
        integer = torch.stack([x, y], dim=-1).to(heatmaps.dtype)
        return integer + dark_udp_offset(heatmaps, x, y, self.blur_kernel_size), scores


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

    def __init__(self,
                 heatmap_size: Tuple[int, int] = (48, 64),
                 roi_padding: float = 1.25,
                 radius_factor: float = 0.0546875,
                 blur_kernel_size: int = 11) -> None:
        super().__init__(heatmap_size=heatmap_size, roi_padding=roi_padding)
        self.radius_factor = float(radius_factor)
        self.radius = radius_factor * max(self.heatmap_size)
        self.blur_kernel_size = blur_kernel_size

    def encode_heatmap_coords(self, coords: Tensor,
                              keypoints_visible: Tensor) -> Tuple[Tensor, Tensor]:
        """Targets (R, 3K, H, W) and weights (R, K)."""
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
        # The offset maps are blurred too (kernel k), as mmpose decodes them.
        offsets = gaussian_blur_reflect(maps[:, :, 1:].reshape(R, 2 * (C // 3), H, W),
                                        self.blur_kernel_size).reshape(R, C // 3, 2, H, W)
        offset = torch.stack(
            [sample_at(offsets[:, :, 0], x, y),
             sample_at(offsets[:, :, 1], x, y)], dim=-1)
        return torch.stack([x, y], dim=-1).to(heatmaps.dtype) + offset * self.radius, scores

    def flip_back(self, heatmaps: Tensor, flip_indices) -> Tensor:
        """As :meth:`BaseHeatmapCodec.flip_back`; the x offsets also change sign."""
        maps = self._mirrored_maps(heatmaps, flip_indices)
        maps = torch.cat([maps[:, :, :1], -maps[:, :, 1:2], maps[:, :, 2:]], dim=2)
        return maps.reshape(heatmaps.shape)
