"""hrpose's package definition; metadata and pins live in setup.cfg.

torch, torchvision and mmcv (built from source with ops) are installed by tools/install.sh
and are deliberately not install_requires here: a plain 'torch' requirement would pull a
multi-gigabyte build, and mmcv has no wheels for torch 2.14.
"""
from setuptools import setup


def read_requirements(path: str) -> list:
    with open(path, encoding='utf-8') as f:
        return [line.strip() for line in f if line.strip() and not line.startswith('#')]


setup(
    install_requires=read_requirements('requirements/runtime.txt'),
    extras_require={'tests': read_requirements('requirements/tests.txt')},
)
