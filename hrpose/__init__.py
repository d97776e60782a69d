"""hrpose: multi-person 2D keypoint detection with one two-stage network."""
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
            'tools/install.sh) from the hrpose repository: it installs mmengine==0.10.7, '
            'mmdet==3.3.0 and builds mmcv==2.1.0 with ops for your torch.')


_check_dependencies()

from .engine.checkpoint import (register_checkpoint_safe_globals,  # noqa: E402
                                register_local_checkpoint_loader)

# torch >= 2.6 loads checkpoints with weights_only=True; mmengine's own checkpoints hold a
# few non-tensor types that must be allow-listed for `--resume` and `load_from` to work.
register_checkpoint_safe_globals()
# Local checkpoints load through hrpose's loader: clear errors for truncated or unsafe files.
register_local_checkpoint_loader()

__all__ = ['__version__']
