"""numpy transcriptions of mmpose's heatmap codecs, one instance at a time, for the tests.

Transcribed from open-mmlab/mmpose (1.x):

* ``mmpose/codecs/utils/gaussian_heatmap.py`` at 394b17401e1d0d33e7fcb4039d27e32dea6cba88:
  ``generate_gaussian_heatmaps`` (MSRA), ``generate_unbiased_gaussian_heatmaps`` (DARK),
  ``generate_udp_gaussian_heatmaps`` (UDP);
* ``mmpose/codecs/utils/post_processing.py`` at 557f0d632a4b6358eca2c2919d5ebf3aec79da1c:
  ``get_heatmap_maximum``, ``gaussian_blur``;
* ``mmpose/codecs/utils/refinement.py`` at 0b9a7cfc46dc9354caff604c7fe465fe590ece54:
  ``refine_keypoints`` (MSRA), ``refine_keypoints_dark`` (DARK),
  ``refine_keypoints_dark_udp`` (UDP);
* ``mmpose/codecs/udp_heatmap.py`` at 4a6e88e856a8f2e88f69427eb7900f2791752899: UDP decodes
  with ``refine_keypoints_dark_udp``; its 'combined' maps are decoded by blurring each
  classification map (kernel 2k + 1) and each offset map (kernel k) with OpenCV's default
  border, then reading the offsets at the classification maximum.

Everything here works in heatmap pixel coordinates (the centre of pixel ``(j, i)`` is
``(j, i)``), the frame in which mmpose encodes (``keypoints / scale_factor``) and decodes
(before ``* scale_factor``); the map between a RoI and that frame is hrpose's own and is
tested on its own. Loops over keypoints stay as loops, the way the reference reads.
"""
from typing import Tuple

import cv2
import numpy as np


def _to_int(value):
    """numpy's ``astype(np.int64)``: truncation toward zero (not floor)."""
    return np.asarray(value).astype(np.int64)


def _gaussian_window_targets(coords: np.ndarray, visible: np.ndarray, heatmap_size, sigma: float,
                             subpixel: bool) -> Tuple[np.ndarray, np.ndarray]:
    """MSRA's (``subpixel=False``) and UDP's (``subpixel=True``) targets: a Gaussian on a
    (2 * 3 sigma + 1) square patch around the rounded keypoint, cut to the heatmap."""
    W, H = heatmap_size
    K = len(coords)
    heatmaps = np.zeros((K, H, W), dtype=np.float32)
    weights = visible.astype(np.float32).copy()
    radius = sigma * 3
    patch_size = 2 * radius + 1
    grid_x = np.arange(0, patch_size, 1, dtype=np.float32)
    grid_y = grid_x[:, None]
    for k in range(K):
        if visible[k] < 0.5:
            continue
        centre = _to_int(coords[k] + 0.5)
        left, top = _to_int(centre - radius)
        right, bottom = _to_int(centre + radius + 1)
        if left >= W or top >= H or right < 0 or bottom < 0:
            weights[k] = 0
            continue
        x0 = y0 = patch_size // 2
        if subpixel:  # UDP: the patch's peak moved to the exact keypoint
            x0 = x0 + coords[k, 0] - centre[0]
            y0 = y0 + coords[k, 1] - centre[1]
        patch = np.exp(-((grid_x - x0)**2 + (grid_y - y0)**2) / (2 * sigma**2))
        # the part of the patch that lies on the heatmap
        px1, px2 = max(0, -left), min(W, right) - left
        py1, py2 = max(0, -top), min(H, bottom) - top
        hx1, hx2, hy1, hy2 = max(0, left), min(W, right), max(0, top), min(H, bottom)
        region = heatmaps[k, hy1:hy2, hx1:hx2]
        np.maximum(region, patch[py1:py2, px1:px2], out=region)
    return heatmaps, weights


def msra_targets(coords, visible, heatmap_size=(48, 64), sigma=2.0):
    """``generate_gaussian_heatmaps`` for one instance: coords (K, 2) -> (K, H, W), (K,)."""
    return _gaussian_window_targets(coords, visible, heatmap_size, sigma, subpixel=False)


