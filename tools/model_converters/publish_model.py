"""Turn a training checkpoint into a release file: weights and metadata only, named with
the first 8 hex digits of its SHA-256 (as OpenMMLab model zoos do).

    python tools/model_converters/publish_model.py work_dirs/run/iter_90000.pth hrpose_w32_coco.pth
    -> hrpose_w32_coco-<sha256[:8]>.pth

Optimizer state, parameter schedulers and the message hub (training-only) are dropped.
"""
import argparse
import hashlib
import os
import os.path as osp

import torch

from hrpose.engine import allow_unsafe_checkpoint_loading, atomic_write
from hrpose.engine.checkpoint import load_local_checkpoint
from hrpose.utils import register_all_modules

TRAINING_ONLY_KEYS = ('optimizer', 'param_schedulers', 'message_hub', 'random_state')


def publish(in_file: str, out_file: str) -> str:
    """Write the release file; returns its final path (with the hash)."""
    checkpoint = load_local_checkpoint(in_file, map_location='cpu')
    if 'state_dict' not in checkpoint:
        raise KeyError(f'{in_file} has no state_dict (keys: {sorted(checkpoint)})')
    for key in TRAINING_ONLY_KEYS:
        checkpoint.pop(key, None)
    meta = checkpoint.get('meta', {})
    # Keep what inference needs (config, dataset metainfo, versions), not training state.
    checkpoint['meta'] = {
        k: v
        for k, v in meta.items()
        if k in ('config', 'dataset_meta', 'mmengine_version', 'iter', 'epoch', 'seed')
    }
    stem = osp.splitext(out_file)[0]
    tmp_path = f'{stem}.unhashed.pth'
    torch.save(checkpoint, tmp_path)
    with open(tmp_path, 'rb') as f:
        data = f.read()
    os.remove(tmp_path)
    final = f'{stem}-{hashlib.sha256(data).hexdigest()[:8]}.pth'
    atomic_write(data, final)
    return final


def main() -> None:
    parser = argparse.ArgumentParser(description='Prepare a checkpoint for release')
    parser.add_argument('in_file', help='training checkpoint')
    parser.add_argument('out_file', help='release file name (the hash is appended)')
    parser.add_argument(
        '--unsafe-load',
        action='store_true',
        help='read a checkpoint with types outside the allow-list '
        '(weights_only=False); only for files from a source you trust')
    args = parser.parse_args()
    register_all_modules()
    allow_unsafe_checkpoint_loading(args.unsafe_load)
    final = publish(args.in_file, args.out_file)
    print(f'{args.in_file} ({osp.getsize(args.in_file) / 1e6:.1f} MB) -> {final} '
          f'({osp.getsize(final) / 1e6:.1f} MB)')


if __name__ == '__main__':
    main()
