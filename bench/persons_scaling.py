"""How the cost of one hrpose forward pass grows with the number of persons.

    python bench/persons_scaling.py [--config CONFIG] [--persons 1 5 10 20] [--repeats 3]
        [--cfg-options key=value ...]

Times the whole model (backbone, neck, RPN, box head, keypoint branch) on one 800x1216
image on the CPU. The box branch runs as usual, but its output is replaced by exactly N
person boxes, so random weights cannot change how many RoIs reach the keypoint branch.
Prints seconds per image for each N, the marginal seconds per extra person (least-squares
slope), and the multiply-add FLOPs of the keypoint branch per RoI.
"""
import argparse
import os.path as osp
import sys
import time

import numpy as np
import torch
from mmengine.analysis import get_model_complexity_info
from mmengine.config import DictAction
from mmengine.registry import init_default_scope

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from hrpose.registry import MODELS  # noqa: E402
from hrpose.utils import benchmarking, register_all_modules  # noqa: E402
from hrpose.utils.config_files import load_config  # noqa: E402

DEFAULT_CONFIG = 'configs/hrpose/hrpose_hrnet-w32_hrfpn_1x_coco.py'


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--persons', type=int, nargs='+', default=[1, 5, 10, 20])
    parser.add_argument('--repeats', type=int, default=3, help='timed runs per person count')
    parser.add_argument('--height', type=int, default=800)
    parser.add_argument('--width', type=int, default=1216)
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        default={},
        help='config overrides, e.g. model.roi_head.keypoint_roi_extractor.'
        'roi_layer.sampling_ratio=2')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    register_all_modules()
    if args.threads:
        torch.set_num_threads(args.threads)
    init_default_scope('hrpose')
    cfg = load_config(args.config)
    cfg.merge_from_dict(args.cfg_options)
    cfg.model.backbone.init_cfg = None  # random weights: the cost does not depend on them
    model = MODELS.build(cfg.model).eval()

    image = torch.randint(0, 256, (3, args.height, args.width), dtype=torch.uint8)
    sample = benchmarking.unresized_sample(args.height, args.width)
    generator = torch.Generator().manual_seed(0)

    roi_head = model.roi_head
    head = roi_head.keypoint_head
    roi_feat = torch.zeros(1, roi_head.keypoint_roi_extractor.out_channels, *head.roi_feat_size)
    flops = get_model_complexity_info(
        head, inputs=(roi_feat, ), show_table=False, show_arch=False)['flops']

    print(f'config: {args.config}')
    print(f'image: {args.width}x{args.height}, CPU threads: {torch.get_num_threads()}')
    print(f'keypoint branch: {flops / 1e9:.3f} GFLOPs (multiply-adds) per RoI, heatmaps '
          f'{head.codec.heatmap_size[0]}x{head.codec.heatmap_size[1]}')
    seconds = []
    for num in args.persons:
        benchmarking.force_persons(
            roi_head, benchmarking.random_person_boxes(num, args.height, args.width, generator))
        data = model.data_preprocessor(dict(inputs=[image], data_samples=[sample]), False)
        with torch.no_grad():
            model.predict(data['inputs'], data['data_samples'])  # warm-up
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                results = model.predict(data['inputs'], data['data_samples'])
                times.append(time.perf_counter() - start)
        roi_head.predict_bbox = type(roi_head).predict_bbox.__get__(roi_head)
        assert len(results[0].pred_instances.keypoints) == num
        seconds.append(float(np.median(times)))
        print(f'{num:3d} persons: {seconds[-1]:.3f} s/image (median of {args.repeats})')
    if len(args.persons) > 1:
        slope = np.polyfit(np.array(args.persons, dtype=float), np.array(seconds), 1)[0]
        print(f'marginal cost: {slope:.4f} s per extra person '
              f'({slope / seconds[0] * 100:.1f}% of the 1-person time)')


if __name__ == '__main__':
    main()