def udp_targets(coords, visible, heatmap_size=(48, 64), sigma=2.0):
    """``generate_udp_gaussian_heatmaps`` for one instance."""
    return _gaussian_window_targets(coords, visible, heatmap_size, sigma, subpixel=True)


def dark_targets(coords, visible, heatmap_size=(48, 64), sigma=2.0):
    """``generate_unbiased_gaussian_heatmaps`` for one instance: a Gaussian at the exact
    keypoint over the whole heatmap (not truncated); weight 0 when its 3-sigma box misses
    the heatmap."""
    W, H = heatmap_size
    K = len(coords)
    heatmaps = np.zeros((K, H, W), dtype=np.float32)
    weights = visible.astype(np.float32).copy()
    radius = sigma * 3
    xs = np.arange(0, W, 1, dtype=np.float32)
    ys = np.arange(0, H, 1, dtype=np.float32)[:, None]
    for k in range(K):
        if visible[k] < 0.5:
            continue
        mu = coords[k]
        left, top = mu - radius
        right, bottom = mu + radius + 1
        if left >= W or top >= H or right < 0 or bottom < 0:
            weights[k] = 0
            continue
        gaussian = np.exp(-((xs - mu[0])**2 + (ys - mu[1])**2) / (2 * sigma**2))
        np.maximum(gaussian, heatmaps[k], out=heatmaps[k])
    return heatmaps, weights


