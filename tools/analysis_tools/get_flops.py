"""Parameters and FLOPs of a config's model, split the way a two-stage model spends them.

    python tools/analysis_tools/get_flops.py CONFIG [--shape 800 1216] [--cfg-options ...]

The image part (backbone, neck, RPN) is counted on one HxW input; the box and keypoint
branches are counted per person RoI, since their cost depends on how many persons reach
them. FLOPs are multiply-adds (mmengine's counter, as most papers report them).
"""
import argparse

import torch
import torch.nn as nn
from mmengine.analysis import get_model_complexity_info
from mmengine.config import DictAction

from hrpose.apis import init_model
from hrpose.utils import register_all_modules
from hrpose.utils.registry_errors import explain_unknown_types


class ImagePart(nn.Module):
    """Backbone, neck and RPN head: (1, 3, H, W) -> RPN scores and deltas per level."""

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, inputs: torch.Tensor):
        features = self.detector.extract_feat(inputs)
        return self.detector.rpn_head(features)


def count(module: nn.Module, inputs: tuple) -> tuple:
    info = get_model_complexity_info(module, inputs=inputs, show_table=False, show_arch=False)
    return info['flops'], info['params']


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Count parameters and FLOPs')
    parser.add_argument('config', help='config file or name')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        default=[800, 1216],
        metavar=('H', 'W'),
        help='input height and width (padded to the size divisor)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    register_all_modules()
    with explain_unknown_types():
        model = init_model(args.config, None, cfg_options=args.cfg_options)
    height, width = args.shape
    total_params = sum(p.numel() for p in model.parameters())
    image_flops, _ = count(ImagePart(model), (torch.zeros(1, 3, height, width), ))

    roi_head = model.roi_head
    box_feat = torch.zeros(1, roi_head.bbox_roi_extractor.out_channels,
                           *roi_head.bbox_roi_extractor.roi_layers[0].output_size)
    box_flops, box_params = count(roi_head.bbox_head, (box_feat, ))
    head = roi_head.keypoint_head
    keypoint_feat = torch.zeros(1, roi_head.keypoint_roi_extractor.out_channels,
                                *head.roi_feat_size)
    keypoint_flops, keypoint_params = count(head, (keypoint_feat, ))

    print(f'config: {args.config}')
    print(f'parameters: {total_params / 1e6:.2f} M (box head {box_params / 1e6:.2f} M, '
          f'keypoint head {keypoint_params / 1e6:.2f} M)')
    print(f'image part (backbone + neck + RPN) at {height}x{width}: '
          f'{image_flops / 1e9:.2f} GFLOPs')
    print(f'per person: box head {box_flops / 1e9:.3f} GFLOPs, keypoint branch '
          f'{keypoint_flops / 1e9:.3f} GFLOPs')
    print(f'whole model, 10 persons: {(image_flops + 10 * (box_flops + keypoint_flops)) / 1e9:.2f}'
          ' GFLOPs')


if __name__ == '__main__':
    main()
