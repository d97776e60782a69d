"""Tracking and smoothing on the synthetic video, over seeds: the figures of the tracker.

    python bench/tracking.py [--seeds 0 1 2 3 4] [--noise 0.02] [--drop 0.1]

For each seed of the detections' noise (2 % of the person scale, 10 % of the persons
dropped; hrpose/datasets/synthetic_video.py): MOTA, IDF1 and ID switches (motmetrics) of
PoseTracker online (its defaults), online without its motion model and bridging of missed
frames, with gap interpolation after it, and mmpose 0.x's greedy IoU rule;
then the One Euro filter's jitter reduction (mean absolute second difference) and its lag
on a noise-free walking figure, in % of the person scale.
"""
import argparse
import os.path as osp
import sys

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from hrpose.apis import tracking  # noqa: E402
from hrpose.datasets import load_keypoint_metainfo, synthetic_video  # noqa: E402
from hrpose.evaluation.tracking_metrics import mot_summary  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2, 3, 4])
    parser.add_argument('--noise', type=float, default=0.02, help='x the person scale')
    parser.add_argument('--drop', type=float, default=0.1, help='share of persons missed')
    args = parser.parse_args()
    sigmas = load_keypoint_metainfo(
        dict(from_file='configs/_base_/datasets/metainfo/coco_person.py'))['sigmas']
    truth = synthetic_video.synthetic_tracks()
    print(f'noise {args.noise:g} x the person scale, {args.drop:.0%} of the persons dropped')
    print(f'{"seed":>4} {"tracker":36s} {"MOTA":>6} {"IDF1":>6} {"ID sw.":>6}')
    for seed in args.seeds:
        detections = synthetic_video.noisy_detections(
            truth, seed=seed, noise=args.noise, drop=args.drop)
        tracker = tracking.PoseTracker(sigmas)
        online = [tracker.update(d) for d in detections]
        unbridged = tracking.PoseTracker(sigmas, velocity_momentum=0.0, max_predicted_frames=0)
        greedy = tracking.GreedyIoUTracker()
        rows = (('PoseTracker, online', online), ('PoseTracker, no motion, no bridging',
                                                  [unbridged.update(d) for d in detections]),
                ('PoseTracker + interpolation', tracking.interpolate_track_gaps(online)),
                ('greedy IoU (mmpose 0.x)', [greedy.update(d) for d in detections]))
        for name, tracked in rows:
            m = mot_summary(truth, tracked)
            print(f'{seed:4d} {name:36s} {m["mota"]:6.3f} {m["idf1"]:6.3f} '
                  f'{int(m["num_switches"]):6d}')
    fps = 25.0
    clean = np.stack(
        [synthetic_video.walker_pose(300, 100 + 6 * f, 650, 4 * f / fps) for f in range(150)])
    scale = np.sqrt(np.prod(clean[0].max(axis=0) - clean[0].min(axis=0)))

    def smooth(sequence):
        one_euro = tracking.OneEuroFilter()
        return np.stack([one_euro(p, 0.0 if i == 0 else 1 / fps) for i, p in enumerate(sequence)])

    def jitter(track):
        return np.abs(track[2:] - 2 * track[1:-1] + track[:-2]).mean()

    lag = np.linalg.norm(smooth(clean) - clean, axis=-1)[10:].mean() / scale
    for seed in args.seeds:
        noisy = clean + np.random.default_rng(seed).normal(0, 0.02 * scale, clean.shape)
        print(f'seed {seed}: One Euro jitter {jitter(noisy):.2f} -> {jitter(smooth(noisy)):.2f} '
              f'px ({jitter(noisy) / jitter(smooth(noisy)):.2f}x less), lag on the clean walk '
              f'{lag * 100:.2f} % of the person scale')


if __name__ == '__main__':
    main()
