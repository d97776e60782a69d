"""Decides how tools/install/install.sh builds mmcv's ops: CPU or CUDA, which nvcc, which GPUs.

Pure decisions (:func:`make_plan`) are separate from the probes of the machine
(:func:`probe`), so the rules can be tested on any machine, GPU or not. Standard library
only: it runs before hrpose is installed.

    python tools/install/install_plan.py plan          # shell assignments for install.sh
    python tools/install/install_plan.py check-mmcv V  # exit 0: the installed mmcv has ops V

Rules (see the README, "GPU clusters"):

* ``HRPOSE_MMCV_CUDA=1``: CUDA ops, whether or not this machine has a GPU or a CUDA toolkit
  (a login node builds for the compute nodes). ``0``: CPU ops. Unset: CUDA ops when torch is
  a CUDA build and a GPU is visible, else CPU ops with a one-line hint.
* The compiler: a system ``nvcc`` whose CUDA major version equals torch's; else NVIDIA's
  compiler packages from PyPI, pinned to torch's CUDA version, inside the environment.
  ``HRPOSE_CUDA_COMPILER=system`` or ``pip`` forces one.
* Architectures: ``TORCH_CUDA_ARCH_LIST`` if set, else those of the visible GPUs, else
  ``8.0;9.0`` (A100 and H100).
* The variant names the wheel cache and the install stamp: ``cpu`` or e.g.
  ``cu130-sm80.90``, so a CPU-only build is never taken for a CUDA one.
"""
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

DEFAULT_CUDA_ARCHS = '8.0;9.0'

# NVIDIA's compiler packages on PyPI that build for a torch of a given CUDA version. Left
# unpinned, nvvm and crt resolve to a newer CUDA whose PTX this ptxas rejects ("Unsupported
# .version"), so every part is pinned to the same release.
PIP_COMPILER_PACKAGES: Dict[str, List[str]] = {
    '13.0': [
        'nvidia-cuda-nvcc==13.0.88', 'nvidia-nvvm==13.0.88', 'nvidia-cuda-crt==13.0.88',
        'nvidia-cuda-cccl==13.0.85'
    ],
}
# cuobjdump (to list the GPU code in a build) has no 13.0 release on PyPI; a newer one reads
# older binaries.
PIP_CUOBJDUMP_PACKAGES: Dict[str, List[str]] = {'13.0': ['nvidia-cuda-cuobjdump==13.2.51']}


class PlanError(ValueError):
    """The settings cannot be satisfied on this machine; the message says what to change."""


@dataclass
class MachineFacts:
    """What the plan depends on.

    Attributes:
        torch_cuda: torch's CUDA version ('13.0'), '' for a CPU build of torch.
        gpu_capabilities: compute capabilities of the visible GPUs, e.g. ['9.0'].
        system_nvcc: path of a system nvcc, '' if none.
        system_nvcc_version: its CUDA version ('13.0'), '' if none.
    """
    torch_cuda: str = ''
    gpu_capabilities: List[str] = field(default_factory=list)
    system_nvcc: str = ''
    system_nvcc_version: str = ''


@dataclass
class Plan:
    variant: str  # 'cpu' or e.g. 'cu130-sm80.90'
    compiler: str = 'none'  # 'none', 'system' or 'pip'
    nvcc: str = ''  # the system nvcc when compiler == 'system'
    arch_list: str = ''  # TORCH_CUDA_ARCH_LIST for the build
    pip_packages: List[str] = field(default_factory=list)
    message: str = ''  # one line for the user

    @property
    def cuda(self) -> bool:
        return self.variant != 'cpu'

    def to_shell(self) -> str:

        def quote(value: str) -> str:
            return "'" + value.replace("'", "'\\''") + "'"

        values = dict(
            PLAN_VARIANT=self.variant,
            PLAN_COMPILER=self.compiler,
            PLAN_NVCC=self.nvcc,
            PLAN_ARCH_LIST=self.arch_list,
            PLAN_PIP_PACKAGES=' '.join(self.pip_packages),
            PLAN_MESSAGE=self.message)
        return '\n'.join(f'{key}={quote(value)}' for key, value in values.items())


