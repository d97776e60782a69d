"""Evaluate a trained detector: COCO keypoint AP and box AP with the config's evaluator.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out results.pkl]
        [--show-dir DIR] [--cfg-options key=value ...] [--launcher pytorch] [--unsafe-load]
        [--person-boxes gt|DETS.json [--person-box-score-thr T] [--max-persons-per-img N]]
        [--batch-size N] [--precision fp32|fp16|bf16 | --fp16] [--compile [MODE]]
        [--channels-last]

Keypoint AP is end to end by default (the detector's own person boxes). With
--person-boxes the keypoint branch runs on the ground-truth boxes ('gt') or on the boxes of
a detection file in COCO results format, as top-down methods are evaluated; the printed
numbers then say which boxes they were computed on, and box AP is that of those boxes.

CHECKPOINT may be a work dir: its latest checkpoint (the `last_checkpoint` file that
training writes) is used, or an ONNX file of tools/deployment/export_onnx.py, evaluated in
ONNX Runtime with the same pipeline, metrics and tables. Several processes:
tools/dist_test.sh CONFIG CHECKPOINT N.
"""
import argparse
import os.path as osp

from mmengine.dist import get_rank
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from hrpose.apis.inference import set_inference_settings
from hrpose.engine import find_resumable_checkpoint
from hrpose.evaluation.error_analysis import diagnose_results_file
from hrpose.models.roi_heads.pose_postprocessing import describe_test_protocol
from hrpose.utils import register_all_modules
from hrpose.utils.cli import add_inference_options, inference_options, positive_int
from hrpose.utils.config_files import load_config
from hrpose.utils.outputs import check_output_file, prepare_output_dir
from hrpose.utils.registry_errors import explain_unknown_types

from common_args import add_common_args, apply_common_args, end_run, parse_common_args  # tools/


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (and evaluate) a hrpose detector')
    parser.add_argument('config', help='test config file path')
    parser.add_argument(
        'checkpoint', help='checkpoint file, a work dir to take its latest, or an .onnx file')
    parser.add_argument('--work-dir', help='folder for the evaluation logs')
    parser.add_argument('--out', help='dump the raw predictions to this pickle file (.pkl)')
    parser.add_argument(
        '--show-dir',
        help='draw ground truth (left) and predictions (right) of every test image into this '
        'folder, relative to the run folder in the work dir')
    parser.add_argument(
        '--show-score-thr', type=float, default=0.3, help='lowest person score drawn')
    parser.add_argument(
        '--person-boxes',
        metavar='gt|DETS.json',
        help="evaluate the keypoint branch on given person boxes: 'gt' (the annotation "
        'file\'s) or a detection file in COCO results format (image_id, bbox [x, y, w, h], '
        'score); the RPN and box branch are skipped')
    parser.add_argument(
        '--person-box-score-thr',
        type=float,
        default=None,
        help='with a detection file: leave out boxes scoring below this (default 0)')
    parser.add_argument(
        '--max-persons-per-img',
        type=positive_int,
        default=None,
        help='with a detection file: keep at most this many boxes per image, best first')
    parser.add_argument(
        '--analyze',
        metavar='DIR',
        help='then diagnose the keypoint errors (jitter, inversion, swap, miss, and the AP '
        'with each fixed) into DIR: report.md, pictures, summary.json')
    parser.add_argument(
        '--person-box-format',
        choices=('xywh', 'xyxy'),
        default=None,
        help='with a detection file: how it writes boxes (default xywh, COCO results format; '
        'a file that looks like x1, y1, x2, y2 is refused unless this says xyxy)')
    parser.add_argument(
        '--batch-size',
        type=positive_int,
        default=None,
        help='images per forward pass (default: the config\'s test_dataloader.batch_size)')
    add_inference_options(parser)
    add_common_args(parser, 'test_dataloader.batch_size=4')
    return parse_common_args(parser)


