"""Where hrpose's configs are: in the package when installed, in the checkout otherwise.

A wheel (``pip install .``) ships ``configs/`` as ``hrpose/.mim/configs``, as mmdet and mmpose
do; a source checkout (or an editable install) reads the repository's ``configs/``. Config
names (``init_model('hrpose_hrnet-w32_hrfpn_1x_coco')``) and the ``configs/...`` paths of
``metainfo=dict(from_file=...)`` resolve through :func:`configs_root`, so they work from any
folder.
"""
import ast
import glob
import os.path as osp
from typing import Optional

from mmengine.config import Config

_PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))


def configs_root() -> str:
    """The folder holding the configs: ``hrpose/.mim/configs`` or ``<checkout>/configs``."""
    packaged = osp.join(_PACKAGE_DIR, '.mim', 'configs')
    if osp.isdir(packaged):
        return packaged
    return osp.join(osp.dirname(_PACKAGE_DIR), 'configs')


def find_config(name: str) -> str:
    """The file of a config name such as ``'hrpose_hrnet-w32_hrfpn_1x_coco'`` (or of a path
    that exists as given).

    Raises:
        FileNotFoundError: naming the folder searched.
    """
    if osp.isfile(name):
        return name
    stem = osp.splitext(osp.basename(name))[0]
    found = sorted(glob.glob(osp.join(configs_root(), '**', f'{stem}.py'), recursive=True))
    if not found:
        raise FileNotFoundError(f'config {name!r} is neither a file nor the name of a config '
                                f'under {configs_root()}')
    return found[0]


def resolve_config_path(path: str) -> str:
    """A config-relative path such as ``'configs/_base_/datasets/metainfo/coco_person.py'``:
    as given if it exists from the working directory, else from the configs' parent folder
    (the checkout, or ``hrpose/.mim``). Unchanged if neither exists."""
    if osp.isfile(path) or osp.isabs(path):
        return path
    candidate = osp.join(osp.dirname(configs_root()), path)
    return candidate if osp.isfile(candidate) else path


def _syntax_error_in(path: str, seen: Optional[set] = None) -> Optional[str]:
    """'file: message (line N)' of the first file with a Python syntax error among a config
    and its ``_base_`` files, or None."""
    seen = seen if seen is not None else set()
    path = osp.abspath(path)
    if path in seen or not osp.isfile(path):
        return None
    seen.add(path)
    with open(path, encoding='utf-8') as f:
        source = f.read()
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as error:
        return f'{path}: {error.msg} (line {error.lineno})'
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and node.targets[0].id == '_base_'):
            try:
                bases = ast.literal_eval(node.value)
            except ValueError:
                continue
            for base in [bases] if isinstance(bases, str) else list(bases):
                found = _syntax_error_in(osp.join(osp.dirname(path), base), seen)
                if found:
                    return found
    return None


def load_config(config: str) -> Config:
    """``Config.fromfile`` of a config file or name; a syntax error names the file it is in
    (the config itself or one of its ``_base_`` files), which mmengine's message does not.

    Raises:
        FileNotFoundError: see :func:`find_config`.
        SyntaxError: 'path: message (line N)'.
    """
    path = find_config(config)
    try:
        return Config.fromfile(path)
    except SyntaxError as error:
        where = _syntax_error_in(path)
        if where is None:
            raise
        raise SyntaxError(f'config {path} cannot be read: syntax error in {where}') from error
