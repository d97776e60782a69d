"""Gaussian heatmap codecs for person RoIs: MSRA (baseline), DARK and UDP.

Pixel convention, used everywhere in hrpose
--------------------------------------------
Image coordinates are continuous: pixel ``i`` covers ``[i, i + 1)`` and its centre is at
``i + 0.5``. Image keypoints, boxes, RoIs (mmcv's ``RoIAlign(aligned=True)`` samples in this
convention) and flips (``x' = W - x``) all use it. COCO keypoint annotations are pixel
indices, so the dataset adds 0.5 when it loads them and the metric subtracts 0.5 when it
writes results.

Heatmap coordinates are pixel indices ``p``: the centre of heatmap pixel ``(j, i)`` is at
``p = (j, i)``. A codec maps image points into each RoI's heatmap and back:

* MSRA and DARK: the RoI ``[x1, x2]`` spans the heatmap's ``W`` pixels edge to edge,
  ``p = (x - x1) * W / (x2 - x1) - 0.5``: heatmap pixel ``j`` is RoIAlign's bin ``j``.
* UDP (unbiased data processing): the RoI's edges fall on the centres of the first and last
  pixels, ``p = (x - x1) * (W - 1) / (x2 - x1)``; RoIAlign then pools a region half a
  heatmap pixel larger on each side (:meth:`pooling_rois`) so that its bin centres land on
  those points.

Under both maps a horizontal flip of the image and of the RoI is ``p -> W - 1 - p`` on the
heatmap, so the flip test needs no pixel shift.
"""
from typing import Tuple

import torch
from torch import Tensor

from hrpose.registry import KEYPOINT_CODECS
from .refinement import (dark_offset, gaussian_blur_reflect, heatmap_argmax, quarter_offset,
                         sample_at)


def _check_pairs(keypoints: Tensor, rois: Tensor) -> None:
    if keypoints.dim() != 3 or keypoints.shape[-1] != 2:
        raise ValueError(f'keypoints must be (R, K, 2), got {tuple(keypoints.shape)}')
    if rois.shape != (keypoints.shape[0], 4):
        raise ValueError(f'rois must be (R, 4) with R={keypoints.shape[0]} to match the '
                         f'keypoints, got {tuple(rois.shape)}')


