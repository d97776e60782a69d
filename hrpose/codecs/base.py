"""What every heatmap codec shares: the RoI geometry and the float32 decoding frame.

Image coordinates follow hrpose's pixel convention (:mod:`hrpose.structures.keypoints`):
pixel ``i`` spans ``[i, i + 1)``. Heatmap coordinates are pixel indices ``p``: the centre of
heatmap pixel ``(j, i)`` is at ``p = (j, i)``. A codec maps image points into each RoI's
heatmap and back, in one of two ways:

* edge to edge (MSRA, DARK, one-hot): the RoI ``[x1, x2]`` spans the heatmap's ``W``
  pixels, ``p = (x - x1) * W / (x2 - x1) - 0.5``: heatmap pixel ``j`` is RoIAlign's bin
  ``j``.
* unbiased (UDP, ``unbiased_transform = True``): the RoI's edges fall on the centres of the
  first and last pixels, ``p = (x - x1) * (W - 1) / (x2 - x1)``; RoIAlign then pools a
  region half a heatmap pixel larger on each side (:meth:`pooling_rois`) so that its bin
  centres land on those points.

Under both maps a horizontal flip of the image and of the RoI is ``p -> W - 1 - p`` on the
heatmap, so flipping heatmaps back (:meth:`flip_back`) needs no pixel shift.
"""
import inspect
import math
from abc import ABCMeta, abstractmethod
from typing import Sequence, Tuple

import torch
from torch import Tensor


def check_pairs(keypoints: Tensor, rois: Tensor) -> None:
    if keypoints.dim() != 3 or keypoints.shape[-1] != 2:
        raise ValueError(f'keypoints must be (R, K, 2), got {tuple(keypoints.shape)}')
    if rois.shape != (keypoints.shape[0], 4):
        raise ValueError(f'rois must be (R, 4) with R={keypoints.shape[0]} to match the '
                         f'keypoints, got {tuple(rois.shape)}')


def gaussian_heatmaps(centres: Tensor, heatmap_size: Tuple[int, int], sigma: float) -> Tensor:
    """Unit-peak Gaussians (R, K, H, W) of standard deviation ``sigma`` heatmap pixels at
    ``centres`` (R, K, 2), heatmap coordinates, over the whole heatmap (DARK's targets)."""
    W, H = heatmap_size
    xs = torch.arange(W, dtype=centres.dtype, device=centres.device)
    ys = torch.arange(H, dtype=centres.dtype, device=centres.device)
    # Separable: exp(-(dx^2 + dy^2) / 2s^2) = gx * gy.
    gx = torch.exp(-(xs - centres[..., 0:1])**2 / (2 * sigma**2))  # (R, K, W)
    gy = torch.exp(-(ys - centres[..., 1:2])**2 / (2 * sigma**2))  # (R, K, H)
    return gy[..., :, None] * gx[..., None, :]


def gaussian_window(coords: Tensor, sigma: float, rounded: bool) -> Tuple[Tensor, Tensor]:
    """The box ``[first, last)`` (each (R, K, 2)) of a keypoint's Gaussian target, 3 sigma
    each side, as mmpose bounds it: around the rounded keypoint ``trunc(p + 0.5)`` with
    ``trunc`` bounds (``rounded``, MSRA and UDP: numpy's ``astype(int64)`` rounds toward
    zero, so a keypoint left of or above the heatmap is placed as mmpose places it), or
    around the exact keypoint (DARK)."""
    radius = 3 * sigma
    if not rounded:
        return coords - radius, coords + radius + 1
    centre = torch.trunc(coords + 0.5)
    return torch.trunc(centre - radius), torch.trunc(centre + radius + 1)


