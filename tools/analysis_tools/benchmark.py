"""Images per second of the whole model (loading excluded) on a config's test set.

    python tools/analysis_tools/benchmark.py CONFIG [CHECKPOINT] [--num-images 50]
        [--warmup 5] [--device cpu] [--cfg-options key=value ...]

The first --warmup images are run but not timed (allocator and kernel warm-up). Without a
checkpoint the weights are random, which is fine for speed but not for the number of
persons found; pass the trained checkpoint for a realistic keypoint branch cost.
"""
import argparse
import time

import torch
from mmengine.config import DictAction
from mmengine.dataset import pseudo_collate

from hrpose.apis import init_model
from hrpose.registry import DATASETS
from hrpose.utils import register_all_modules
from hrpose.utils.registry_errors import explain_unknown_types


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Benchmark a hrpose model')
    parser.add_argument('config', help='config file or name')
    parser.add_argument('checkpoint', nargs='?', help='checkpoint (default: random weights)')
    parser.add_argument('--num-images', type=int, default=50, help='timed images')
    parser.add_argument('--warmup', type=int, default=5, help='untimed images first')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    register_all_modules()
    with explain_unknown_types():
        model = init_model(
            args.config, args.checkpoint, device=args.device, cfg_options=args.cfg_options)
        dataset = DATASETS.build(model.cfg.test_dataloader.dataset)
    total = args.warmup + args.num_images
    if len(dataset) == 0:
        raise ValueError('the test dataset is empty')
    timed, persons = 0.0, 0
    with torch.no_grad():
        for i in range(total):
            batch = pseudo_collate([dataset[i % len(dataset)]])  # loaded before the clock
            if args.device.startswith('cuda'):
                torch.cuda.synchronize()
            start = time.perf_counter()
            samples = model.test_step(batch)
            if args.device.startswith('cuda'):
                torch.cuda.synchronize()
            if i >= args.warmup:
                timed += time.perf_counter() - start
                persons += len(samples[0].pred_instances)
    print(f'config: {args.config}  device: {args.device}  threads: {torch.get_num_threads()}')
    print(f'{args.num_images} images after {args.warmup} warm-up: {args.num_images / timed:.2f} '
          f'images/s ({timed / args.num_images * 1000:.1f} ms/image, '
          f'{persons / args.num_images:.1f} persons/image)')


if __name__ == '__main__':
    main()
