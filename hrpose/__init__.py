"""hrpose: multi-person 2D keypoint detection with one two-stage network.

Importing it only checks the versions of its dependencies; call
:func:`hrpose.utils.register_all_modules` before building from a config (the tools and
:func:`hrpose.apis.init_model` do).
"""
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _installed_version

from packaging.version import Version

from .version import __version__

# (package, lowest version, first version that is too new); mmdet 3.3.0 itself asserts
# mmcv < 2.2.0, and hrpose is tested on exactly the pinned releases of setup.cfg.
_REQUIRED = (
    ('mmcv', '2.0.0rc4', '2.2.0'),
    ('mmengine', '0.10.0', '1.0.0'),
    ('mmdet', '3.3.0', '3.4.0'),
)


def _check_dependencies() -> None:
    """Raise an ImportError that says what to install when a dependency is off."""
    problems = []
    for name, lowest, too_new in _REQUIRED:
        try:
            found = Version(_installed_version(name))
        except PackageNotFoundError:
            problems.append(f'{name} is not installed')
            continue
        if not Version(lowest) <= found < Version(too_new):
            problems.append(f'{name} {found} is installed, hrpose needs '
                            f'{name}>={lowest},<{too_new}')
    if problems:
        raise ImportError(
            'hrpose cannot start: ' + '; '.join(problems) + '. Run `make install` (or '
            'tools/install/install.sh) from the hrpose repository: it installs mmengine==0.10.7, '
            'mmdet==3.3.0 and builds mmcv==2.1.0 with ops for your torch.')


_check_dependencies()

__all__ = ['__version__']
