"""hrpose's package definition; metadata and pins live in setup.cfg.

torch, torchvision and mmcv (built from source with ops) are installed by tools/install/install.sh
and are deliberately not install_requires here: a plain 'torch' requirement would pull a
multi-gigabyte build, and mmcv has no wheels for torch 2.14.

A built package carries the configs as ``hrpose/.mim/configs`` (as mmdet and mmpose ship
theirs), so config names and metainfo files resolve after a plain ``pip install .``.
"""
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithConfigs(build_py):
    """build_py that also copies ``configs/`` into the built package."""

    def run(self) -> None:
        super().run()
        target = os.path.join(self.build_lib, 'hrpose', '.mim', 'configs')
        if not self.dry_run:
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(
                'configs', target, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))


def read_requirements(path: str) -> list:
    with open(path, encoding='utf-8') as f:
        return [line.strip() for line in f if line.strip() and not line.startswith('#')]


setup(
    cmdclass={'build_py': BuildPyWithConfigs},
    install_requires=read_requirements('requirements/runtime.txt'),
    extras_require={
        'tests': read_requirements('requirements/tests.txt'),
        'deploy': read_requirements('requirements/deploy.txt')
    },
)