def windowed_gaussian_heatmaps(coords: Tensor, heatmap_size: Tuple[int, int], sigma: float,
                               subpixel: bool) -> Tensor:
    """Gaussians cut to the square window of :func:`gaussian_window` around the rounded
    keypoint, as mmpose's MSRA (``subpixel=False``: peak on the rounded keypoint) and UDP
    (``subpixel=True``: peak on the exact keypoint) targets are drawn.

    Args:
        coords: (R, K, 2) heatmap coordinates.
        heatmap_size: (W, H).
        sigma: standard deviation in heatmap pixels.
        subpixel: centre the Gaussian on the exact keypoint.

    Returns:
        Tensor: (R, K, H, W).
    """
    patch_size = 2 * 3 * sigma + 1
    patch_len = math.ceil(patch_size)  # np.arange(0, patch_size) has this many points
    first, last = gaussian_window(coords, sigma, rounded=True)
    # The patch's peak in patch points: its middle, moved by the rounding for UDP.
    peak = math.floor(patch_size / 2) + (
        (coords - torch.trunc(coords + 0.5)) if subpixel else torch.zeros_like(coords))
    axes = []
    for axis, size in enumerate(heatmap_size):
        grid = torch.arange(size, dtype=coords.dtype, device=coords.device)
        low, high = first[..., axis:axis + 1], last[..., axis:axis + 1]
        point = grid - low  # (R, K, size): the patch point of each pixel
        inside = (grid >= low) & (grid < high) & (point < patch_len)
        value = torch.exp(-(point - peak[..., axis:axis + 1])**2 / (2 * sigma**2))
        axes.append(value * inside.to(coords.dtype))
    gx, gy = axes
    return gy[..., :, None] * gx[..., None, :]


def gaussian_target_weights(coords: Tensor, keypoints_visible: Tensor,
                            heatmap_size: Tuple[int, int], sigma: float, rounded: bool) -> Tensor:
    """(R, K) weights as mmpose gives them: 1 for a labelled keypoint (visibility >= 0.5)
    whose 3-sigma box (:func:`gaussian_window`) reaches the heatmap, else 0."""
    first, last = gaussian_window(coords, sigma, rounded)
    size = coords.new_tensor(heatmap_size)
    reaches = ((first < size) & (last >= 0)).all(dim=-1)
    return ((keypoints_visible >= 0.5) & reaches).to(coords.dtype)


