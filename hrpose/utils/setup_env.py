"""Explicit set-up: what the tools and the API call before they build anything."""
import os
from typing import Optional

import torch
import torch.distributed as torch_dist
from mmengine.config import Config

from hrpose.utils.mmcv_kernels import mmcv_cuda_kernels_found


def register_all_modules(init_default_scope: bool = True) -> None:
    """Register hrpose's modules and prepare mmengine to load its checkpoints.

    Importing ``hrpose`` changes nothing outside it; this call does, as mmdet's
    ``register_all_modules`` does for mmdet. It registers the codecs, datasets, transforms,
    models, metrics, hooks and visualisers; allow-lists the data types of mmengine's own
    checkpoints for ``torch.load(weights_only=True)`` (``--resume`` and ``load_from`` need
    them with torch >= 2.6); and routes mmengine's loading of local checkpoint files through
    hrpose's loader (clear errors for truncated or unsafe files). Idempotent.

    Args:
        init_default_scope: also make ``hrpose`` the default registry scope, so that a
            config's type names resolve in hrpose, then mmdet, then mmengine.
    """
    import hrpose.codecs  # noqa: F401
    import hrpose.datasets  # noqa: F401
    import hrpose.deploy  # noqa: F401
    import hrpose.engine  # noqa: F401
    import hrpose.evaluation  # noqa: F401
    import hrpose.models  # noqa: F401
    import hrpose.visualization  # noqa: F401
    from hrpose.engine.checkpoint import (register_checkpoint_safe_globals,
                                          register_local_checkpoint_loader)
    register_checkpoint_safe_globals()
    register_local_checkpoint_loader()
    if init_default_scope:
        from mmengine.registry import init_default_scope as set_default_scope
        set_default_scope('hrpose')


def rank_cuda_device(device_count: Optional[int] = None) -> str:
    """The GPU of this process: ``cuda:<LOCAL_RANK>``, the device mmengine's ``init_dist``
    gives the rank (``cuda:0`` without a launcher). Probing anything CUDA before the Runner
    on this device, not on the current one, keeps rank k's CUDA context off GPU 0 (8 ranks
    would otherwise put 7 extra contexts there, and GPUs in EXCLUSIVE_PROCESS mode refuse
    the second one).

    Args:
        device_count: visible GPUs (default: torch's count).
    """
    count = torch.cuda.device_count() if device_count is None else device_count
    local_rank = int(os.environ.get('LOCAL_RANK', '0') or 0)
    if count and local_rank >= count:
        raise RuntimeError(f'LOCAL_RANK={local_rank} but only {count} GPU(s) are visible: '
                           'start at most one process per GPU (e.g. --nproc_per_node)')
    return f'cuda:{local_rank}'


def check_mmcv_ops(cuda_available: Optional[bool] = None,
                   cuda_kernels_found: Optional[bool] = None) -> None:
    """Stop early when torch sees a GPU but mmcv's ops were built for the CPU only.

    Otherwise the first RPN NMS on a CUDA tensor fails deep in mmcv with "implementation for
    device cuda:0 not found", after the model, the data and the workers were set up (an
    8-GPU job dies at iteration 0). The probe runs on the rank's own GPU
    (:func:`rank_cuda_device`). The arguments replace the probes, for tests.

    Raises:
        RuntimeError: naming the fix.
    """
    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    if not cuda_available:
        return
    if cuda_kernels_found is None:
        device = rank_cuda_device()
        torch.cuda.set_device(device)  # the rank's own context, nowhere else
        cuda_kernels_found = mmcv_cuda_kernels_found(device)
    if not cuda_kernels_found:
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
        missing = [
            k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT') if k not in os.environ
        ]
        if missing:
            raise RuntimeError(
                f'--launcher pytorch needs the environment variables {missing}; start the '
                'job with tools/dist_train.sh (torchrun) rather than python directly.')
        torch_dist.init_process_group(backend='gloo')


def finish_distributed() -> bool:
    """Meet the other ranks and destroy the default process group at the end of a
    successful run; True if there was one.

    Not called after an error, where other ranks may still wait in a collective and the call
    could hang.
    """
    if not (torch_dist.is_available() and torch_dist.is_initialized()):
        return False
    torch_dist.barrier()
    torch_dist.destroy_process_group()
    return True
