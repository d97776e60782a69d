"""Gaussian heatmap codec for person RoIs (MSRA / SimpleBaseline style).

Pixel convention, used everywhere in hrpose
--------------------------------------------
Coordinates are continuous: pixel ``i`` covers ``[i, i + 1)`` and its centre is at
``i + 0.5``. Image keypoints, boxes, RoIs (mmcv's ``RoIAlign(aligned=True)`` samples in this
convention) and flips (``x' = W - x``) all use it. COCO keypoint annotations are pixel
indices, so the dataset adds 0.5 when it loads them and the metric subtracts 0.5 when it
writes results.

An RoI ``[x1, y1, x2, y2]`` maps onto a ``W x H`` heatmap with heatmap coordinate
``u = (x - x1) * W / (x2 - x1)``; heatmap pixel ``j`` covers ``[j, j + 1)`` of ``u`` and
its centre is ``u = j + 0.5``, just as RoIAlign's output bin ``j`` covers the same stretch
of the RoI.
"""
from typing import Tuple

import torch
from torch import Tensor

from hrpose.registry import KEYPOINT_CODECS


def _check_pairs(keypoints: Tensor, rois: Tensor) -> None:
    if keypoints.dim() != 3 or keypoints.shape[-1] != 2:
        raise ValueError(f'keypoints must be (R, K, 2), got {tuple(keypoints.shape)}')
    if rois.shape != (keypoints.shape[0], 4):
        raise ValueError(f'rois must be (R, 4) with R={keypoints.shape[0]} to match the '
                         f'keypoints, got {tuple(rois.shape)}')


@KEYPOINT_CODECS.register_module()
class MSRAHeatmap:
    """Gaussian heatmaps at the quantised keypoint, argmax + quarter-pixel decoding.

    Encoding puts a Gaussian (standard deviation ``sigma`` heatmap pixels) on the centre of
    the heatmap pixel that holds the keypoint; decoding takes the argmax and moves a quarter
    pixel toward the higher neighbour on each axis. Both work on whole batches of RoIs.

    Args:
        heatmap_size: (W, H) of the heatmaps, e.g. (48, 64).
        sigma: Gaussian standard deviation in heatmap pixels.
        roi_padding: factor by which a person box grows once it has been widened or
            heightened to the heatmap aspect ratio W / H (top-down methods use 1.25).
    """

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

    def to_heatmap_coords(self, keypoints: Tensor, rois: Tensor) -> Tensor:
        """Image coordinates (R, K, 2) -> heatmap coordinates ``u`` (R, K, 2) of each RoI."""
        _check_pairs(keypoints, rois)
        size = keypoints.new_tensor(self.heatmap_size)
        origin = rois[:, None, :2]
        extent = (rois[:, None, 2:] - rois[:, None, :2]).clamp(min=1e-6)
        return (keypoints - origin) * size / extent

    def to_image_coords(self, coords: Tensor, rois: Tensor) -> Tensor:
        """Heatmap coordinates ``u`` (R, K, 2) -> image coordinates (R, K, 2)."""
        _check_pairs(coords, rois)
        size = coords.new_tensor(self.heatmap_size)
        origin = rois[:, None, :2]
        extent = rois[:, None, 2:] - rois[:, None, :2]
        return origin + coords * extent / size

    def gaussian_centres(self, coords: Tensor) -> Tensor:
        """Where the target Gaussians sit, in heatmap pixel indices (R, K, 2).

        MSRA quantises: the centre of the pixel that holds the keypoint.
        """
        return torch.floor(coords)

    def encode(self, keypoints: Tensor, keypoints_visible: Tensor,
               rois: Tensor) -> Tuple[Tensor, Tensor]:
        """Heatmap targets and their weights for a batch of RoIs.

        Args:
            keypoints: (R, K, 2) keypoints in image coordinates.
            keypoints_visible: (R, K) visibility (> 0: labelled).
            rois: (R, 4) expanded RoIs (see :meth:`expand_rois`) in image coordinates.

        Returns:
            tuple: heatmaps (R, K, H, W) with peak 1 at the keypoint, and weights (R, K):
            1 for a labelled keypoint inside its RoI, else 0.
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
        inside = ((coords[..., 0] >= 0) & (coords[..., 0] < W) & (coords[..., 1] >= 0) &
                  (coords[..., 1] < H))
        weights = ((keypoints_visible > 0) & inside).to(heatmaps.dtype)
        heatmaps = heatmaps * weights[..., None, None]
        return heatmaps, weights

    def decode(self, heatmaps: Tensor, rois: Tensor) -> Tuple[Tensor, Tensor]:
        """Keypoints in image coordinates from a batch of heatmaps.

        Args:
            heatmaps: (R, K, H, W) predicted heatmaps.
            rois: (R, 4) the expanded RoIs they were predicted for.

        Returns:
            tuple: keypoints (R, K, 2) in image coordinates and scores (R, K), the heatmap
            maxima.
        """
        coords, scores = self.decode_heatmap_coords(heatmaps)
        return self.to_image_coords(coords, rois.to(coords.dtype)), scores

    def decode_heatmap_coords(self, heatmaps: Tensor) -> Tuple[Tensor, Tensor]:
        """Argmax + quarter-pixel shift: heatmap coordinates (R, K, 2) and maxima (R, K)."""
        if heatmaps.dim() != 4:
            raise ValueError(f'heatmaps must be (R, K, H, W), got {tuple(heatmaps.shape)}')
        R, K, H, W = heatmaps.shape
        scores, index = heatmaps.reshape(R, K, H * W).max(dim=-1)
        x = index % W
        y = torch.div(index, W, rounding_mode='floor')
        flat = heatmaps.reshape(R, K, H * W)

        def value_at(xi: Tensor, yi: Tensor) -> Tensor:
            return flat.gather(-1, (yi.clamp(0, H - 1) * W + xi.clamp(0, W - 1))[..., None])[..., 0]

        # Quarter-pixel shift toward the higher neighbour, only where both neighbours exist.
        dx = torch.sign(value_at(x + 1, y) - value_at(x - 1, y)) * 0.25
        dy = torch.sign(value_at(x, y + 1) - value_at(x, y - 1)) * 0.25
        dx = torch.where((x > 0) & (x < W - 1), dx, torch.zeros_like(dx))
        dy = torch.where((y > 0) & (y < H - 1), dy, torch.zeros_like(dy))
        coords = torch.stack([x.to(heatmaps.dtype) + 0.5 + dx, y.to(heatmaps.dtype) + 0.5 + dy],
                             dim=-1)
        return coords, scores
