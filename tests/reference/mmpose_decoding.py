"""mmpose's heatmap decoding (:mod:`tests.reference.mmpose_codecs`) applied one instance
at a time with hrpose's RoI transform, and the refinement error by distance from the
heatmap border of hrpose's codecs against it: the references the codec tests,
``gpu_check``'s CPU decoding row and ``bench/decode_throughput.py`` compare with."""
import numpy as np
import torch

from hrpose.codecs import DARKHeatmap, MSRAHeatmap, UDPHeatmap
from tests.reference import mmpose_codecs


def decode_numpy(heatmaps: np.ndarray, roi: np.ndarray, decode, unbiased: bool) -> np.ndarray:
    """One instance: heatmaps (K, H, W), roi (4,) -> keypoints (K, 2) in the image, with
    mmpose's heatmap decoding ``decode`` and hrpose's RoI transform.

    ``unbiased``: UDP's transform (RoI edges on the first and last pixel centres) instead of
    pixel j spanning [j, j + 1) of the RoI's W bins.
    """
    K, H, W = heatmaps.shape
    size = np.array([W, H], dtype=np.float64)
    extent = roi[2:] - roi[:2]
    points, _ = decode(heatmaps)
    if unbiased:
        return roi[:2] + points * extent / (size - 1)
    return roi[:2] + (points + 0.5) * extent / size


def msra_decode_numpy(heatmaps: np.ndarray, roi: np.ndarray) -> np.ndarray:
    return decode_numpy(heatmaps, roi, mmpose_codecs.msra_decode, unbiased=False)


def dark_decode_numpy(heatmaps: np.ndarray, roi: np.ndarray) -> np.ndarray:
    return decode_numpy(heatmaps, roi, mmpose_codecs.dark_decode, unbiased=False)


def udp_decode_numpy(heatmaps: np.ndarray, roi: np.ndarray) -> np.ndarray:
    return decode_numpy(heatmaps, roi, mmpose_codecs.udp_decode, unbiased=True)


BORDER_BANDS = ((0, 3), (3, 5), (5, 7), (7, float('inf')))


def border_band_errors(seed: int = 0,
                       num_points: int = 4000,
                       sigma: float = 2.0,
                       noise: float = 0.01) -> dict:
    """Refinement error by distance from the heatmap border, hrpose against the reference.

    Gaussians of ``sigma`` at random sub-pixel points of a 64x48 heatmap with light uniform
    noise; each codec's heatmap-space decoding (the part before the RoI transform) against
    mmpose's on the same heatmaps (``udp-dark``: hrpose's UDP with DARK's refinement,
    against mmpose's UDP).

    Returns:
        dict: ``{codec: {band: (hrpose mean error, reference mean error, count)}}`` in
        heatmap pixels, bands ``(low, high)`` of ``min(x, y, W - 1 - x, H - 1 - y)``.
    """
    W, H = 48, 64
    gen = torch.Generator().manual_seed(seed)
    points = torch.rand(num_points, 1, 2, generator=gen) * torch.tensor([W - 1., H - 1.])
    xs, ys = torch.arange(W, dtype=torch.float32), torch.arange(H, dtype=torch.float32)
    heatmaps = torch.exp(-((xs - points[..., 0:1])**2)[..., None, :] / (2 * sigma**2) -
                         ((ys - points[..., 1:2])**2)[..., :, None] / (2 * sigma**2))
    heatmaps = heatmaps + noise * torch.rand(heatmaps.shape, generator=gen)
    x, y = points[:, 0, 0], points[:, 0, 1]
    distance = torch.minimum(torch.minimum(x, y), torch.minimum(W - 1 - x, H - 1 - y))
    numpy_maps = heatmaps.numpy()
    results = {}
    for name, codec, decode in (('msra', MSRAHeatmap(), mmpose_codecs.msra_decode),
                                ('dark', DARKHeatmap(), mmpose_codecs.dark_decode),
                                ('udp', UDPHeatmap(), mmpose_codecs.udp_decode),
                                ('udp-dark', UDPHeatmap(refinement='dark'),
                                 mmpose_codecs.udp_decode)):
        ours, _ = codec.decode_heatmap_coords(heatmaps)
        ours_error = (ours[:, 0] - points[:, 0]).norm(dim=-1)
        reference = torch.from_numpy(np.stack([decode(m)[0][0] for m in numpy_maps])).float()
        reference_error = (reference - points[:, 0]).norm(dim=-1)
        bands = {}
        for low, high in BORDER_BANDS:
            in_band = (distance >= low) & (distance < high)
            bands[(low, high)] = (ours_error[in_band].mean().item(),
                                  reference_error[in_band].mean().item(), int(in_band.sum()))
        results[name] = bands
    return results
