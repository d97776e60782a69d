"""Inference speed in one run: hrpose's precisions, batches and compiled image part against
torchvision's Keypoint R-CNN and the top-down pipeline.

    python bench/inference_speed.py [--device cpu|cuda] [--models W32 W18]
        [--batches 1 8] [--precisions fp32 fp16] [--compile off reduce-overhead]
        [--memory-formats contiguous channels_last]
        [--persons 1] [--repeats 3] [--threads N] [--no-top-down]

One 1216x800 image (B copies for batch B), random weights, N persons per image: the box
branches run on their proposals and their output is then replaced by exactly N boxes, as
in ``bench/vs_peers.py`` (whose builders, timer and memory probe this script uses). Every
combination of hrpose model x batch x precision x compile mode runs, and torchvision's
Keypoint R-CNN eager at each batch and precision, and the top-down pipeline (Faster R-CNN
R50-FPN + HRNet-W32 256x192 per person) at batch 1 in float32. Runs are interleaved (one
timed call of each, repeated), each figure the median of the repeats; compilation and
CUDA-graph capture happen in the warm-up call. Printed per variant: latency of a batch,
images per second, peak memory, latency / Keypoint R-CNN eager float32 batch 1, and images
per second / hrpose's eager float32 batch 1 of the same model. On the CPU, fp16 has no fast
kernels (bf16 does); on a GPU use fp16.
"""
import argparse
import itertools
import os.path as osp
import sys
from typing import Callable, Dict, List

import numpy as np
import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import vs_peers  # noqa: E402  (bench/vs_peers.py: builders, timer, memory probe)

from hrpose.utils import benchmarking, register_all_modules  # noqa: E402
from hrpose.utils.config_files import load_config  # noqa: E402

CONFIGS = {
    'W32': vs_peers.HRPOSE_CONFIGS['hrpose W32'],
    'W18': vs_peers.HRPOSE_CONFIGS['hrpose W18']
}
AUTOCAST_DTYPES = {'fp16': torch.float16, 'bf16': torch.bfloat16}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--models', nargs='+', choices=sorted(CONFIGS), default=['W32', 'W18'])
    parser.add_argument('--batches', type=int, nargs='+', default=[1, 8])
    parser.add_argument(
        '--precisions', nargs='+', choices=('fp32', 'fp16', 'bf16'), default=['fp32', 'fp16'])
    parser.add_argument(
        '--compile',
        nargs='+',
        choices=('off', 'default', 'reduce-overhead', 'max-autotune'),
        default=['off', 'reduce-overhead'],
        help="hrpose's compile_image_part modes ('off': eager)")
    parser.add_argument(
        '--memory-formats',
        nargs='+',
        choices=('contiguous', 'channels_last'),
        default=['contiguous'],
        help="hrpose's memory order of the convolutions (channels_last=True)")
    parser.add_argument('--persons', type=int, default=1, help='persons per image')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--height', type=int, default=800)
    parser.add_argument('--width', type=int, default=1216)
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--no-top-down', action='store_true')
    parser.add_argument(
        '--rpn-half',
        action='store_true',
        help='in fp16 / bf16, also time the RPN head under autocast (model.rpn_head_float32='
        'False; by default it runs in float32)')
    return parser.parse_args()


def hrpose_runner(model, image: np.ndarray, boxes: torch.Tensor, batch: int,
                  device: torch.device) -> Callable[[], object]:
    """One timed call: the batch through the data preprocessor and ``model.predict``."""
    height, width = image.shape[:2]
    tensor = torch.from_numpy(image).permute(2, 0, 1).contiguous()

    def run():
        benchmarking.force_persons(model.roi_head, boxes.to(device))
        samples = [benchmarking.unresized_sample(height, width) for _ in range(batch)]
        with torch.no_grad():
            data = model.data_preprocessor(
                dict(inputs=[tensor] * batch, data_samples=samples), False)
            results = model.predict(data['inputs'], data['data_samples'])
        assert len(results) == batch and len(results[0].pred_instances) == len(boxes)
        return results

    return run


def image_part_runner(model, image: np.ndarray, batch: int,
                      device: torch.device) -> Callable[[], object]:
    """One timed call of the image part alone (backbone, neck, RPN convolutions): the part
    that compiles."""
    height, width = image.shape[:2]
    tensor = torch.from_numpy(image).permute(2, 0, 1).contiguous()
    samples = [benchmarking.unresized_sample(height, width) for _ in range(batch)]
    inputs = model.data_preprocessor(dict(inputs=[tensor] * batch, data_samples=samples),
                                     False)['inputs']

    def run():
        with torch.no_grad():
            return model.image_part(inputs, rpn_now=True)

    return run