@KEYPOINT_CODECS.register_module()
class MSRAHeatmap:
    """Gaussian at the quantised keypoint; argmax + quarter-pixel shift on decoding.

    Encoding puts a Gaussian (standard deviation ``sigma`` heatmap pixels) on the centre of
    the heatmap pixel that holds the keypoint; decoding takes the argmax and moves a quarter
    pixel toward the higher neighbour on each axis. Both work on whole batches of RoIs.

    Args:
        heatmap_size: (W, H) of the heatmaps, e.g. (48, 64).
        sigma: Gaussian standard deviation in heatmap pixels.
        roi_padding: factor by which a person box grows once it has been widened or
            heightened to the heatmap aspect ratio W / H (top-down methods use 1.25).
    """

    # Output maps per keypoint the head must predict (3 for classification + x/y offsets).
    channels_per_keypoint = 1

    def __init__(self,
                 heatmap_size: Tuple[int, int] = (48, 64),
                 sigma: float = 2.0,
                 roi_padding: float = 1.25) -> None:
        if len(heatmap_size) != 2 or min(heatmap_size) < 2:
            raise ValueError(f'heatmap_size must be (W, H) with both >= 2, got {heatmap_size}')
        if sigma <= 0 or roi_padding <= 0:
            raise ValueError(f'sigma and roi_padding must be positive, got sigma={sigma}, '
                             f'roi_padding={roi_padding}')
        self.heatmap_size = tuple(int(s) for s in heatmap_size)
        self.sigma = float(sigma)
        self.roi_padding = float(roi_padding)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(heatmap_size={self.heatmap_size}, sigma={self.sigma}, '
                f'roi_padding={self.roi_padding})')

    @property
    def aspect_ratio(self) -> float:
        """Heatmap width over height: every RoI is expanded to this ratio."""
        return self.heatmap_size[0] / self.heatmap_size[1]

    def expand_rois(self, bboxes: Tensor) -> Tensor:
        """Grow person boxes to the heatmap aspect ratio, then by ``roi_padding``.

        Args:
            bboxes: (R, 4) boxes ``x1, y1, x2, y2`` in image coordinates.

        Returns:
            Tensor: (R, 4) RoIs with the same centres and ``w / h == W / H``.
        """
        centre = (bboxes[:, :2] + bboxes[:, 2:]) / 2
        w = (bboxes[:, 2] - bboxes[:, 0]).clamp(min=1e-3)
        h = (bboxes[:, 3] - bboxes[:, 1]).clamp(min=1e-3)
        # Keep the longer side (relative to the target ratio) and grow the other.
        w, h = torch.maximum(w, h * self.aspect_ratio), torch.maximum(h, w / self.aspect_ratio)
        half = torch.stack([w, h], dim=1) * (self.roi_padding / 2)
        return torch.cat([centre - half, centre + half], dim=1)

    def pooling_rois(self, rois: Tensor) -> Tensor:
        """The region RoIAlign pools for each RoI, so that bin ``j`` is heatmap pixel ``j``."""
        return rois

    def _scale_and_shift(self, rois: Tensor) -> Tuple[Tensor, float]:
        """Pixels per image unit (R, 1, 2) and the shift of the map ``p = s * (x - x1) + c``."""
        size = rois.new_tensor(self.heatmap_size)
        extent = (rois[:, None, 2:] - rois[:, None, :2]).clamp(min=1e-6)
        return size / extent, -0.5

    def to_heatmap_coords(self, keypoints: Tensor, rois: Tensor) -> Tensor:
        """Image coordinates (R, K, 2) -> heatmap pixel coordinates ``p`` (R, K, 2)."""
        _check_pairs(keypoints, rois)
        scale, shift = self._scale_and_shift(rois)
        return (keypoints - rois[:, None, :2]) * scale + shift

    def to_image_coords(self, coords: Tensor, rois: Tensor) -> Tensor:
        """Heatmap pixel coordinates ``p`` (R, K, 2) -> image coordinates (R, K, 2)."""
        _check_pairs(coords, rois)
        scale, shift = self._scale_and_shift(rois)
        return rois[:, None, :2] + (coords - shift) / scale

    def target_weights(self, coords: Tensor, keypoints_visible: Tensor) -> Tensor:
        """(R, K): 1 for a labelled keypoint whose heatmap coordinates ``coords`` (R, K, 2)
        fall on one of the heatmap's pixels, else 0."""
        W, H = self.heatmap_size
        inside = ((coords[..., 0] >= -0.5) & (coords[..., 0] < W - 0.5) &
                  (coords[..., 1] >= -0.5) & (coords[..., 1] < H - 0.5))
        return ((keypoints_visible > 0) & inside).to(coords.dtype)

    def gaussian_centres(self, coords: Tensor) -> Tensor:
        """Where the target Gaussians sit (R, K, 2); MSRA: the nearest pixel centre."""
        return torch.floor(coords + 0.5)

    def refine(self, heatmaps: Tensor, x: Tensor, y: Tensor) -> Tensor:
        """Sub-pixel offsets (R, K, 2) at the integer maxima; MSRA: the quarter shift."""
        return quarter_offset(heatmaps, x, y)

    def encode(self, keypoints: Tensor, keypoints_visible: Tensor,
               rois: Tensor) -> Tuple[Tensor, Tensor]:
        """Heatmap targets and their weights for a batch of RoIs.

        Args:
            keypoints: (R, K, 2) keypoints in image coordinates.
            keypoints_visible: (R, K) visibility (> 0: labelled).
            rois: (R, 4) expanded RoIs (see :meth:`expand_rois`) in image coordinates.

        Returns:
            tuple: heatmaps (R, K, H, W) with a unit-peak Gaussian at each keypoint, and
            weights (R, K): 1 for a labelled keypoint inside its RoI's heatmap, else 0.
        """
        coords = self.to_heatmap_coords(keypoints.float(), rois.float())
        W, H = self.heatmap_size
        centres = self.gaussian_centres(coords)
        xs = torch.arange(W, dtype=coords.dtype, device=coords.device)
        ys = torch.arange(H, dtype=coords.dtype, device=coords.device)
        # Separable Gaussian: exp(-(dx^2 + dy^2) / 2s^2) = gx * gy.
        gx = torch.exp(-(xs - centres[..., 0:1])**2 / (2 * self.sigma**2))  # (R, K, W)
        gy = torch.exp(-(ys - centres[..., 1:2])**2 / (2 * self.sigma**2))  # (R, K, H)
        heatmaps = gy[..., :, None] * gx[..., None, :]
        weights = self.target_weights(coords, keypoints_visible)
        heatmaps = heatmaps * weights[..., None, None]
        return heatmaps, weights

    def decode_heatmap_coords(self, heatmaps: Tensor) -> Tuple[Tensor, Tensor]:
        """Maximum + refinement: heatmap pixel coordinates (R, K, 2) and maxima (R, K)."""
        x, y, scores = heatmap_argmax(heatmaps)
        integer = torch.stack([x, y], dim=-1).to(heatmaps.dtype)
        return integer + self.refine(heatmaps, x, y), scores

    def decode(self, heatmaps: Tensor, rois: Tensor) -> Tuple[Tensor, Tensor]:
        """Keypoints in image coordinates from a batch of heatmaps.

        Args:
            heatmaps: (R, K, H, W) predicted heatmaps.
            rois: (R, 4) the expanded RoIs they were predicted for.

        Returns:
            tuple: keypoints (R, K, 2) in image coordinates and scores (R, K), the heatmap
            maxima, both float32 (decoding runs in float32 with autocast off).
        """
        # In float32 whatever the head's dtype: under autocast the blur's products run in
        # half precision, where the log's floor of 1e-10 is 0 and log(0) = -inf.
        with torch.autocast(device_type=heatmaps.device.type, enabled=False):
            coords, scores = self.decode_heatmap_coords(heatmaps.float())
            return self.to_image_coords(coords, rois.float()), scores