class BaseHeatmapCodec(metaclass=ABCMeta):
    """Person RoIs <-> heatmaps: the geometry every codec shares.

    A codec turns keypoints into heatmap targets (:meth:`encode`) and heatmaps back into
    keypoints (:meth:`decode`) for a batch of RoIs, and owns the RoI geometry both use, so
    that training and inference cannot drift apart. Both are templates around the heatmap
    frame: subclasses implement :meth:`encode_heatmap_coords` and
    :meth:`decode_heatmap_coords` (or override :meth:`decode` as a whole).

    Args:
        heatmap_size: (W, H) of the heatmaps, e.g. (48, 64).
        roi_padding: factor by which a person box grows once it has been widened or
            heightened to the heatmap aspect ratio W / H (top-down methods use 1.25).
    """

    # Output maps per keypoint the head must predict.
    channels_per_keypoint = 1
    # True: RoI edges on the centres of the first and last heatmap pixels (UDP).
    unbiased_transform = False

    def __init__(self,
                 heatmap_size: Tuple[int, int] = (48, 64),
                 roi_padding: float = 1.25) -> None:
        if len(heatmap_size) != 2 or min(heatmap_size) < 2:
            raise ValueError(f'heatmap_size must be (W, H) with both >= 2, got {heatmap_size}')
        if roi_padding <= 0:
            raise ValueError(f'roi_padding must be positive, got {roi_padding}')
        self.heatmap_size = tuple(int(s) for s in heatmap_size)
        self.roi_padding = float(roi_padding)

    def __repr__(self) -> str:
        # Every codec keeps its constructor arguments as attributes of the same names.
        names = [n for n in inspect.signature(type(self).__init__).parameters if n != 'self']
        args = ', '.join(f'{n}={getattr(self, n)}' for n in names)
        return f'{type(self).__name__}({args})'

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
        """The region RoIAlign pools for each RoI (R, 4), so that bin ``j`` is heatmap
        pixel ``j``: the RoI itself, or half a heatmap pixel more on each side with the
        unbiased transform (bin centres at ``x1 + j * roi_w / (W - 1)``)."""
        if not self.unbiased_transform:
            return rois
        size = rois.new_tensor(self.heatmap_size)
        half_pixel = (rois[:, 2:] - rois[:, :2]) / (size - 1) / 2
        return torch.cat([rois[:, :2] - half_pixel, rois[:, 2:] + half_pixel], dim=1)

    def _scale_and_shift(self, rois: Tensor) -> Tuple[Tensor, float]:
        """Pixels per image unit (R, 1, 2) and the shift of the map ``p = s * (x - x1) + c``."""
        size = rois.new_tensor(self.heatmap_size)
        extent = (rois[:, None, 2:] - rois[:, None, :2]).clamp(min=1e-6)
        if self.unbiased_transform:
            return (size - 1) / extent, 0.0
        return size / extent, -0.5

    def to_heatmap_coords(self, keypoints: Tensor, rois: Tensor) -> Tensor:
        """Image coordinates (R, K, 2) -> heatmap pixel coordinates ``p`` (R, K, 2)."""
        check_pairs(keypoints, rois)
        scale, shift = self._scale_and_shift(rois)
        return (keypoints - rois[:, None, :2]) * scale + shift

    def to_image_coords(self, coords: Tensor, rois: Tensor) -> Tensor:
        """Heatmap pixel coordinates ``p`` (R, K, 2) -> image coordinates (R, K, 2)."""
        check_pairs(coords, rois)
        scale, shift = self._scale_and_shift(rois)
        return rois[:, None, :2] + (coords - shift) / scale

    def target_weights(self, coords: Tensor, keypoints_visible: Tensor) -> Tensor:
        """(R, K): 1 for a labelled keypoint whose heatmap coordinates ``coords`` (R, K, 2)
        fall on one of the heatmap's pixels, else 0."""
        W, H = self.heatmap_size
        inside = ((coords[..., 0] >= -0.5) & (coords[..., 0] < W - 0.5) & (coords[..., 1] >= -0.5)
                  & (coords[..., 1] < H - 0.5))
        return ((keypoints_visible > 0) & inside).to(coords.dtype)

    def encode(self, keypoints: Tensor, keypoints_visible: Tensor,
               rois: Tensor) -> Tuple[Tensor, Tensor]:
        """Heatmap targets and their weights for a batch of RoIs.

        Args:
            keypoints: (R, K, 2) keypoints in image coordinates.
            keypoints_visible: (R, K) visibility (> 0: labelled).
            rois: (R, 4) expanded RoIs (see :meth:`expand_rois`) in image coordinates.

        Returns:
            tuple: targets (R, K * channels_per_keypoint, H, W) and weights (R, K): 1 for a
            labelled keypoint inside its RoI's heatmap, else 0.
        """
        return self.encode_heatmap_coords(
            self.to_heatmap_coords(keypoints.float(), rois.float()), keypoints_visible)

    @abstractmethod
    def encode_heatmap_coords(self, coords: Tensor,
                              keypoints_visible: Tensor) -> Tuple[Tensor, Tensor]:
        """Targets (R, K * C, H, W) and weights (R, K) of keypoints at heatmap pixel
        coordinates ``coords`` (R, K, 2, float32) with visibility (R, K)."""

    def decode_heatmap_coords(self, heatmaps: Tensor) -> Tuple[Tensor, Tensor]:
        """Heatmap pixel coordinates (R, K, 2) and scores (R, K) of (R, K * C, H, W) maps."""
        raise NotImplementedError

    def decode(self, heatmaps: Tensor, rois: Tensor) -> Tuple[Tensor, Tensor]:
        """Keypoints in image coordinates from a batch of heatmaps.

        Args:
            heatmaps: (R, K * channels_per_keypoint, H, W) predicted heatmaps.
            rois: (R, 4) the expanded RoIs they were predicted for.

        Returns:
            tuple: keypoints (R, K, 2) in image coordinates and scores (R, K), both float32
            (decoding runs in float32 with autocast off).
        """
        # In float32 whatever the head's dtype: under autocast the blur's products run in
        # half precision, where the log's floor of 1e-10 is 0 and log(0) = -inf.
        with torch.autocast(device_type=heatmaps.device.type, enabled=False):
            coords, scores = self.decode_heatmap_coords(heatmaps.float())
            return self.to_image_coords(coords, rois.float()), scores

    def flip_back(self, heatmaps: Tensor, flip_indices: Sequence[int]) -> Tensor:
        """Heatmaps predicted for the mirrored RoIs on the mirrored image, mapped back to the
        original frame: the width axis mirrored and left and right keypoints swapped.

        Args:
            heatmaps: (R, K * channels_per_keypoint, H, W).
            flip_indices: K entries; keypoint ``i`` of a mirrored person is
                ``flip_indices[i]``.

        Returns:
            Tensor: (R, K * channels_per_keypoint, H, W).
        """
        return self._mirrored_maps(heatmaps, flip_indices).reshape(heatmaps.shape)

    def _mirrored_maps(self, heatmaps: Tensor, flip_indices: Sequence[int]) -> Tensor:
        """(R, K * C, H, W) -> (R, K, C, H, W), mirrored in width, keypoints reordered."""
        R, C, H, W = heatmaps.shape
        per_keypoint = self.channels_per_keypoint
        if len(flip_indices) * per_keypoint != C:
            raise ValueError(f'flip_indices has {len(flip_indices)} entries for heatmaps with '
                             f'{C} channels ({per_keypoint} per keypoint)')
        index = torch.as_tensor(list(flip_indices), device=heatmaps.device, dtype=torch.long)
        maps = heatmaps.flip(-1).reshape(R, len(flip_indices), per_keypoint, H, W)
        return maps.index_select(1, index)


