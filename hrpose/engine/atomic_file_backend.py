"""A local file backend whose writes are atomic: a reader sees the old file or the new one.

mmengine's ``LocalBackend`` opens the destination with ``'wb'`` and writes into it, so a
process killed in the middle of saving ``iter_N.pth`` leaves a truncated file under the
final name. ``AtomicLocalBackend`` writes a hidden temporary file beside the destination,
flushes it to disk and renames it over the destination (``os.replace`` is atomic on POSIX
and Windows). Checkpoints use it through the checkpoint hook's
``backend_args=dict(backend='atomic_local')`` (set in ``configs/_base_/default_runtime.py``).
"""
import glob
import os
import os.path as osp
import tempfile
from pathlib import Path
from typing import List, Union

import mmengine
from mmengine.fileio import LocalBackend, register_backend

# Temporary files start with this so that they are never mistaken for checkpoints.
TEMPORARY_PREFIX = '.tmp-'


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def remove_stale_temporaries(folder: str) -> List[str]:
    """Delete the temporary files a killed write left in ``folder`` (``.tmp-*``); call it
    when a run starts, before anything writes there. Returns the paths removed."""
    removed = []
    for path in glob.glob(osp.join(folder, TEMPORARY_PREFIX + '*')):
        try:
            os.remove(path)
            removed.append(path)
        except FileNotFoundError:  # another process of the same job got there first
            pass
    return removed


def atomic_write(data: Union[bytes, str],
                 filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
    """Write ``data`` to ``filepath`` so that the file is never seen half written.

    Args:
        data: bytes, or text encoded with ``encoding``.
        filepath: destination; its folder is created when missing.
        encoding: used when ``data`` is text.
    """
    filepath = str(filepath)
    folder = osp.dirname(osp.abspath(filepath))
    mmengine.mkdir_or_exist(folder)
    if isinstance(data, str):
        data = data.encode(encoding)
    fd, tmp_path = tempfile.mkstemp(
        prefix=TEMPORARY_PREFIX + osp.basename(filepath) + '.', dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates the file readable by its owner only; give it the permissions a
        # plain open() would (0666 less the umask).
        os.chmod(tmp_path, 0o666 & ~_current_umask())
        os.replace(tmp_path, filepath)
    except BaseException:
        # Failed or interrupted (KeyboardInterrupt included): the destination is untouched.
        if osp.exists(tmp_path):
            os.remove(tmp_path)
        raise


@register_backend('atomic_local')
class AtomicLocalBackend(LocalBackend):
    """``LocalBackend`` with atomic ``put`` and ``put_text`` (see :func:`atomic_write`)."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        atomic_write(obj, filepath)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        atomic_write(obj, filepath, encoding=encoding)
