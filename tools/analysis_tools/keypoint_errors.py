"""Which keypoints a model gets wrong: per-keypoint errors of COCO results against the GT.

    python tools/analysis_tools/keypoint_errors.py GT.json RESULTS.keypoints.json
        [--metainfo configs/_base_/datasets/metainfo/coco_person.py] [--min-oks 0.1]
        [--out errors.json]

RESULTS.keypoints.json is what the metric writes with ``tools/test.py CONFIG CKPT
--cfg-options test_evaluator.outfile_prefix=WORK_DIR/results``. Each labelled person is
matched to one predicted pose (greedy OKS, highest scores first); the table gives, per
keypoint, how many are labelled and matched, the median and mean distance in pixels, the
median distance over the person scale sqrt(area), and the share whose own OKS term
``exp(-d^2 / (2 area (2 sigma)^2))`` reaches 0.5 (below it a keypoint pulls a pose's OKS
down hard).
"""
import argparse
import json
import os.path as osp

import numpy as np

from hrpose.datasets.annotation_checks import load_checked_coco
from hrpose.datasets.coco_keypoint import load_keypoint_metainfo
from hrpose.evaluation.keypoint_errors import load_keypoint_results, per_keypoint_errors


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Per-keypoint errors of COCO keypoint results')
    parser.add_argument('gt', help='ground-truth COCO keypoint json')
    parser.add_argument('results', help='COCO keypoint results json (*.keypoints.json)')
    parser.add_argument(
        '--metainfo',
        default='configs/_base_/datasets/metainfo/coco_person.py',
        help='metainfo file giving keypoint_names and sigmas')
    parser.add_argument(
        '--min-oks',
        type=float,
        default=0.1,
        help='OKS a prediction needs to be matched to a person')
    parser.add_argument('--out', help='also write the table to this json file')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if not osp.isfile(args.gt):
        raise FileNotFoundError(f'{args.gt}: no such ground-truth file')
    metainfo = load_keypoint_metainfo(dict(from_file=args.metainfo))
    # Checked as the metric checks it: num_keypoints from the flags, missing areas filled.
    coco_gt = load_checked_coco(args.gt, metainfo.get('classes', ('person', )),
                                metainfo['num_keypoints'])
    stats = per_keypoint_errors(coco_gt, load_keypoint_results(args.results), metainfo['sigmas'],
                                args.min_oks)
    sigmas = np.asarray(metainfo['sigmas'])
    rows = []
    print(f'{stats["matched_persons"]} of {stats["persons"]} labelled persons matched '
          f'(min OKS {args.min_oks})')
    print(f'{"keypoint":16s} {"labelled":>8s} {"matched":>8s} {"median px":>10s} '
          f'{"mean px":>8s} {"median/scale":>12s} {"OKS>=0.5":>9s}')
    for k, name in enumerate(metainfo['keypoint_names']):
        errors, normalised = stats['errors'][k], stats['normalised'][k]
        row = dict(keypoint=name, labelled=int(stats['labelled'][k]), matched=len(errors))
        if len(errors):
            oks_term = np.exp(-normalised**2 / (2 * (2 * sigmas[k])**2))
            row.update(
                median_px=float(np.median(errors)),
                mean_px=float(errors.mean()),
                median_over_scale=float(np.median(normalised)),
                oks_at_least_half=float((oks_term >= 0.5).mean()))
            print(f'{name:16s} {row["labelled"]:8d} {row["matched"]:8d} '
                  f'{row["median_px"]:10.1f} {row["mean_px"]:8.1f} '
                  f'{row["median_over_scale"]:12.3f} {row["oks_at_least_half"]:9.2f}')
        else:
            print(f'{name:16s} {row["labelled"]:8d} {0:8d} {"-":>10s} {"-":>8s} {"-":>12s} '
                  f'{"-":>9s}')
        rows.append(row)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(
                dict(
                    persons=stats['persons'],
                    matched_persons=stats['matched_persons'],
                    keypoints=rows),
                f,
                indent=1)
        print(f'written to {args.out}')


if __name__ == '__main__':
    main()
