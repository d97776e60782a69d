"""Print a config with its `_base_` files merged and --cfg-options applied.

    python tools/misc/print_config.py CONFIG [--cfg-options key=value ...] [--save-path out.py]
"""
import argparse

from mmengine.config import DictAction

from hrpose.utils.config_files import load_config


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Print the whole config')
    parser.add_argument('config', help='config file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument('--save-path', help='also write the merged config to this file')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    print(cfg.pretty_text)
    if args.save_path:
        cfg.dump(args.save_path)
        print(f'written to {args.save_path}')


if __name__ == '__main__':
    main()
