"""How tools/install/install.sh decides between CPU and CUDA ops of mmcv, and how a CPU-only
mmcv on a GPU machine is caught before training starts."""
import importlib.util
import os.path as osp
import subprocess

import pytest

from hrpose.utils.setup_env import check_mmcv_ops
from tests.helpers import REPO_ROOT


def load_planner():
    spec = importlib.util.spec_from_file_location(
        'install_plan', osp.join(REPO_ROOT, 'tools', 'install', 'install_plan.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


planner = load_planner()
Facts = planner.MachineFacts
H100 = ['9.0']
SYSTEM_13 = dict(system_nvcc='/usr/local/cuda/bin/nvcc', system_nvcc_version='13.0')
SYSTEM_12 = dict(system_nvcc='/usr/local/cuda/bin/nvcc', system_nvcc_version='12.4')


@pytest.mark.parametrize(
    'env, facts, variant, compiler, archs',
    [
        # Default: CUDA ops only where a GPU is visible.
        ({}, Facts('13.0', H100, **SYSTEM_13), 'cu130-sm90', 'system', '9.0'),
        ({}, Facts('13.0', H100), 'cu130-sm90', 'pip', '9.0'),  # no toolkit: PyPI's nvcc
        ({}, Facts('13.0', H100, **SYSTEM_12), 'cu130-sm90', 'pip', '9.0'),  # wrong major
        ({}, Facts('13.0', [], **SYSTEM_13), 'cpu', 'none', ''),  # toolkit but no GPU
        ({}, Facts('13.0', []), 'cpu', 'none', ''),
        ({}, Facts('', [], **SYSTEM_13), 'cpu', 'none', ''),  # CPU torch
        ({}, Facts('13.0', ['8.0', '9.0', '8.0']), 'cu130-sm80.90', 'pip', '8.0;9.0'),
        # A login node building for its GPU nodes.
        ({
            'HRPOSE_MMCV_CUDA': '1'
        }, Facts('13.0', []), 'cu130-sm80.90', 'pip', '8.0;9.0'),
        ({
            'HRPOSE_MMCV_CUDA': '1'
        }, Facts('13.0', [], **SYSTEM_13), 'cu130-sm80.90', 'system', '8.0;9.0'),
        ({
            'HRPOSE_MMCV_CUDA': '1',
            'HRPOSE_CUDA_COMPILER': 'pip'
        }, Facts('13.0', [], **SYSTEM_13), 'cu130-sm80.90', 'pip', '8.0;9.0'),
        ({
            'HRPOSE_MMCV_CUDA': '1',
            'TORCH_CUDA_ARCH_LIST': '9.0'
        }, Facts('13.0', H100), 'cu130-sm90', 'pip', '9.0'),
        ({
            'HRPOSE_MMCV_CUDA': '1',
            'TORCH_CUDA_ARCH_LIST': '8.6;9.0+PTX'
        }, Facts('13.0', []), 'cu130-sm86.90ptx', 'pip', '8.6;9.0+PTX'),
        ({
            'HRPOSE_MMCV_CUDA': '0'
        }, Facts('13.0', H100, **SYSTEM_13), 'cpu', 'none', ''),
    ])
def test_plan(env, facts, variant, compiler, archs):
    plan = planner.make_plan(env, facts)
    assert (plan.variant, plan.compiler, plan.arch_list) == (variant, compiler, archs)
    if compiler == 'pip':
        assert 'nvidia-cuda-nvcc==13.0.88' in plan.pip_packages
        assert all('==' in p for p in plan.pip_packages)  # every part pinned to one release


def test_cpu_plan_without_gpu_says_how_to_get_cuda_ops():
    plan = planner.make_plan({}, Facts('13.0', []))
    assert 'HRPOSE_MMCV_CUDA=1' in plan.message and 'TORCH_CUDA_ARCH_LIST' in plan.message


@pytest.mark.parametrize('env, facts, match', [
    ({
        'HRPOSE_MMCV_CUDA': '1'
    }, Facts('', []), 'torch is a CPU build'),
    ({
        'HRPOSE_MMCV_CUDA': 'yes'
    }, Facts('13.0', []), 'use 1'),
    ({
        'HRPOSE_MMCV_CUDA': '1',
        'HRPOSE_CUDA_COMPILER': 'system'
    }, Facts('13.0', [], **SYSTEM_12), 'CUDA 12.4'),
    ({
        'HRPOSE_MMCV_CUDA': '1',
        'HRPOSE_CUDA_COMPILER': 'system'
    }, Facts('13.0', []), 'no nvcc'),
    ({
        'HRPOSE_MMCV_CUDA': '1'
    }, Facts('11.8', []), 'no pinned PyPI compiler for CUDA 11.8'),
])
def test_impossible_plans_say_why(env, facts, match):
    with pytest.raises(planner.PlanError, match=match):
        planner.make_plan(env, facts)


def test_variant_separates_cpu_and_cuda_caches_and_stamps():
    cpu = planner.make_plan({}, Facts('13.0', []))
    gpu = planner.make_plan({}, Facts('13.0', H100))
    assert cpu.variant != gpu.variant
    # The install script keys its wheel cache and its stamp on the variant.
    script = open(osp.join(REPO_ROOT, 'tools', 'install', 'install.sh')).read()
    assert '-$PLAN_VARIANT"' in script and 'stamp_inputs "$PLAN_VARIANT"' in script


@pytest.mark.parametrize(
    'expected, installed, ok',
    [
        ('cpu', 'cpu', True),
        ('cpu', 'cuda', True),  # a CUDA build has the CPU kernels too
        ('cu130-sm90', 'cpu', False),  # CPU-only ops where CUDA ops are needed: rebuild
        ('cu130-sm90', 'cuda', True),
        ('cpu', None, False),
        ('cu130-sm90', None, False),
    ])
def test_installed_ops_check(expected, installed, ok):
    assert planner.mmcv_matches(expected, installed) is ok


def test_shell_assignments_survive_quotes():
    plan = planner.Plan('cpu', message="it's fine; $HOME `x`")
    out = subprocess.run(['bash', '-c', f'{plan.to_shell()}\nprintf %s "$PLAN_MESSAGE"'],
                         capture_output=True,
                         text=True,
                         check=True).stdout
    assert out == "it's fine; $HOME `x`"


def test_nvcc_version_is_read_from_its_banner(tmp_path):
    fake = tmp_path / 'nvcc'
    fake.write_text('#!/bin/sh\necho "Cuda compilation tools, release 13.0, V13.0.88"\n')
    fake.chmod(0o755)
    assert planner.nvcc_version(str(fake)) == '13.0'
    env = {'CUDA_HOME': str(tmp_path / 'none'), 'PATH': str(tmp_path)}
    assert planner.find_system_nvcc(env) == str(fake)


def test_cpu_only_mmcv_with_a_visible_gpu_stops_before_the_model_is_built():
    with pytest.raises(RuntimeError, match='HRPOSE_MMCV_CUDA=1'):
        check_mmcv_ops(cuda_available=True, cuda_kernels_found=False)
    check_mmcv_ops(cuda_available=True, cuda_kernels_found=True)
    check_mmcv_ops(cuda_available=False, cuda_kernels_found=False)
    check_mmcv_ops()  # this machine: whatever it is, the installed mmcv serves it


@pytest.fixture
def pretend_gpu(monkeypatch):
    """torch sees a GPU, tensors asked for on 'cuda' are made on the CPU, and mmcv's version
    probe must not be called (it crashed the process with some CUDA builds); returns a
    setter for what mmcv's nms does."""
    import mmcv.ops
    import torch
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    monkeypatch.setattr(torch.cuda, 'set_device', lambda device: None)
    for name in ('tensor', 'ones'):
        make = getattr(torch, name)
        monkeypatch.setattr(torch, name, lambda *a, _make=make, device=None, **k: _make(*a, **k))

    def version_probe():
        raise AssertionError('get_compiling_cuda_version() was called')

    monkeypatch.setattr(mmcv.ops, 'get_compiling_cuda_version', version_probe)

    def set_nms(error=None):

        def nms(boxes, scores, iou_threshold):
            if error:
                raise RuntimeError(error)
            return boxes, torch.zeros(len(boxes), dtype=torch.long)

        monkeypatch.setattr(mmcv.ops, 'nms', nms)

    return set_nms


@pytest.mark.parametrize('nms_error, variant',
                         [(None, 'cuda'),
                          ('nms_impl: implementation for device cuda:0 not found.', 'cpu')])
def test_with_a_gpu_the_kernels_are_asked_which_ops_mmcv_has(pretend_gpu, nms_error, variant):
    from hrpose.utils.setup_env import mmcv_cuda_kernels_found
    pretend_gpu(nms_error)
    assert planner.installed_mmcv_variant() == variant
    assert mmcv_cuda_kernels_found() == (variant == 'cuda')
    if variant == 'cpu':
        with pytest.raises(RuntimeError, match='HRPOSE_MMCV_CUDA=1'):
            check_mmcv_ops()
    else:
        check_mmcv_ops()


def test_another_cuda_error_of_the_kernel_probe_is_not_taken_for_cpu_ops(pretend_gpu):
    from hrpose.utils.setup_env import mmcv_cuda_kernels_found
    pretend_gpu('CUDA error: an illegal memory access was encountered')
    with pytest.raises(RuntimeError, match='illegal memory access'):
        mmcv_cuda_kernels_found()
    with pytest.raises(RuntimeError, match='illegal memory access'):
        planner.installed_mmcv_variant()


@pytest.mark.parametrize('local_rank', [0, 1, 2, 3])
def test_each_rank_probes_its_own_gpu(pretend_gpu, monkeypatch, local_rank):
    """The start-up kernel probe of rank k runs on cuda:k (mmengine's device for it), so
    that no rank but 0 puts a CUDA context on GPU 0."""
    import torch

    from hrpose.utils import setup_env
    pretend_gpu()
    monkeypatch.setenv('LOCAL_RANK', str(local_rank))
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 4)
    selected, probed = [], []
    monkeypatch.setattr(torch.cuda, 'set_device', selected.append)
    monkeypatch.setattr(
        setup_env, 'mmcv_cuda_kernels_found', lambda device='cuda': probed.append(device) or True)
    check_mmcv_ops()
    assert selected == probed == [f'cuda:{local_rank}']
    assert setup_env.rank_cuda_device() == f'cuda:{local_rank}'


def test_a_rank_without_a_gpu_of_its_own_is_named(monkeypatch):
    from hrpose.utils.setup_env import rank_cuda_device
    monkeypatch.setenv('LOCAL_RANK', '4')
    with pytest.raises(RuntimeError, match='LOCAL_RANK=4 but only 4 GPU'):
        rank_cuda_device(device_count=4)