def major(version: str) -> str:
    return version.split('.')[0] if version else ''


def variant_name(torch_cuda: str, arch_list: str) -> str:
    """'cu130-sm80.90' for CUDA 13.0 and '8.0;9.0' ('+PTX' kept as 'ptx')."""
    archs = [a.strip() for a in re.split(r'[;\s,]+', arch_list) if a.strip()]
    tags = [a.replace('.', '').replace('+PTX', 'ptx') for a in archs]
    return f"cu{torch_cuda.replace('.', '')}-sm{'.'.join(tags)}"


def make_plan(env: Dict[str, str], facts: MachineFacts) -> Plan:
    """The install decision for settings ``env`` on a machine described by ``facts``.

    Raises:
        PlanError: the settings ask for something this machine cannot give.
    """
    request = env.get('HRPOSE_MMCV_CUDA', '')
    if request not in ('', '0', '1'):
        raise PlanError(f'HRPOSE_MMCV_CUDA={request!r}: use 1 (CUDA ops), 0 (CPU ops) or '
                        'leave it unset (CUDA ops when a GPU is visible)')
    compiler_request = env.get('HRPOSE_CUDA_COMPILER', 'auto') or 'auto'
    if compiler_request not in ('auto', 'system', 'pip'):
        raise PlanError(f'HRPOSE_CUDA_COMPILER={compiler_request!r}: use auto, system or pip')

    gpu_visible = bool(facts.gpu_capabilities)
    if request == '0':
        return Plan('cpu', message='CPU ops (HRPOSE_MMCV_CUDA=0)')
    if request == '':
        if not facts.torch_cuda:
            return Plan('cpu', message='CPU ops: torch is a CPU build')
        if not gpu_visible:
            return Plan(
                'cpu',
                message='no GPU visible: CPU ops. For GPU nodes (e.g. from a login '
                "node), run: HRPOSE_MMCV_CUDA=1 TORCH_CUDA_ARCH_LIST='8.0;9.0' make install")
    if not facts.torch_cuda:
        raise PlanError('HRPOSE_MMCV_CUDA=1 but torch is a CPU build: install a CUDA build '
                        'of torch (the PyPI wheel of torch 2.14.1 for Linux is one)')

    arch_list = env.get('TORCH_CUDA_ARCH_LIST', '').strip()
    if not arch_list:
        arch_list = ';'.join(sorted(set(facts.gpu_capabilities),
                                    key=lambda c: tuple(int(p) for p in c.split('.')))) \
            if gpu_visible else DEFAULT_CUDA_ARCHS
    variant = variant_name(facts.torch_cuda, arch_list)

    system_ok = bool(facts.system_nvcc) and \
        major(facts.system_nvcc_version) == major(facts.torch_cuda)
    if compiler_request == 'system' and not system_ok:
        found = (f'{facts.system_nvcc} is CUDA {facts.system_nvcc_version}'
                 if facts.system_nvcc else 'no nvcc on PATH or in CUDA_HOME')
        raise PlanError(f'HRPOSE_CUDA_COMPILER=system needs an nvcc of CUDA '
                        f'{major(facts.torch_cuda)}.x like torch ({facts.torch_cuda}); {found}')
    if compiler_request == 'system' or (compiler_request == 'auto' and system_ok):
        return Plan(
            variant,
            'system',
            facts.system_nvcc,
            arch_list,
            message=f'CUDA ops for {arch_list} with {facts.system_nvcc} '
            f'(CUDA {facts.system_nvcc_version})')
    packages = PIP_COMPILER_PACKAGES.get(facts.torch_cuda)
    if packages is None:
        raise PlanError(f'no pinned PyPI compiler for CUDA {facts.torch_cuda} (known: '
                        f'{", ".join(sorted(PIP_COMPILER_PACKAGES))}): install a CUDA '
                        f'{facts.torch_cuda} toolkit and put its nvcc on PATH')
    why = 'HRPOSE_CUDA_COMPILER=pip' if compiler_request == 'pip' else (
        f'the system nvcc is CUDA {facts.system_nvcc_version}, torch needs '
        f'{facts.torch_cuda}' if facts.system_nvcc else 'no system CUDA toolkit')
    return Plan(
        variant,
        'pip',
        '',
        arch_list,
        list(packages),
        message=f"CUDA ops for {arch_list} with PyPI's nvcc {facts.torch_cuda} ({why})")


