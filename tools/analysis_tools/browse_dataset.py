"""Draw training samples as the model sees them: after the whole pipeline (resize, flip,
information dropping, ...), with their boxes, skeletons and keypoints. The quickest way to
catch a flip-index or coordinate bug.

    python tools/analysis_tools/browse_dataset.py CONFIG [--output-dir browse] [--num 20]
        [--phase train|val|test] [--cfg-options key=value ...]

One PNG per sample, named after its image, in OUTPUT_DIR.
"""
import argparse
import os
import os.path as osp

import numpy as np
from mmengine.config import DictAction
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar

from hrpose.registry import DATASETS, VISUALIZERS
from hrpose.utils import register_all_modules
from hrpose.utils.config_files import load_config
from hrpose.utils.registry_errors import explain_unknown_types


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Draw transformed dataset samples')
    parser.add_argument('config', help='config file')
    parser.add_argument('--output-dir', default='browse_dataset', help='where PNGs go')
    parser.add_argument('--num', type=int, default=20, help='how many samples (from the start)')
    parser.add_argument('--phase', default='train', choices=['train', 'val', 'test'])
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. '
        'train_dataloader.dataset.pipeline.3.prob=1.0')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    register_all_modules()
    cfg = load_config(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'hrpose'))
    with explain_unknown_types():
        dataset = DATASETS.build(cfg[f'{args.phase}_dataloader'].dataset)
        # Files are written here directly: no logging backends.
        visualizer = VISUALIZERS.build(
            dict(cfg.visualizer, name='browse_dataset', vis_backends=None))
    visualizer.dataset_meta = dataset.metainfo
    os.makedirs(args.output_dir, exist_ok=True)

    count = min(args.num, len(dataset))
    bar = ProgressBar(count)
    for index in range(count):
        sample = dataset[index]
        data_sample = sample['data_samples']
        # The packed image is (3, H, W) BGR; the visualizer draws on (H, W, 3) RGB.
        image = sample['inputs'].permute(1, 2, 0).numpy()[..., ::-1].astype(np.uint8)
        name = osp.splitext(osp.basename(data_sample.img_path))[0]
        visualizer.add_datasample(
            name,
            image,
            data_sample=data_sample,
            draw_pred=False,
            show=False,
            out_file=osp.join(args.output_dir, f'{index:04d}_{name}.png'))
        bar.update()
    print(f'\n{count} samples drawn into {args.output_dir}')


if __name__ == '__main__':
    main()
