"""Plot training curves (losses, learning rate, validation AP) from mmengine's json logs.

    python tools/analysis_tools/analyze_logs.py plot_curve LOG.json [LOG.json ...]
        [--keys loss loss_keypoint] [--legend run1 run2] [--out curves.png]
    python tools/analysis_tools/analyze_logs.py cal_train_time LOG.json [...]

LOG.json: ``WORK_DIR/<run>/vis_data/scalars.json`` (or the ``<run>.json`` beside it), one
record per line; a work dir or run folder is searched for it. Training records are plotted
against the iteration, validation records (``coco/kpt_AP`` ...) against their step.
"""
import argparse
import glob
import json
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Tuple

import numpy as np


def find_log(path: str) -> str:
    """``path`` itself, or the newest scalars.json under a work dir / run folder."""
    if osp.isfile(path):
        return path
    found = sorted(glob.glob(osp.join(path, '**', 'vis_data', 'scalars.json'), recursive=True))
    if not found:
        raise FileNotFoundError(f'{path}: no such log file, and no */vis_data/scalars.json in '
                                'it')
    return found[-1]


def load_log(path: str) -> Tuple[Dict[str, List[Tuple[int, float]]], List[float]]:
    """Series per key: {key: [(step, value), ...]}, and the iteration times."""
    series, times = defaultdict(list), []
    with open(path) as f:
        for line_number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f'{path}, line {line_number}: not JSON ({e})') from e
            step = record.get('iter', record.get('step'))
            for key, value in record.items():
                if key in ('iter', 'step', 'epoch') or not isinstance(value, (int, float)):
                    continue
                series[key].append((step, float(value)))
            if 'time' in record and 'loss' in record:
                times.append(float(record['time']))
    return dict(series), times


def plot_curve(args: argparse.Namespace) -> None:
    import matplotlib
    matplotlib.use('Agg')  # files only: no display needed
    import matplotlib.pyplot as plt

    logs = [find_log(p) for p in args.logs]
    legends = args.legend or [osp.basename(osp.dirname(osp.dirname(p))) or p for p in logs]
    if len(legends) != len(logs):
        raise ValueError(f'--legend has {len(legends)} names for {len(logs)} logs')
    loaded = [load_log(p)[0] for p in logs]
    fig, axes = plt.subplots(len(args.keys), 1, figsize=(8, 3 * len(args.keys)), squeeze=False)
    for ax, key in zip(axes[:, 0], args.keys):
        for path, legend, series in zip(logs, legends, loaded):
            if key not in series:
                raise KeyError(f'{path} has no {key!r}; it has: {", ".join(sorted(series))}')
            steps, values = zip(*series[key])
            ax.plot(steps, values, marker='o' if len(steps) < 20 else None, label=legend)
        # Metrics ('coco/kpt_AP') come from validation records, logged at their 'step': the
        # iteration, or the epoch where the logger has log_metric_by_epoch=True.
        ax.set_xlabel('validation step' if '/' in key else 'iteration')
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(f'plotted {", ".join(args.keys)} from {len(logs)} log(s) into {args.out}')


def cal_train_time(args: argparse.Namespace) -> None:
    for path in (find_log(p) for p in args.logs):
        _, times = load_log(path)
        if not times:
            raise ValueError(f'{path}: no training records with a time')
        times = np.array(times)
        print(f'{path}: {len(times)} logged intervals, mean {times.mean():.4f} s/iter, '
              f'slowest {times.max():.4f}, fastest {times.min():.4f}')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Analyse json training logs')
    commands = parser.add_subparsers(dest='command', required=True)
    plot = commands.add_parser('plot_curve', help='plot curves to an image file')
    plot.add_argument('logs', nargs='+', help='scalars.json files, or work dirs')
    plot.add_argument('--keys', nargs='+', default=['loss'], help='what to plot')
    plot.add_argument('--legend', nargs='+', help='one name per log')
    plot.add_argument('--out', default='curves.png', help='image file to write')
    timing = commands.add_parser('cal_train_time', help='seconds per iteration')
    timing.add_argument('logs', nargs='+', help='scalars.json files, or work dirs')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    {'plot_curve': plot_curve, 'cal_train_time': cal_train_time}[args.command](args)


if __name__ == '__main__':
    main()
