"""Batched heatmap maximum localisation and sub-pixel refinement, as pure functions.

All functions take heatmaps (R, K, H, W) and work in heatmap pixel indices: ``p = (x, y)``
with the centre of pixel ``(j, i)`` at ``p = (j, i)``.
"""
from typing import Tuple

import torch
from torch import Tensor


def heatmap_argmax(heatmaps: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """Integer location and value of each heatmap's maximum.

    Returns:
        tuple: x (R, K) and y (R, K) as long tensors, and the maxima (R, K).
    """
    if heatmaps.dim() != 4:
        raise ValueError(f'heatmaps must be (R, K, H, W), got {tuple(heatmaps.shape)}')
    R, K, H, W = heatmaps.shape
    # Two levels, because on the CPU a max *with indices* over whole heatmaps is several
    # times slower than a plain max: plain maxima of blocks of rows first, then indices
    # only inside the one block holding the maximum. Ties resolve as a flat argmax would
    # (the first maximum in row-major order).
    rows_per_block = max(d for d in range(1, H + 1) if H % d == 0 and d * W <= 128) \
        if W <= 128 else 1
    block_size = rows_per_block * W
    num_blocks = H // rows_per_block
    blocks = heatmaps.reshape(R * K * num_blocks, block_size)
    scores, block_index = blocks.amax(dim=-1).view(R * K, num_blocks).max(dim=-1)
    # Copy out each heatmap's winning block (one contiguous row; much cheaper than a gather
    # with an expanded index or advanced indexing) and search only it.
    first_block = torch.arange(R * K, device=heatmaps.device) * num_blocks
    block = blocks.index_select(0, first_block + block_index)
    index = block.argmax(dim=-1) + block_index * block_size
    index, scores = index.view(R, K), scores.view(R, K)
    return index % W, torch.div(index, W, rounding_mode='floor'), scores


def sample_at(heatmaps: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """Values at integer (x, y), clamped to the border (edge padding).

    Args:
        heatmaps: (R, K, H, W).
        x, y: (R, K) or (R, K, N) integer coordinates (N points per heatmap).

    Returns:
        Tensor: the values, shaped like ``x``.
    """
    R, K, H, W = heatmaps.shape
    flat_index = y.clamp(0, H - 1) * W + x.clamp(0, W - 1)
    one_point = flat_index.dim() == 2
    if one_point:
        flat_index = flat_index[..., None]
    values = heatmaps.reshape(R, K, H * W).gather(-1, flat_index)
    return values[..., 0] if one_point else values


def quarter_offset(heatmaps: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """MSRA refinement: a quarter pixel toward the higher neighbour on each axis.

    The border rule is mmpose's ``refine_keypoints``: x moves only where ``1 < x < W - 1``
    and ``y > 0``, y only where ``1 < y < H - 1`` and ``x > 0``.

    Args:
        heatmaps: (R, K, H, W).
        x, y: (R, K) integer maxima.

    Returns:
        Tensor: (R, K, 2) offsets in {-0.25, 0, 0.25}.
    """
    H, W = heatmaps.shape[-2:]
    # The four neighbours right, left, below, above in one gather.
    neighbours = sample_at(heatmaps, torch.stack([x + 1, x - 1, x, x], dim=-1),
                           torch.stack([y, y, y + 1, y - 1], dim=-1))
    offset = torch.sign(neighbours[..., 0::2] - neighbours[..., 1::2]) * 0.25
    inside = torch.stack([(x > 1) & (x < W - 1) & (y > 0), (y > 1) & (y < H - 1) & (x > 0)],
                         dim=-1)
    return torch.where(inside, offset, torch.zeros_like(offset))


def gaussian_kernel(kernel_size: int, dtype=torch.float32, device=None) -> Tensor:
    """1D Gaussian kernel (k,) with OpenCV's sigma for a given size,
    ``0.3 * ((k - 1) * 0.5 - 1) + 0.8``, normalised to sum 1."""
    if kernel_size % 2 != 1:
        raise ValueError(f'kernel_size must be odd, got {kernel_size}')
    sigma = 0.3 * ((kernel_size - 1) * 0.5 - 1) + 0.8
    offsets = torch.arange(kernel_size, dtype=dtype, device=device) - kernel_size // 2
    g = torch.exp(-offsets**2 / (2 * sigma**2))
    return g / g.sum()


def blurred_neighbourhood(heatmaps: Tensor,
                          x: Tensor,
                          y: Tensor,
                          kernel_size: int,
                          radius: int = 2) -> Tensor:
    """The Gaussian-blurred heatmap on the (2r+1)^2 pixels around each maximum.

    Equal to blurring whole heatmaps padded with zeros, as DARK's published code and
    mmpose's ``gaussian_blur`` do, and reading the window, at a fraction of the cost: only
    a (2r + k)^2 patch per keypoint is blurred. (A mirrored border, OpenCV's default, would
    put a copy of a peak near the edge beside it and pull the refinement toward the edge.)

    Returns:
        Tensor: (R, K, 2r+1, 2r+1) blurred values, rows are y.
    """
    R, K, H, W = heatmaps.shape
    reach = radius + kernel_size // 2
    window = torch.arange(-reach, reach + 1, device=heatmaps.device)
    rows = y[..., None] + window  # (R, K, P)
    cols = x[..., None] + window
    inside = ((rows >= 0) & (rows < H))[..., :, None] & ((cols >= 0) & (cols < W))[..., None, :]
    flat_index = rows.clamp(0, H - 1)[..., :, None] * W + cols.clamp(0, W - 1)[..., None, :]
    num = window.numel()**2
    patches = heatmaps.reshape(R, K, H * W).gather(-1, flat_index.reshape(R, K, num))
    patches = patches * inside.reshape(R, K, num).to(heatmaps.dtype)  # zero padding
    g = gaussian_kernel(kernel_size, heatmaps.dtype, heatmaps.device)
    # Row a of `taps` holds the kernel placed at window offset a, so the separable blur of a
    # patch P is taps @ P @ taps^T; each product runs as one large matrix multiplication.
    size, patch = 2 * radius + 1, 2 * reach + 1
    taps = heatmaps.new_zeros(size, patch)
    for a in range(size):
        taps[a, a:a + kernel_size] = g
    cols_blurred = patches.reshape(-1, patch) @ taps.T  # (R K P, size): blur along x
    cols_blurred = cols_blurred.reshape(R * K, patch, size).transpose(1, 2)
    blurred = cols_blurred.reshape(-1, patch) @ taps.T  # (R K size, size): blur along y
    # blurred[n, b, a] = sum_ij taps[a, i] P[i, j] taps[b, j]: rows are x here, so swap back.
    return blurred.reshape(R, K, size, size).transpose(-1, -2)


def gaussian_blur_reflect(heatmaps: Tensor, kernel_size: int) -> Tensor:
    """Blur whole heatmaps (R, K, H, W) with OpenCV's default border (reflect-101), as
    ``cv2.GaussianBlur(m, (k, k), 0)`` does: mmpose blurs UDP's classification maps this
    way before their argmax. Returns (R, K, H, W)."""
    R, K, H, W = heatmaps.shape
    half = kernel_size // 2
    if half >= min(H, W):
        raise ValueError(f'heatmaps of {H}x{W} are too small for a {kernel_size}-pixel blur')
    g = gaussian_kernel(kernel_size, heatmaps.dtype, heatmaps.device)
    maps = heatmaps.reshape(R * K, 1, H, W)
    # torch's 'reflect' leaves the edge pixel out, like OpenCV's BORDER_REFLECT_101.
    maps = torch.nn.functional.pad(maps, (half, half, half, half), mode='reflect')
    maps = torch.nn.functional.conv2d(maps, g.view(1, 1, 1, -1))
    maps = torch.nn.functional.conv2d(maps, g.view(1, 1, -1, 1))
    return maps.reshape(R, K, H, W)


def dark_offset(heatmaps: Tensor, x: Tensor, y: Tensor, blur_kernel_size: int = 11) -> Tensor:
    """DARK refinement (Zhang et al., CVPR 2020): one Newton step on the log heatmap.

    The heatmap is smoothed with a Gaussian (so that it is close to one), its log taken,
    and the offset ``-H^-1 g`` computed from the gradient ``g`` and Hessian ``H`` by
    central differences at the integer maximum. (The paper rescales the blurred map to the
    original maximum; that is a constant in the log and does not change the offset.)

    Args:
        heatmaps: (R, K, H, W).
        x, y: (R, K) integer maxima.
        blur_kernel_size: Gaussian kernel size of the modulation (11 for sigma 2 at 64x48).

    Returns:
        Tensor: (R, K, 2) sub-pixel offsets; 0 where the Hessian is singular, the offset is
        not finite, or the maximum lies within 2 pixels of the border (the differences need
        2 neighbours): mmpose's ``refine_keypoints_dark``.
    """
    H, W = heatmaps.shape[-2:]
    logs = torch.log(blurred_neighbourhood(heatmaps, x, y, blur_kernel_size).clamp(min=1e-10))

    def at(dx: int, dy: int) -> Tensor:
        return logs[..., 2 + dy, 2 + dx]

    centre = at(0, 0)
    gx = 0.5 * (at(1, 0) - at(-1, 0))
    gy = 0.5 * (at(0, 1) - at(0, -1))
    hxx = 0.25 * (at(2, 0) - 2 * centre + at(-2, 0))
    hyy = 0.25 * (at(0, 2) - 2 * centre + at(0, -2))
    hxy = 0.25 * (at(1, 1) - at(-1, 1) - at(1, -1) + at(-1, -1))
    det = hxx * hyy - hxy**2
    # As DARK's code and mmpose's refine_keypoints_dark: any non-zero determinant.
    safe = (det != 0) & (x > 1) & (x < W - 2) & (y > 1) & (y < H - 2)
    det = torch.where(safe, det, torch.ones_like(det))
    # -H^{-1} g with the closed-form inverse of the 2x2 Hessian.
    ox = -(hyy * gx - hxy * gy) / det
    oy = -(-hxy * gx + hxx * gy) / det
    offset = torch.stack([ox, oy], dim=-1)
    # A flat or all-zero map, or half-precision input whose log reached -inf, gives
    # inf - inf = NaN: such a keypoint keeps its integer maximum.
    safe = safe[..., None] & torch.isfinite(offset).all(dim=-1, keepdim=True)
    return torch.where(safe, offset, torch.zeros_like(offset))


def blur_matrix(size: int, kernel_size: int, dtype=torch.float32, device=None) -> Tensor:
    """(size, size) matrix ``B`` of a 1D Gaussian blur with zero padding: ``B @ v`` blurs a
    vector ``v`` of ``size`` values as a convolution over its zero-padded copy would."""
    g = gaussian_kernel(kernel_size, dtype, device)
    index = torch.arange(size, device=device)
    offsets = index[None, :] - index[:, None]
    half = kernel_size // 2
    inside = offsets.abs() <= half
    return torch.where(inside, g[(offsets + half).clamp(0, kernel_size - 1)],
                       torch.zeros((), dtype=dtype, device=device))


def modulated_heatmaps(heatmaps: Tensor, kernel_size: int) -> Tensor:
    """DARK's modulation of whole heatmaps (R, K, H, W), as mmpose's ``gaussian_blur``:
    blurred with zero padding (OpenCV's kernel for the size), then rescaled so that each
    map keeps its maximum. The separable blur is two matrix products with banded blur
    matrices (on the CPU much faster than a one-channel convolution). Returns (R, K, H, W)."""
    R, K, H, W = heatmaps.shape
    rows = blur_matrix(H, kernel_size, heatmaps.dtype, heatmaps.device)
    cols = blur_matrix(W, kernel_size, heatmaps.dtype, heatmaps.device)
    # Each product is one large matrix multiplication (the matrices are symmetric).
    maps = (heatmaps.reshape(R * K * H, W) @ cols).reshape(R * K, H, W)
    maps = (maps.transpose(1, 2).reshape(R * K * W, H) @ rows).reshape(R * K, W, H)
    maps = maps.transpose(1, 2).reshape(R, K, H, W)
    scale = heatmaps.amax(dim=(-2, -1)) / (maps.amax(dim=(-2, -1)) + 1e-12)
    return maps * scale[..., None, None]


def dark_udp_offset(heatmaps: Tensor, x: Tensor, y: Tensor, blur_kernel_size: int = 11) -> Tensor:
    """UDP's refinement (Huang et al., CVPR 2020), as mmpose's ``refine_keypoints_dark_udp``.

    DARK's Newton step with UDP's choices: the modulated map (:func:`modulated_heatmaps`)
    clipped to [1e-3, 50] before the log, differences one pixel wide on the log map padded
    by its edge values, the Hessian regularised by float32's eps times the identity, and
    the step taken at every maximum, on the border too.

    Args:
        heatmaps: (R, K, H, W).
        x, y: (R, K) integer maxima.
        blur_kernel_size: Gaussian kernel of the modulation.

    Returns:
        Tensor: (R, K, 2) sub-pixel offsets; 0 only where the regularised Hessian is
        singular or the step is not finite.
    """
    logs = modulated_heatmaps(heatmaps, blur_kernel_size).clamp(1e-3, 50.).log()
    # sample_at clamps its indices: the edge padding of the reference.
    dx = torch.tensor([0, 1, -1, 0, 0, 1, -1], device=x.device)
    dy = torch.tensor([0, 0, 0, 1, -1, 1, -1], device=x.device)
    values = sample_at(logs, x[..., None] + dx, y[..., None] + dy)
    centre, right, left, below, above, below_right, above_left = values.unbind(-1)
    gx = 0.5 * (right - left)
    gy = 0.5 * (below - above)
    eps = torch.finfo(torch.float32).eps
    hxx = right - 2 * centre + left + eps
    hyy = below - 2 * centre + above + eps
    hxy = 0.5 * (below_right - right - below + 2 * centre - left - above + above_left)
    det = hxx * hyy - hxy**2
    safe = det != 0
    det = torch.where(safe, det, torch.ones_like(det))
    offset = torch.stack([-(hyy * gx - hxy * gy) / det, -(-hxy * gx + hxx * gy) / det], dim=-1)
    safe = safe[..., None] & torch.isfinite(offset).all(dim=-1, keepdim=True)
    return torch.where(safe, offset, torch.zeros_like(offset))
