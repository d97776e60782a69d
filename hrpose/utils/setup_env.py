"""Environment set-up shared by tools/train.py and tools/test.py."""
import argparse
import os
from typing import Optional

import torch
import torch.distributed as torch_dist
from mmengine.config import Config, DictAction


def check_mmcv_ops(cuda_available: Optional[bool] = None,
                   compiled_cuda_version: Optional[str] = None) -> None:
    """Stop early when torch sees a GPU but mmcv's ops were built for the CPU only.

    Otherwise the first RPN NMS on a CUDA tensor fails deep in mmcv with "implementation for
    device cuda:0 not found", after the model, the data and the workers were set up (an
    8-GPU job dies at iteration 0). The arguments replace the probes, for tests.

    Raises:
        RuntimeError: naming the fix.
    """
    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    if not cuda_available:
        return
    if compiled_cuda_version is None:
        from mmcv.ops import get_compiling_cuda_version
        compiled_cuda_version = get_compiling_cuda_version()
    if compiled_cuda_version == 'not available':
        raise RuntimeError(
            'torch sees a GPU but mmcv 2.1.0 was built with CPU ops only, so its RoIAlign and '
            'NMS cannot run on CUDA tensors. Rebuild it with CUDA ops: on this machine '
            '`make install` (it now detects the GPU), or from a login node without one '
            "`HRPOSE_MMCV_CUDA=1 TORCH_CUDA_ARCH_LIST='8.0;9.0' make install`. To run on the "
            'CPU instead, hide the GPU: CUDA_VISIBLE_DEVICES= .')


def prepare_distributed(cfg: Config, launcher: str) -> None:
    """Make a distributed launch work on machines without a GPU too.

    mmengine 0.10.7 assumes CUDA for the ``pytorch`` launcher: it calls
    ``torch.cuda.set_device`` before creating the process group and wraps the model in DDP
    with ``device_ids=[LOCAL_RANK]``. Both fail on a CPU-only machine, so there the process
    group is created here with the gloo backend and DDP gets ``device_ids=None``. On GPU
    machines the config is left as it is.

    Args:
        cfg: the experiment config, modified in place.
        launcher: 'none', 'pytorch', 'slurm' or 'mpi'.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return
    dist_cfg = cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    dist_cfg['backend'] = 'gloo'
    wrapper_cfg = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper_cfg['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper_cfg
    if launcher == 'pytorch' and not torch_dist.is_initialized():
        missing = [k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
                   if k not in os.environ]
        if missing:
            raise RuntimeError(
                f'--launcher pytorch needs the environment variables {missing}; start the '
                'job with tools/dist_train.sh (torchrun) rather than python directly.')
        torch_dist.init_process_group(backend='gloo')


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
