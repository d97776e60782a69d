"""Train a detector from a config.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT|auto]] [--amp]
        [--auto-scale-lr] [--cfg-options key=value ...] [--launcher pytorch]
        [--unsafe-load]

Several processes or nodes: tools/dist_train.sh CONFIG NUM_PROCESSES [args]; Slurm:
tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [args].
"""
import argparse
import os
import os.path as osp

from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from hrpose.engine import find_resumable_checkpoint, lock_work_dir, remove_stale_temporaries
from hrpose.utils import register_all_modules
from hrpose.utils.config_files import load_config
from hrpose.utils.registry_errors import explain_unknown_types

from common_args import add_common_args, apply_common_args, end_run, parse_common_args  # tools/


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a hrpose detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='folder for logs and checkpoints')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the actual total batch size '
        '(auto_scale_lr.base_batch_size in the config is the reference)')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from this checkpoint; with no value (or "auto"), from the latest '
        'checkpoint in the work dir')
    add_common_args(parser, 'train_cfg.max_iters=100 optim_wrapper.optimizer.lr=0.01')
    return parse_common_args(parser)


def main() -> None:
    args = parse_args()
    register_all_modules()
    cfg = load_config(args.config)
    apply_common_args(cfg, args)

    if args.amp:
        optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_wrapper != 'AmpOptimWrapper':
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'

    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise KeyError(f'--auto-scale-lr needs auto_scale_lr.base_batch_size in '
                           f'{args.config}')
        cfg.auto_scale_lr.enable = True

    # One training per work dir (rank 0 holds it for a distributed run): a second one
    # would overwrite this one's checkpoints.
    lock = None
    if int(os.environ.get('RANK', '0')) == 0:
        lock = lock_work_dir(cfg.work_dir)
        if lock.stale:
            print(f'{cfg.work_dir}: the lock of a run that is no longer running ({lock.stale}) '
                  'was taken over')
    try:
        train(cfg, args)
    finally:
        if lock is not None:
            lock.release()
    end_run()


def train(cfg, args) -> None:
    """Resolve ``--resume``, clean up after an interrupted save, and train."""
    if args.resume == 'auto':
        # mmengine would trust `last_checkpoint` blindly; a crash can leave it empty or
        # pointing at a file cut short, so the newest complete checkpoint is looked up here.
        cfg.resume = True
        cfg.load_from = find_resumable_checkpoint(cfg.work_dir) if osp.isdir(
            cfg.work_dir) else None
        if cfg.load_from is None:
            print(f'--resume auto: no checkpoint in {cfg.work_dir} yet, training from the '
                  'start')
            cfg.resume = False
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise FileNotFoundError(f'--resume {args.resume}: no such checkpoint file')
        cfg.resume = True
        cfg.load_from = args.resume

    with explain_unknown_types():
        stale = remove_stale_temporaries(cfg.work_dir) if osp.isdir(cfg.work_dir) else []
        if stale:
            print(f'removed {len(stale)} temporary file(s) an interrupted save left in '
                  f'{cfg.work_dir}')
        runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
        runner.train()


if __name__ == '__main__':
    main()
