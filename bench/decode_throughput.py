"""Decode throughput of the heatmap codecs, batched torch against per-instance numpy.

    python bench/decode_throughput.py [--rois 100] [--repeats 5] [--device cpu|cuda]

Decodes R RoIs x 17 keypoints x 64x48 heatmaps with MSRA, DARK and UDP and prints RoIs per
second for hrpose's batched torch decoding and for a per-instance numpy transcription of
mmpose's decoding (tests/reference/mmpose_codecs.py, a Python loop over instances and
keypoints, as published top-down code decodes). It then prints the refinement error by
distance from the heatmap border (0-3, 3-5, 5-7 and more than 7 heatmap pixels) for hrpose
and for that reference on the same heatmaps, and for UDP with DARK's refinement.
"""
import argparse
import os.path as osp
import sys
import time

import numpy as np
import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from hrpose.codecs import DARKHeatmap, MSRAHeatmap, UDPHeatmap  # noqa: E402
from tests.reference import mmpose_codecs  # noqa: E402


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


CODECS = {
    'msra': (MSRAHeatmap, msra_decode_numpy),
    'dark': (DARKHeatmap, dark_decode_numpy),
    'udp': (UDPHeatmap, udp_decode_numpy),
}


def random_heatmaps(num_rois: int, seed: int = 0):
    """Peaky random heatmaps (R, 17, 64, 48) and RoIs (R, 4), like a trained head's."""
    gen = torch.Generator().manual_seed(seed)
    xy1 = torch.rand(num_rois, 2, generator=gen) * 500
    rois = torch.cat([xy1, xy1 + torch.tensor([96., 128.]) * (1 + torch.rand(num_rois, 1,
                                                                             generator=gen))],
                     dim=1)
    centres = torch.rand(num_rois, 17, 2, generator=gen) * torch.tensor([40., 56.]) + 4
    xs, ys = torch.arange(48.), torch.arange(64.)
    heatmaps = torch.exp(-((xs - centres[..., 0:1])**2)[..., None, :] / 8 -
                         ((ys - centres[..., 1:2])**2)[..., :, None] / 8)
    heatmaps = heatmaps + 0.02 * torch.rand(heatmaps.shape, generator=gen)
    return heatmaps, rois


BORDER_BANDS = ((0, 3), (3, 5), (5, 7), (7, float('inf')))


def border_band_errors(seed: int = 0, num_points: int = 4000, sigma: float = 2.0,
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


def print_border_bands(seed: int = 0) -> None:
    print('\nmean refinement error (heatmap pixels) by distance from the border, Gaussians of '
          'sigma 2 at random sub-pixel points, 64x48, noise 0.01; reference: mmpose\'s '
          'decoding of the same codec (udp-dark: hrpose UDP with DARK\'s refinement against '
          'mmpose\'s UDP)')
    results = border_band_errors(seed)
    labels = [f'{low:g}-{high:g} px' if high != float('inf') else f'> {low:g} px'
              for low, high in BORDER_BANDS]
    print(f'{"codec":6s} ' + ' '.join(f'{label:>20s}' for label in labels))
    print(f'{"":6s} ' + ' '.join(f'{"hrpose / reference":>20s}' for _ in labels))
    for name, bands in results.items():
        print(f'{name:6s} ' + ' '.join(f'{ours:9.3f} / {ref:8.3f}'
                                       for ours, ref, _ in bands.values()))


def time_call(fn, repeats: int, sync=lambda: None) -> float:
    """Seconds per call: the fastest of ``repeats`` timed calls after one warm-up call (the
    minimum, as timeit advises, is the least disturbed by other work on the machine)."""
    fn()
    sync()
    best = float('inf')
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--rois', type=int, default=100)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args()
    heatmaps, rois = random_heatmaps(args.rois)
    heatmaps_np, rois_np = heatmaps.numpy(), rois.numpy()
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)
    heatmaps, rois = heatmaps.to(device), rois.to(device)
    print(f'{args.rois} RoIs x 17 keypoints x 64x48 heatmaps, torch on {device}, '
          f'{torch.get_num_threads()} CPU threads')
    print(f'{"codec":6s} {"torch RoIs/s":>14s} {"numpy RoIs/s":>14s} {"speed-up":>9s}')
    for name, (codec_cls, numpy_decode) in CODECS.items():
        codec = codec_cls()
        t_torch = time_call(lambda: codec.decode(heatmaps, rois), args.repeats, sync)
        t_numpy = time_call(
            lambda: [numpy_decode(h, r) for h, r in zip(heatmaps_np, rois_np)],
            max(1, args.repeats // 2))
        print(f'{name:6s} {args.rois / t_torch:14.0f} {args.rois / t_numpy:14.0f} '
              f'{t_numpy / t_torch:8.1f}x')
    # What MSRA's decoding is bound by: one read of every heatmap (a plain maximum), and
    # the integer maximum search alone.
    from hrpose.codecs.refinement import heatmap_argmax
    t_read = time_call(lambda: heatmaps.amax(dim=(2, 3)), args.repeats, sync)
    t_argmax = time_call(lambda: heatmap_argmax(heatmaps), args.repeats, sync)
    t_msra = time_call(lambda: MSRAHeatmap().decode(heatmaps, rois), args.repeats, sync)
    print(f'MSRA, per {args.rois} RoIs: one read of the heatmaps (plain max) '
          f'{t_read * 1e3:.2f} ms, the maximum search {t_argmax * 1e3:.2f} ms, the whole '
          f'decode {t_msra * 1e3:.2f} ms')
    print_border_bands()


if __name__ == '__main__':
    main()