def heatmap_maximum(heatmaps: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """``get_heatmap_maximum``: (K, H, W) -> locations (K, 2) float32, values (K,); a map
    whose maximum is not positive gets location -1."""
    K, H, W = heatmaps.shape
    flat = heatmaps.reshape(K, -1)
    ys, xs = np.unravel_index(np.argmax(flat, axis=1), shape=(H, W))
    locations = np.stack((xs, ys), axis=-1).astype(np.float32)
    values = np.amax(flat, axis=1)
    locations[values <= 0.] = -1
    return locations, values


def modulate(heatmaps: np.ndarray, kernel: int = 11) -> np.ndarray:
    """``gaussian_blur``: each map zero-padded by the kernel's half width, blurred with
    OpenCV (sigma from the size), cropped and rescaled to its original maximum."""
    border = (kernel - 1) // 2
    K, H, W = heatmaps.shape
    out = heatmaps.astype(np.float32).copy()
    for k in range(K):
        peak = np.max(out[k])
        padded = np.zeros((H + 2 * border, W + 2 * border), dtype=np.float32)
        padded[border:-border, border:-border] = out[k]
        padded = cv2.GaussianBlur(padded, (kernel, kernel), 0)
        out[k] = padded[border:-border, border:-border]
        out[k] *= peak / (np.max(out[k]) + 1e-12)
    return out


def refine_quarter(locations: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
    """``refine_keypoints``: a quarter pixel toward the higher neighbour; x moves only for
    1 < x < W - 1, y only for 1 < y < H - 1."""
    K, H, W = heatmaps.shape
    out = locations.copy()
    for k in range(K):
        x, y = locations[k].astype(int)
        dx = heatmaps[k, y, x + 1] - heatmaps[k, y, x - 1] if (1 < x < W - 1 and 0 < y < H) \
            else 0.
        dy = heatmaps[k, y + 1, x] - heatmaps[k, y - 1, x] if (1 < y < H - 1 and 0 < x < W) \
            else 0.
        out[k] += np.sign([dx, dy], dtype=np.float32) * 0.25
    return out


def refine_dark(locations: np.ndarray, heatmaps: np.ndarray, kernel: int = 11) -> np.ndarray:
    """``refine_keypoints_dark``: log of the modulated map (floor 1e-10), a Newton step from
    differences two pixels wide, only for 1 < x < W - 2 and 1 < y < H - 2."""
    K, H, W = heatmaps.shape
    logs = np.log(np.maximum(modulate(heatmaps, kernel), 1e-10))
    out = locations.copy()
    for k in range(K):
        x, y = locations[k].astype(int)
        if not (1 < x < W - 2 and 1 < y < H - 2):
            continue
        m = logs[k]
        dx = 0.5 * (m[y, x + 1] - m[y, x - 1])
        dy = 0.5 * (m[y + 1, x] - m[y - 1, x])
        dxx = 0.25 * (m[y, x + 2] - 2 * m[y, x] + m[y, x - 2])
        dxy = 0.25 * (m[y + 1, x + 1] - m[y - 1, x + 1] - m[y + 1, x - 1] + m[y - 1, x - 1])
        dyy = 0.25 * (m[y + 2, x] - 2 * m[y, x] + m[y - 2, x])
        if dxx * dyy - dxy**2 != 0:
            hessian = np.array([[dxx, dxy], [dxy, dyy]])
            out[k] += -(np.linalg.inv(hessian) @ np.array([dx, dy]))
    return out


def refine_dark_udp(locations: np.ndarray, heatmaps: np.ndarray, kernel: int = 11) -> np.ndarray:
    """``refine_keypoints_dark_udp``: the modulated map clipped to [1e-3, 50], its log padded
    by one edge pixel, one-pixel differences and a Newton step with the Hessian plus
    float32 eps times the identity, at every location (the border included)."""
    K, H, W = heatmaps.shape
    logs = np.log(np.clip(modulate(heatmaps, kernel), 1e-3, 50.))
    padded = np.pad(logs, ((0, 0), (1, 1), (1, 1)), mode='edge')
    out = locations.copy()
    for k in range(K):
        # in the padded map the location (x, y) is (x + 1, y + 1)
        x, y = (locations[k] + 1).astype(int)
        m = padded[k]
        centre = m[y, x]
        dx = 0.5 * (m[y, x + 1] - m[y, x - 1])
        dy = 0.5 * (m[y + 1, x] - m[y - 1, x])
        dxx = m[y, x + 1] - 2 * centre + m[y, x - 1]
        dyy = m[y + 1, x] - 2 * centre + m[y - 1, x]
        dxy = 0.5 * (
            m[y + 1, x + 1] - m[y, x + 1] - m[y + 1, x] + 2 * centre - m[y, x - 1] - m[y - 1, x] +
            m[y - 1, x - 1])
        hessian = np.array([[dxx, dxy], [dxy, dyy]]) + np.finfo(np.float32).eps * np.eye(2)
        out[k] -= np.linalg.inv(hessian) @ np.array([dx, dy])
    return out


def msra_decode(heatmaps: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """MSRAHeatmap.decode in heatmap pixels: (K, H, W) -> (K, 2), scores (K,)."""
    locations, scores = heatmap_maximum(heatmaps)
    return refine_quarter(locations, heatmaps), scores


def dark_decode(heatmaps: np.ndarray, kernel: int = 11) -> Tuple[np.ndarray, np.ndarray]:
    """MSRAHeatmap(unbiased=True).decode in heatmap pixels."""
    locations, scores = heatmap_maximum(heatmaps)
    return refine_dark(locations, heatmaps, kernel), scores


def udp_decode(heatmaps: np.ndarray, kernel: int = 11) -> Tuple[np.ndarray, np.ndarray]:
    """UDPHeatmap(heatmap_type='gaussian').decode in heatmap pixels (before the
    ``/ (size - 1) * input_size`` to the input image)."""
    locations, scores = heatmap_maximum(heatmaps)
    return refine_dark_udp(locations, heatmaps, kernel), scores


def udp_combined_decode(maps: np.ndarray,
                        radius_factor: float = 0.0546875,
                        kernel: int = 11) -> Tuple[np.ndarray, np.ndarray]:
    """UDPHeatmap(heatmap_type='combined').decode in heatmap pixels: maps (3K, H, W) ordered
    [class, x offset, y offset] per keypoint -> (K, 2), scores (K,) (the blurred class map's
    maximum)."""
    maps = maps.astype(np.float32).copy()
    C, H, W = maps.shape
    K = C // 3
    for c in range(C):
        size = 2 * kernel + 1 if c % 3 == 0 else kernel
        cv2.GaussianBlur(maps[c], (size, size), 0, maps[c])
    radius = radius_factor * max(W, H)
    x_offset = maps[1::3].flatten() * radius
    y_offset = maps[2::3].flatten() * radius
    locations, scores = heatmap_maximum(maps[::3])
    index = (locations[..., 0] + locations[..., 1] * W).flatten() + W * H * np.arange(0, K)
    index = index.astype(int)
    return locations + np.stack((x_offset[index], y_offset[index]), axis=-1), scores
