"""The set-up and tear-down helpers of hrpose.utils.setup_env."""
import torch.distributed as dist

from hrpose.utils.setup_env import finish_distributed


def test_finish_distributed_destroys_the_process_group_and_is_harmless_without_one(tmp_path):
    finish_distributed()  # no group: nothing to do
    dist.init_process_group(
        'gloo', init_method=f'file://{tmp_path / "store"}', rank=0, world_size=1)
    try:
        assert dist.is_initialized()
        finish_distributed()
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_the_kernel_probe_reads_mmcvs_own_refusal():
    """mmcv itself as the reference: its CPU kernels run, and on the meta device, for which
    no mmcv build has kernels, its registry refuses with the message the probe reads."""
    from hrpose.utils.mmcv_kernels import mmcv_cuda_kernels_found
    assert mmcv_cuda_kernels_found('cpu') is True
    assert mmcv_cuda_kernels_found('meta') is False
