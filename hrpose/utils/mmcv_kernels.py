"""Whether mmcv's compiled ops hold CUDA kernels, asked of the kernels themselves.

torch and mmcv only, no other part of hrpose: ``tools/install/install_plan.py`` loads this file by
its path, before hrpose is installed.
"""
import torch


def mmcv_cuda_kernels_found(device: str = 'cuda') -> bool:
    """Whether mmcv's ops run on ``device`` (the visible GPU by default).

    One nms on a one-box tensor on ``device``: a build without kernels for it refuses with
    mmcv's "nms_impl: implementation for device cuda:0 not found.", any other error is
    raised. mmcv's ``get_compiling_cuda_version()`` is not asked: it killed the process
    (segmentation fault) with mmcv 2.1.0 built against torch 2.11 and CUDA 13.0 on an H200,
    while the kernels themselves ran.
    """
    from mmcv.ops import nms
    box = torch.tensor([[0.0, 0.0, 10.0, 10.0]], device=device)
    try:
        nms(box, torch.ones(1, device=device), 0.5)
    except RuntimeError as error:
        if 'implementation for device' in str(error):
            return False
        raise
    return True
