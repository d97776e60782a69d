"""Generate hrpose's synthetic COCO-format person-keypoint dataset.

    python tools/misc/make_synthetic_coco.py data/synthetic [--train 64 --val 16 --seed 0]
"""
import argparse

from hrpose.datasets.synthetic import make_synthetic_coco


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('out_dir', help='output folder')
    parser.add_argument('--train', type=int, default=64, help='number of training images')
    parser.add_argument('--val', type=int, default=16, help='number of validation images')
    parser.add_argument('--height', type=int, default=256, help='image height in pixels')
    parser.add_argument('--width', type=int, default=320, help='image width in pixels')
    parser.add_argument('--seed', type=int, default=0, help='generator seed')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    ann_files = make_synthetic_coco(
        args.out_dir,
        splits=dict(train=args.train, val=args.val),
        image_size=(args.height, args.width),
        seed=args.seed)
    for split, path in ann_files.items():
        print(f'{split}: {path}')


if __name__ == '__main__':
    main()