def apply_person_boxes(cfg, args) -> None:
    """--person-boxes and its filters, as settings of the test dataset."""
    options = dict(
        person_boxes=args.person_boxes,
        person_box_score_thr=args.person_box_score_thr,
        max_persons_per_img=args.max_persons_per_img,
        person_box_format=args.person_box_format)
    given = {k: v for k, v in options.items() if v is not None}
    if not given:
        return
    if args.person_boxes is None:
        raise SystemExit('--person-box-score-thr, --max-persons-per-img and '
                         '--person-box-format apply to --person-boxes DETS.json: give that too')
    if args.person_boxes == 'gt' and len(given) > 1:
        raise SystemExit('--person-box-score-thr, --max-persons-per-img and '
                         '--person-box-format apply to a detection file; ground-truth boxes '
                         "('gt') are all used, with score 1")
    cfg.test_dataloader.dataset.update(given)


def use_onnx_model(cfg, args) -> None:
    """Evaluate an exported file in ONNX Runtime: the config's preprocessing, dataset,
    metrics and pose settings, the file's graph (``hrpose.deploy.OnnxKeypointDetector``)."""
    from hrpose.deploy import onnx_model_config
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'ONNX file {args.checkpoint} does not exist')
    if args.person_boxes is not None:
        raise SystemExit('--person-boxes needs the PyTorch checkpoint: the exported graph '
                         'detects the persons itself')
    cfg.model = onnx_model_config(cfg, args.checkpoint)
    cfg.load_from = None


def resolve_checkpoint(path: str) -> str:
    """A checkpoint file, or the newest complete one in a training work dir."""
    if osp.isdir(path):
        found = find_resumable_checkpoint(path)
        if found is None:
            raise FileNotFoundError(
                f'{path} is a folder without any complete checkpoint: pass a .pth file')
        path = found
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint {path} does not exist')
    return path


def main() -> None:
    args = parse_args()
    register_all_modules()
    cfg = load_config(args.config)
    apply_common_args(cfg, args)
    apply_person_boxes(cfg, args)
    if args.batch_size is not None:
        cfg.test_dataloader.batch_size = args.batch_size
    set_inference_settings(cfg, *inference_options(args), onnx=args.checkpoint.endswith('.onnx'))
    rcnn_test_cfg = (cfg.model.get('test_cfg') or {}).get('rcnn')
    if args.checkpoint.endswith('.onnx'):
        use_onnx_model(cfg, args)
    else:
        cfg.load_from = resolve_checkpoint(args.checkpoint)

    if args.show_dir is not None:
        cfg.default_hooks.visualization = dict(
            type='DetVisualizationHook',
            draw=True,
            test_out_dir=args.show_dir,
            score_thr=args.show_score_thr)

    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out {args.out}: the file must end with .pkl or .pickle')
        check_output_file(args.out, '--out')  # now, not after the whole inference
        cfg.test_evaluator = list(cfg.test_evaluator) if isinstance(
            cfg.test_evaluator, (list, tuple)) else [cfg.test_evaluator]
        cfg.test_evaluator.append(dict(type='DumpDetResults', out_file_path=args.out))

    keypoint_results = prepare_analysis(cfg, args.analyze) if args.analyze else None

    with explain_unknown_types():
        runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
        print_log(f'test protocol: {describe_test_protocol(rcnn_test_cfg)}', logger='current')
        runner.test()
        if keypoint_results is not None and get_rank() == 0:
            metric = coco_metric_config(cfg)
            dataset = runner.test_dataloader.dataset
            diagnose_results_file(metric['ann_file'], keypoint_results, args.analyze,
                                  dataset.metainfo, dataset.data_prefix.get('img'))
    end_run()


def coco_metric_config(cfg) -> dict:
    """The CocoKeypointMetric entry of ``test_evaluator`` (a dict or a list)."""
    evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator,
                                                  (list, tuple)) else [cfg.test_evaluator]
    for evaluator in evaluators:
        if evaluator.get('type') == 'CocoKeypointMetric':
            return evaluator
    raise ValueError('--analyze needs a CocoKeypointMetric in test_evaluator')


def prepare_analysis(cfg, out_dir: str) -> str:
    """Make the metric write its keypoint results (into ``out_dir`` unless the config
    names a place) and check the folder now; the results file's path."""
    prepare_output_dir(out_dir, '--analyze')
    metric = coco_metric_config(cfg)
    if not metric.get('outfile_prefix'):
        metric['outfile_prefix'] = osp.join(out_dir, 'results')
    return f'{metric["outfile_prefix"]}.keypoints.json'


if __name__ == '__main__':
    main()
