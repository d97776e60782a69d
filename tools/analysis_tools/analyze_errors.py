"""Why keypoint AP is low: jitter, inversion, swap and miss, and the AP once each is fixed.

    python tools/analysis_tools/analyze_errors.py GT.json RESULTS.keypoints.json --out DIR
        [--img-dir IMAGES] [--metainfo configs/_base_/datasets/metainfo/coco_person.py]

Ronchi and Perona's error diagnosis (ICCV 2017; their coco-analyze), see
``hrpose/evaluation/error_analysis.py``. RESULTS.keypoints.json is what ``tools/test.py ...
--analyze DIR`` (or ``--cfg-options test_evaluator.outfile_prefix=P``) writes. DIR gets
``report.md`` with ``per_keypoint.png`` and ``pr_curves.png``, and ``summary.json``.
"""
import argparse

from hrpose.datasets.coco_keypoint import load_keypoint_metainfo
from hrpose.evaluation.error_analysis import diagnose_results_file


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Error diagnosis of COCO keypoint results')
    parser.add_argument('gt', help='ground-truth COCO keypoint json')
    parser.add_argument('results', help='COCO keypoint results json (*.keypoints.json)')
    parser.add_argument('--out', required=True, help='folder for the report and pictures')
    parser.add_argument(
        '--img-dir',
        help='the images\' folder: also draw the worst images (ground truth | '
        'predictions)')
    parser.add_argument(
        '--metainfo',
        default='configs/_base_/datasets/metainfo/coco_person.py',
        help='metainfo file giving keypoint_names, flip_indices and sigmas')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    diagnose_results_file(args.gt, args.results, args.out,
                          load_keypoint_metainfo(dict(from_file=args.metainfo)), args.img_dir)


if __name__ == '__main__':
    main()
