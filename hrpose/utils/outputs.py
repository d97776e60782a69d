"""Outputs are checked before the long work: a tool that would fail to write its results
fails at once, naming the path, instead of after the whole inference."""
import os
import os.path as osp
import tempfile


def prepare_output_dir(path: str, what: str) -> str:
    """Create the folder ``path`` and make sure files can be written into it.

    Args:
        path: the folder.
        what: how the tool names it in messages (e.g. ``'--out-dir'``).

    Returns:
        str: ``path``.

    Raises:
        OSError: naming ``what`` and ``path`` and why (a file in the way, no permission).
    """
    if osp.exists(path) and not osp.isdir(path):
        raise NotADirectoryError(f'{what} {path}: is a file, not a folder')
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix='.write_check_'):
            pass
    except OSError as error:
        raise type(error)(f'{what} {path}: cannot write there ({error.strerror or error})') \
            from error
    return path


def check_output_file(path: str, what: str) -> str:
    """Make sure the file ``path`` can be written: not a folder, its folder writable
    (created if needed).

    Returns:
        str: ``path``.
    """
    if osp.isdir(path):
        raise IsADirectoryError(f'{what} {path}: is a folder; give a file name')
    prepare_output_dir(osp.dirname(osp.abspath(path)), f'{what} {path}: the folder')
    return path