@KEYPOINT_CODECS.register_module()
class DARKHeatmap(MSRAHeatmap):
    """DARK (Zhang et al., CVPR 2020): unbiased Gaussian targets at the exact sub-pixel
    keypoint; decoding by Gaussian modulation, log and one Newton step at the maximum.

    Args:
        blur_kernel_size: Gaussian kernel of the modulation (11 for sigma 2 at 64x48).
        **kwargs: :class:`MSRAHeatmap` arguments.
    """

    def __init__(self, blur_kernel_size: int = 11, **kwargs) -> None:
        super().__init__(**kwargs)
        self.blur_kernel_size = blur_kernel_size

    def gaussian_centres(self, coords: Tensor) -> Tensor:
        return coords

    def refine(self, heatmaps: Tensor, x: Tensor, y: Tensor) -> Tensor:
        return dark_offset(heatmaps, x, y, self.blur_kernel_size)


@KEYPOINT_CODECS.register_module()
class UDPHeatmap(DARKHeatmap):
    """UDP (Huang et al., CVPR 2020): the unbiased transform, RoI edges on the centres of
    the first and last heatmap pixels (scale ``(W - 1) / roi_w``), with Gaussian targets at
    the exact keypoint and DARK-style refinement. Encoding, decoding, RoI pooling and flips
    all use the same transform.
    """

    def pooling_rois(self, rois: Tensor) -> Tensor:
        # Half a heatmap pixel more on each side: RoIAlign's bin centres then fall on
        # x1 + j * roi_w / (W - 1), j = 0 .. W - 1.
        size = rois.new_tensor(self.heatmap_size)
        extent = rois[:, 2:] - rois[:, :2]
        half_pixel = extent / (size - 1) / 2
        return torch.cat([rois[:, :2] - half_pixel, rois[:, 2:] + half_pixel], dim=1)

    def _scale_and_shift(self, rois: Tensor) -> Tuple[Tensor, float]:
        size = rois.new_tensor(self.heatmap_size)
        extent = (rois[:, None, 2:] - rois[:, None, :2]).clamp(min=1e-6)
        return (size - 1) / extent, 0.0


