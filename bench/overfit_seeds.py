"""The overfit acceptance recipe over seeds: is it robust, and how early does it get there?

    python bench/overfit_seeds.py [--seeds 0 1 2 3 4 5] [--codec UDPHeatmap]
        [--iters N] [--evals 10] [--data ../shared/data/coco] [--work-dir DIR] [--jobs 1]
        [--cfg-options key=value ...]

Trains the recipe of ``tests/configs/hrpose_tiny_overfit_coco_sample.py`` (the one
``make test`` runs with seed 0) once per seed on the 4 COCO sample images, evaluates it on
the same images ``--evals`` times during training, and prints one row per seed: the final
keypoint AP and box AP, the worst keypoint and its median error over the person scale, and
the evaluated iteration from which on every keypoint's median error stayed under 0.05 and
the AP at least 0.95. A seed changes the float rounding the way another CPU does, so a recipe
that passes on every seed with margin passes on every machine. ``--jobs 2`` runs two seeds
side by side with one thread each.
"""
import argparse
import os
import os.path as osp
import re
import subprocess
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from tests.helpers import OVERFIT_CONFIG as CONFIG  # noqa: E402
from tests.helpers import overfit_options  # noqa: E402

ERROR_LIMIT, AP_LIMIT = 0.05, 0.95


def recipe_options(data_root: str, codec: str, iters: int, seed: int, evals: int) -> list:
    """The acceptance test's --cfg-options, with a seed and evaluations during training."""
    interval = max(1, iters // evals)
    return overfit_options(data_root, codec, iters) + [
        f'randomness.seed={seed}', f'train_cfg.val_interval={interval}',
        'val_evaluator.keypoint_errors=True'
    ]


def evaluations(log: str, interval: int) -> list:
    """(iteration, keypoint AP, box AP, worst error, worst keypoint) of each evaluation."""
    rows = []
    for match in re.finditer(
            r'coco/kpt_AP: ([0-9.]+).*?coco/bbox_mAP: ([0-9.]+).*?'
            r'coco/kpt_worst_median_error: ([0-9.a-z]+)\s+'
            r'coco/kpt_worst_keypoint: (\w+)', log):
        ap, box_ap, error, name = match.groups()
        rows.append(((len(rows) + 1) * interval, float(ap), float(box_ap), float(error), name))
    return rows


def start(seed: int, args, threads: int) -> subprocess.Popen:
    work_dir = osp.join(args.work_dir, f'seed{seed}')
    os.makedirs(work_dir, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    command = [
        sys.executable, 'tools/train.py', CONFIG, '--work-dir', work_dir, '--cfg-options',
        *recipe_options(args.data, args.codec, args.iters, seed, args.evals), *args.cfg_options
    ]
    with open(osp.join(work_dir, 'train_output.log'), 'w') as log:  # the child keeps its copy
        return subprocess.Popen(
            command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2, 3, 4, 5])
    parser.add_argument('--codec', default='UDPHeatmap')
    parser.add_argument(
        '--iters',
        type=int,
        default=None,
        help="training iterations (default: the acceptance test's)")
    parser.add_argument('--evals', type=int, default=10)
    parser.add_argument('--data', default=osp.join(REPO_ROOT, '..', 'shared', 'data', 'coco'))
    parser.add_argument('--work-dir', default=osp.join(REPO_ROOT, 'work_dirs', 'overfit_seeds'))
    parser.add_argument('--jobs', type=int, default=1)
    parser.add_argument(
        '--threads',
        type=int,
        default=None,
        help='torch threads per training (default: cores / jobs)')
    parser.add_argument(
        '--cfg-options', nargs='*', default=[], help='more config changes, to try another recipe')
    args = parser.parse_args()
    if args.iters is None:
        from mmengine.config import Config
        args.iters = Config.fromfile(CONFIG).max_iters
    interval = max(1, args.iters // args.evals)
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
    pending, running, results = list(args.seeds), {}, {}
    while pending or running:
        while pending and len(running) < args.jobs:
            seed = pending.pop(0)
            running[seed] = start(seed, args, threads)
        seed = next(iter(running))
        code = running.pop(seed).wait()
        with open(osp.join(args.work_dir, f'seed{seed}', 'train_output.log')) as f:
            results[seed] = (code, evaluations(f.read(), interval))
    print(f'{args.codec}, {args.iters} iterations, evaluated every {interval}; pass: every '
          f'keypoint median error < {ERROR_LIMIT} of the person scale and AP >= {AP_LIMIT}')
    print(f'{"seed":>4s} {"kpt AP":>7s} {"box AP":>7s} {"worst keypoint":>22s} '
          f'{"passes from iter":>17s} {"(fraction)":>10s}')
    passed = 0
    for seed in args.seeds:
        code, rows = results[seed]
        if code != 0 or not rows:
            print(f'{seed:4d} training failed (exit {code}); see its train_output.log')
            continue
        _, ap, box_ap, error, name = rows[-1]
        # the first evaluated iteration from which every evaluation passes
        first = None
        for it, a, _, e, _ in rows:
            if e < ERROR_LIMIT and a >= AP_LIMIT:
                first = it if first is None else first
            else:
                first = None
        final_ok = error < ERROR_LIMIT and ap >= AP_LIMIT
        passed += final_ok
        when = f'{first:17d} {first / args.iters:10.0%}' if first else f'{"never":>17s} {"":>10s}'
        print(f'{seed:4d} {ap:7.4f} {box_ap:7.4f} {name:>15s} {error:6.3f} {when}'
              f'{"" if final_ok else "  FAILS at the end"}')
    print(f'{passed} of {len(args.seeds)} seeds pass at the end')


if __name__ == '__main__':
    main()