def keypoint_rcnn_runner(image: np.ndarray, boxes: torch.Tensor, batch: int, precision: str,
                         device: torch.device) -> Callable[[], object]:
    """torchvision's Keypoint R-CNN on ``batch`` copies, under autocast for half precision."""
    from torchvision.models.detection import keypointrcnn_resnet50_fpn
    model = keypointrcnn_resnet50_fpn(weights=None, weights_backbone=None).to(device).eval()
    tensor = (torch.from_numpy(image[..., ::-1].copy()).permute(2, 0, 1).float() / 255).to(device)
    height, width = image.shape[:2]

    def forced(class_logits, box_regression, proposals, image_shapes):
        scale = torch.tensor(
            [image_shapes[0][1] / width, image_shapes[0][0] / height] * 2, device=device)
        n = len(boxes)
        return ([boxes.to(device) * scale] * batch, [torch.ones(n, device=device)] * batch,
                [torch.ones(n, dtype=torch.int64, device=device)] * batch)

    model.roi_heads.postprocess_detections = forced

    def run():
        with torch.no_grad(), torch.autocast(
                device.type, dtype=AUTOCAST_DTYPES.get(precision), enabled=precision != 'fp32'):
            output = model([tensor] * batch)
        assert len(output) == batch
        return output

    return run


def main() -> None:
    args = parse_args()
    register_all_modules()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    image = np.random.RandomState(0).randint(0, 256, (args.height, args.width, 3)).astype(np.uint8)
    boxes = benchmarking.random_person_boxes(args.persons, args.height, args.width,
                                             torch.Generator().manual_seed(0))
    from mmengine.registry import init_default_scope

    from hrpose.registry import MODELS
    init_default_scope('hrpose')
    runs: Dict[str, Callable[[], object]] = {}
    batch_of: Dict[str, int] = {}
    image_parts: Dict[str, Callable[[], object]] = {}
    for name in args.models:
        cfg = load_config(CONFIGS[name])
        cfg.model.backbone.init_cfg = None
        torch.manual_seed(0)
        weights = MODELS.build(cfg.model).state_dict()
        for precision in args.precisions:
            for mode in args.compile:
                for batch in args.batches:
                    rpn_float32 = [True
                                   ] + ([False] if args.rpn_half and precision != 'fp32' else [])
                    for memory_format, rpn in itertools.product(args.memory_formats, rpn_float32):
                        channels_last = memory_format == 'channels_last'
                        model = MODELS.build(
                            dict(cfg.model, channels_last=channels_last, rpn_head_float32=rpn))
                        model.load_state_dict(weights)
                        model = model.to(device).eval()
                        model.inference_precision = precision
                        model.compile_image_part = None if mode == 'off' else mode
                        label = 'eager' if mode == 'off' else mode
                        key = f'hrpose {name} {precision} {label} b{batch}'
                        key += ' channels_last' if channels_last else ''
                        key += ' rpn-half' if not rpn else ''
                        runs[key] = hrpose_runner(model, image, boxes, batch, device)
                        batch_of[key] = batch
                        image_parts[key] = image_part_runner(model, image, batch, device)
    for precision in args.precisions:
        for batch in args.batches:
            key = f'Keypoint R-CNN {precision} eager b{batch}'
            runs[key] = keypoint_rcnn_runner(image, boxes, batch, precision, device)
            batch_of[key] = batch
    if not args.no_top_down:
        key = 'top-down fp32 eager b1'
        runs[key] = vs_peers.build_top_down(device)(image, boxes)
        batch_of[key] = 1

    device_name = (
        torch.cuda.get_device_name(device)
        if device.type == 'cuda' else f'CPU, {torch.get_num_threads()} torch threads')
    print(f'One {args.width}x{args.height} image per batch entry, {args.persons} person(s) '
          f'each, {device_name}, torch {torch.__version__}, random weights, interleaved, '
          f'median of {args.repeats}; warm-up (compilation, graph capture) not timed.')
    for run in runs.values():
        run()
    for key, run in image_parts.items():
        runs[f'{key} image part'] = run
    results: Dict[str, List[dict]] = {key: [] for key in runs}
    for _ in range(args.repeats):
        for key, run in runs.items():
            results[key].append(vs_peers.timed(run, device))

    def median(key, field='seconds'):
        return float(np.median([r[field] for r in results[key]]))

    reference = f'Keypoint R-CNN fp32 eager b{min(args.batches)}'
    print(f'\n{"variant":58s} {"s / batch":>10s} {"images/s":>9s} {"peak MB":>8s} '
          f'{"/ KRCNN fp32 b1":>16s} {"images/s / eager fp32 b1":>25s}')
    for key in runs:
        if key.endswith(' image part'):
            continue
        seconds = median(key)
        images_per_s = batch_of[key] / seconds
        model_name = ' '.join(key.split()[:2])
        base = f'{model_name} fp32 eager b{min(args.batches)}'
        speedup = (
            images_per_s / (batch_of[base] / median(base)) if base in results else float('nan'))
        ratio = seconds / median(reference) if reference in results else float('nan')
        print(f'{key:58s} {seconds:10.4f} {images_per_s:9.2f} {median(key, "memory_mb"):8.0f} '
              f'{ratio:16.2f} {speedup:25.2f}')
    print('\nThe image part alone (backbone, neck, RPN convolutions: what compiles), s / batch')
    for key in image_parts:
        print(f'{key:58s} {median(key + " image part"):10.4f}')


if __name__ == '__main__':
    main()