@KEYPOINT_CODECS.register_module()
class UDPCombinedHeatmap(UDPHeatmap):
    """UDP's 'combined' targets: per keypoint a classification map (1 within ``radius`` of
    the keypoint) and x/y offset maps ``(keypoint - pixel) / radius``; decoding reads the
    offsets at the maximum of the blurred classification map. Heatmaps are (R, 3K, H, W),
    ordered [class, x offset, y offset] per keypoint.

    Args:
        radius_factor: the radius as a fraction of the longer heatmap side (UDP's 0.0546875,
            3.5 pixels at 64x48).
        **kwargs: :class:`MSRAHeatmap` arguments.
    """

    channels_per_keypoint = 3

    def __init__(self, radius_factor: float = 0.0546875, **kwargs) -> None:
        super().__init__(**kwargs)
        self.radius = radius_factor * max(self.heatmap_size)

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


@KEYPOINT_CODECS.register_module()
class OneHotHeatmap(MSRAHeatmap):
    """Keypoint R-CNN's targets (He et al., 2017): a one-hot map at the keypoint's pixel of
    a square heatmap (default 56x56) laid over the person box as it is (no aspect-ratio
    expansion, no padding); decoding as detectron2 does it (bicubic resize of the logits to
    the RoI's size, argmax there, softmax scores). The baseline the Gaussian codecs are
    compared against, trained with a cross-entropy over positions.
    """

    def __init__(self, heatmap_size: Tuple[int, int] = (56, 56), roi_padding: float = 1.0,
                 **kwargs) -> None:
        super().__init__(heatmap_size=heatmap_size, roi_padding=roi_padding, **kwargs)

    def expand_rois(self, bboxes: Tensor) -> Tensor:
        centre = (bboxes[:, :2] + bboxes[:, 2:]) / 2
        half = (bboxes[:, 2:] - bboxes[:, :2]).clamp(min=1e-3) * (self.roi_padding / 2)
        return torch.cat([centre - half, centre + half], dim=1)

    def encode(self, keypoints: Tensor, keypoints_visible: Tensor,
               rois: Tensor) -> Tuple[Tensor, Tensor]:
        """One-hot maps (R, K, H, W) at the nearest pixel and weights (R, K)."""
        coords = self.to_heatmap_coords(keypoints.float(), rois.float())
        W, H = self.heatmap_size
        centres = self.gaussian_centres(coords)
        xs = torch.arange(W, dtype=coords.dtype, device=coords.device)
        ys = torch.arange(H, dtype=coords.dtype, device=coords.device)
        one_hot = ((ys == centres[..., 1:2])[..., :, None] &
                   (xs == centres[..., 0:1])[..., None, :]).to(coords.dtype)
        weights = self.target_weights(coords, keypoints_visible)
        return one_hot * weights[..., None, None], weights

    def refine(self, heatmaps: Tensor, x: Tensor, y: Tensor) -> Tensor:
        return heatmaps.new_zeros(x.shape + (2, ))

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
                index = torch.nonzero((sizes_ceil[:, 0] == w_ceil) &
                                      (sizes_ceil[:, 1] == h_ceil)).flatten()
                logits = heatmaps[index]
                resized = torch.nn.functional.interpolate(
                    logits, size=(int(h_ceil), int(w_ceil)), mode='bicubic',
                    align_corners=False)
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
