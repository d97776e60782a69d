"""Export a trained hrpose detector to one ONNX file for ONNX Runtime.

    python tools/deployment/export_onnx.py CONFIG CHECKPOINT --out model.onnx
        [--opset 17] [--input-size H W] [--fixed-size] [--max-persons N]
        [--verify IMAGE ...] [--cfg-options key=value ...] [--unsafe-load]

The graph takes the normalised, padded image tensor the config's data preprocessor makes
(inputs (1, 3, H, W), img_shape (h, w), scale_factor (w, h)) and gives every person box
with its score, keypoints and keypoint scores in original-image pixels. Resizing and
normalisation stay outside: both backends then share the config's pipeline. Rescoring,
OKS-NMS and the pose cap run after the graph in both backends (hrpose's
``postprocess_poses``). Run the file with ``init_model(CONFIG, 'model.onnx')``,
``demo/demo.py IMAGE CONFIG model.onnx`` or ``tools/test.py CONFIG model.onnx``.

--verify runs the given images through the PyTorch model and the exported file and prints
how far apart they are; the export fails when a person count differs.
"""
import argparse
import os.path as osp
import sys

from mmengine.config import DictAction

from hrpose.apis import inference_keypoints, init_model
from hrpose.deploy import ExportError, export_onnx
from hrpose.deploy.onnx_export import DEFAULT_OPSET
from hrpose.deploy.parity import format_differences, prediction_differences
from hrpose.utils import register_all_modules
from hrpose.utils.cli import positive_int
from hrpose.utils.outputs import check_output_file


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Export a hrpose detector to ONNX')
    parser.add_argument('config', help='config file or config name')
    parser.add_argument('checkpoint', help='checkpoint file (.pth)')
    parser.add_argument('--out', required=True, help='the ONNX file to write')
    parser.add_argument(
        '--opset', type=int, default=DEFAULT_OPSET, help='ONNX opset (>= 16, RoiAlign half_pixel)')
    parser.add_argument(
        '--input-size',
        type=positive_int,
        nargs=2,
        metavar=('H', 'W'),
        default=(800, 1344),
        help='size of the traced example input (the only size taken with --fixed-size)')
    parser.add_argument(
        '--fixed-size',
        action='store_true',
        help='export for --input-size only (default: any height and width)')
    parser.add_argument(
        '--max-persons',
        type=positive_int,
        default=None,
        help='box detections kept per image (default: model.test_cfg.rcnn.max_per_img)')
    parser.add_argument(
        '--verify', nargs='+', metavar='IMAGE', help='compare both backends on these images')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, help='config overrides, key=value')
    parser.add_argument(
        '--unsafe-load',
        action='store_true',
        help='load a checkpoint with types outside the allow-list')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if not args.out.endswith('.onnx'):
        raise SystemExit(f'--out {args.out}: the file must end with .onnx')
    check_output_file(args.out, '--out')
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'checkpoint {args.checkpoint} does not exist')
    register_all_modules()
    model = init_model(
        args.config, args.checkpoint, cfg_options=args.cfg_options, unsafe_load=args.unsafe_load)
    try:
        metadata = export_onnx(
            model,
            args.out,
            input_size=tuple(args.input_size),
            opset=args.opset,
            dynamic=not args.fixed_size,
            max_persons=args.max_persons,
            dataset_meta=model.dataset_meta,
            config_text=model.cfg.pretty_text)
    except ExportError as error:
        raise SystemExit(f'cannot export {args.config}: {error}')
    print(f'wrote {args.out}: opset {metadata["opset"]}, input size {metadata["input_size"]}, '
          f'K={metadata["num_keypoints"]}, {metadata["codec"]}, up to '
          f'{metadata["max_persons"]} persons per image')
    if args.verify:
        onnx_model = init_model(args.config, args.out, cfg_options=args.cfg_options)
        differences = prediction_differences(
            inference_keypoints(model, list(args.verify)),
            inference_keypoints(onnx_model, list(args.verify)))
        print('\n'.join(['PyTorch against ONNX Runtime:'] + format_differences(differences)))
        if differences['count_mismatches']:
            sys.exit(1)


if __name__ == '__main__':
    main()
