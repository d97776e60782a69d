"""Command-line options shared by tools/train.py and tools/test.py."""
import argparse
import logging
import os
import sys

from mmengine.config import Config, DictAction

from hrpose.utils.setup_env import check_mmcv_ops, finish_distributed, prepare_distributed


def apply_common_args(cfg: Config, args) -> None:
    """Apply ``--work-dir`` and ``--cfg-options`` the way mmdet's tools do.

    The work dir is, in order: ``--work-dir``, ``work_dir`` in the config, or
    ``./work_dirs/<config name>``. Checks first that mmcv's ops can run on the GPU torch
    sees (:func:`check_mmcv_ops`), before anything is built.
    """
    check_mmcv_ops()
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        config_name = os.path.splitext(os.path.basename(args.config))[0]
        cfg.work_dir = os.path.join('./work_dirs', config_name)
    cfg.launcher = args.launcher
    prepare_distributed(cfg, args.launcher)
    if getattr(args, 'unsafe_load', False):
        from hrpose.engine import allow_unsafe_checkpoint_loading
        allow_unsafe_checkpoint_loading()


def add_common_args(parser: argparse.ArgumentParser, cfg_options_example: str) -> None:
    """``--cfg-options``, ``--launcher``, ``--unsafe-load`` and ``--local_rank``, shared by
    train and test."""
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help=f'override config settings, e.g. {cfg_options_example}')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument(
        '--unsafe-load',
        action='store_true',
        help='load checkpoints that hold types outside the allow-list (weights_only=False); '
        'only for files from a source you trust, since unpickling can run arbitrary code')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK instead.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_common_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse, and make LOCAL_RANK visible to mmengine whichever launcher set it."""
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def end_run() -> None:
    """End a successful train or test run. A distributed one meets the other ranks, destroys
    its process group and leaves at once with status 0, its logs and streams flushed.

    Left to the interpreter's teardown, a finished rank can abort (SIGABRT, "terminate
    called without an active exception", after its last Python frame) even with the process
    group destroyed, and the launcher then reports a failed run whose checkpoints and
    results were all written.
    """
    if finish_distributed():
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