class GaussianHeatmapCodec(BaseHeatmapCodec):
    """Codecs whose targets are unit-peak Gaussians of ``sigma`` heatmap pixels, one per
    keypoint, drawn and weighted as mmpose draws them. Subclasses say where the peak sits
    (``target_peak``) and implement :meth:`decode_heatmap_coords`:

    * ``'rounded'`` (MSRA): on the nearest pixel centre, cut to 3 sigma around it;
    * ``'exact'`` (DARK): on the exact keypoint, over the whole heatmap;
    * ``'subpixel'`` (UDP): on the exact keypoint, cut to 3 sigma around the nearest pixel.

    Args:
        heatmap_size: (W, H) of the heatmaps, e.g. (48, 64).
        sigma: Gaussian standard deviation in heatmap pixels.
        roi_padding: see :class:`BaseHeatmapCodec`.
    """

    target_peak = 'exact'

    def __init__(self,
                 heatmap_size: Tuple[int, int] = (48, 64),
                 sigma: float = 2.0,
                 roi_padding: float = 1.25) -> None:
        super().__init__(heatmap_size=heatmap_size, roi_padding=roi_padding)
        if sigma <= 0:
            raise ValueError(f'sigma must be positive, got {sigma}')
        self.sigma = float(sigma)

    def encode_heatmap_coords(self, coords: Tensor,
                              keypoints_visible: Tensor) -> Tuple[Tensor, Tensor]:
        """Targets (R, K, H, W) and weights (R, K) (1: labelled, its 3-sigma box on the
        heatmap)."""
        exact = self.target_peak == 'exact'
        weights = gaussian_target_weights(
            coords, keypoints_visible, self.heatmap_size, self.sigma, rounded=not exact)
        if exact:
            heatmaps = gaussian_heatmaps(coords, self.heatmap_size, self.sigma)
        else:
            heatmaps = windowed_gaussian_heatmaps(
                coords, self.heatmap_size, self.sigma, subpixel=self.target_peak == 'subpixel')
        return heatmaps * weights[..., None, None], weights