def nvcc_version(nvcc: str) -> str:
    """'13.0' from ``nvcc --version`` ('... release 13.0, V13.0.88'), '' if it fails."""
    try:
        out = subprocess.run([nvcc, '--version'], capture_output=True, text=True,
                             timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return ''
    found = re.search(r'release (\d+\.\d+)', out)
    return found.group(1) if found else ''


def find_system_nvcc(env: Dict[str, str]) -> str:
    """nvcc from CUDA_HOME / CUDA_PATH, then PATH, then /usr/local/cuda ('' if none)."""
    for home in (env.get('CUDA_HOME'), env.get('CUDA_PATH')):
        if home and os.access(os.path.join(home, 'bin', 'nvcc'), os.X_OK):
            return os.path.join(home, 'bin', 'nvcc')
    on_path = shutil.which('nvcc', path=env.get('PATH'))
    if on_path:
        return on_path
    default = '/usr/local/cuda/bin/nvcc'
    return default if os.access(default, os.X_OK) else ''


def probe(env: Dict[str, str]) -> MachineFacts:
    """Facts about this machine, from the torch of the running interpreter."""
    import torch
    capabilities = []
    if torch.version.cuda and torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            cap = torch.cuda.get_device_capability(index)
            capabilities.append(f'{cap[0]}.{cap[1]}')
    nvcc = find_system_nvcc(env)
    return MachineFacts(torch.version.cuda or '', capabilities, nvcc,
                        nvcc_version(nvcc) if nvcc else '')


def load_mmcv_kernels_probe():
    """hrpose/utils/mmcv_kernels.py, loaded by its path: the hrpose package may not be
    installed yet, and importing it would check its other dependencies first."""
    repo_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.path.join(repo_root, 'hrpose', 'utils', 'mmcv_kernels.py')
    spec = importlib.util.spec_from_file_location('hrpose_mmcv_kernels', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def installed_mmcv_variant() -> Optional[str]:
    """'cpu' or 'cuda' for the installed mmcv ops, None if mmcv or its ops do not import."""
    try:
        import torch
        from mmcv.ops import get_compiling_cuda_version
    except Exception:
        return None
    if torch.cuda.is_available():
        # Asked of the kernels, as the tools' start-up check does: get_compiling_cuda_version()
        # killed the process with some CUDA builds of mmcv.
        return 'cuda' if load_mmcv_kernels_probe().mmcv_cuda_kernels_found() else 'cpu'
    return 'cpu' if get_compiling_cuda_version() == 'not available' else 'cuda'


def mmcv_matches(expected_variant: str, installed: Optional[str]) -> bool:
    """Whether installed ops ('cpu', 'cuda' or None) serve the planned variant: CUDA ops
    are needed for a CUDA variant; a CUDA build also has the CPU kernels."""
    if installed is None:
        return False
    return expected_variant == 'cpu' or installed == 'cuda'


def main(argv: Sequence[str]) -> int:
    if len(argv) >= 1 and argv[0] == 'plan':
        try:
            plan = make_plan(dict(os.environ), probe(dict(os.environ)))
        except PlanError as error:
            print(f'PLAN_ERROR={error}', file=sys.stderr)
            return 2
        print(plan.to_shell())
        return 0
    if len(argv) == 2 and argv[0] == 'check-mmcv':
        import mmcv
        if mmcv.__version__ != '2.1.0':
            return 1
        return 0 if mmcv_matches(argv[1], installed_mmcv_variant()) else 1
    if len(argv) == 2 and argv[0] == 'cuobjdump-packages':
        print(' '.join(PIP_CUOBJDUMP_PACKAGES.get(argv[1], [])))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
