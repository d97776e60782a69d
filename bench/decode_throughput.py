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

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from hrpose.codecs import DARKHeatmap, MSRAHeatmap, UDPHeatmap  # noqa: E402
from hrpose.utils.benchmarking import random_heatmaps, time_call  # noqa: E402
from tests.reference import mmpose_decoding  # noqa: E402

CODECS = {
    'msra': (MSRAHeatmap, mmpose_decoding.msra_decode_numpy),
    'dark': (DARKHeatmap, mmpose_decoding.dark_decode_numpy),
    'udp': (UDPHeatmap, mmpose_decoding.udp_decode_numpy),
}


def print_border_bands(seed: int = 0) -> None:
    print('\nmean refinement error (heatmap pixels) by distance from the border, Gaussians of '
          'sigma 2 at random sub-pixel points, 64x48, noise 0.01; reference: mmpose\'s '
          'decoding of the same codec (udp-dark: hrpose UDP with DARK\'s refinement against '
          'mmpose\'s UDP)')
    results = mmpose_decoding.border_band_errors(seed)
    labels = [
        f'{low:g}-{high:g} px' if high != float('inf') else f'> {low:g} px'
        for low, high in mmpose_decoding.BORDER_BANDS
    ]
    print(f'{"codec":6s} ' + ' '.join(f'{label:>20s}' for label in labels))
    print(f'{"":6s} ' + ' '.join(f'{"hrpose / reference":>20s}' for _ in labels))
    for name, bands in results.items():
        print(f'{name:6s} ' + ' '.join(f'{ours:9.3f} / {ref:8.3f}'
                                       for ours, ref, _ in bands.values()))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
        t_numpy = time_call(lambda: [numpy_decode(h, r) for h, r in zip(heatmaps_np, rois_np)],
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
