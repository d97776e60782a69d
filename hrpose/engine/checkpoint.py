"""Loading mmengine checkpoints under torch's ``weights_only=True``.

torch >= 2.6 unpickles checkpoints with ``weights_only=True`` by default, which refuses any
global that is not allow-listed. mmengine 0.10.7's Runner writes a few such globals into
every checkpoint it saves: the ``MessageHub`` state holds ``HistoryBuffer`` objects whose
histories are numpy arrays, and numpy scalars appear in the runtime info. Without them,
``--resume`` and ``load_from`` fail with ``UnpicklingError: Weights only load failed``.

Only those exact types are allow-listed; torch's safety stays on for everything else. A
checkpoint that holds anything else is refused with :class:`UnsafeCheckpointError`, which
names the file and the refused type; the tools' ``--unsafe-load`` flag (or
``allow_unsafe_checkpoint_loading()``) loads it with ``weights_only=False`` for a file the user
trusts.

One more thing stands in the way: ``HistoryBuffer.__getstate__`` adds the class-level
statistics functions (``HistoryBuffer.min``, ``.max``, ...) to every pickled buffer, and
pickle protocol 2 (torch.save's default) writes each as ``getattr(HistoryBuffer, 'min')``.
Allow-listing ``builtins.getattr`` would let a crafted checkpoint walk from any allowed
object to arbitrary code, so instead the buffers are pickled without those functions
(:func:`reduce_history_buffer`, registered with ``copyreg``): they are registered on the
class when mmengine is imported, so nothing is lost.
"""
import contextlib
import copyreg
import importlib
import os
import os.path as osp
import pickle
import re
import warnings
from typing import Iterator, List, Sequence, Tuple
from urllib.parse import urlparse

import torch
from mmengine.logging import print_log
from mmengine.runner.checkpoint import CheckpointLoader

from .resume import is_complete_checkpoint

# (module, attribute). numpy 2 moved ``numpy.core`` to ``numpy._core``; both spellings are
# listed because a checkpoint written under one numpy names the module it was written with.
CHECKPOINT_SAFE_GLOBALS: Tuple[Tuple[str, str], ...] = (
    ('mmengine.logging.history_buffer', 'HistoryBuffer'),
    ('numpy', 'ndarray'),
    ('numpy', 'dtype'),
    ('numpy.core.multiarray', '_reconstruct'),
    ('numpy.core.multiarray', 'scalar'),
    ('numpy._core.multiarray', '_reconstruct'),
    ('numpy._core.multiarray', 'scalar'),
    # numpy >= 1.25 pickles a dtype through its class, e.g. numpy.dtypes.Float64DType.
    *(('numpy.dtypes', name)
      for name in ('BoolDType', 'Int8DType', 'UInt8DType', 'Int16DType', 'UInt16DType',
                   'Int32DType', 'UInt32DType', 'Int64DType', 'UInt64DType', 'Float16DType',
                   'Float32DType', 'Float64DType', 'LongDType', 'ULongDType', 'LongLongDType',
                   'ULongLongDType')),
)


def checkpoint_safe_globals() -> List[Tuple[object, str]]:
    """The allow-listed objects that can be imported in this environment.

    Returns:
        list[tuple[object, str]]: each class or function with the ``module.name`` it is
        pickled under.
    """
    found = []
    for module_name, attr in CHECKPOINT_SAFE_GLOBALS:
        try:
            with warnings.catch_warnings():
                # numpy 2 warns on every import of the numpy.core alias.
                warnings.simplefilter('ignore', DeprecationWarning)
                module = importlib.import_module(module_name)
        except ImportError:
            continue
        obj = getattr(module, attr, None)
        if obj is None:
            continue
        # numpy 2 re-exports numpy.core under a deprecation shim: register the object under
        # the name the old module spelling pickles it with, so both spellings load.
        found.append((obj, f'{module_name}.{attr}'))
    return found


def reduce_history_buffer(buffer) -> tuple:
    """How a ``HistoryBuffer`` pickles: as the default protocol-2 reduction of an object
    (a new instance of its class, then its state), the state without the statistics
    functions mmengine's ``__getstate__`` adds; its ``__setstate__`` registers them again."""
    state = {k: v for k, v in buffer.__dict__.items() if k != 'statistics_methods'}
    return copyreg.__newobj__, (type(buffer), ), state


def register_checkpoint_safe_globals() -> None:
    """Make the checkpoints mmengine writes loadable with ``torch.load(weights_only=True)``.

    Allow-lists the data types of :data:`CHECKPOINT_SAFE_GLOBALS` and registers
    :func:`reduce_history_buffer` as the way ``HistoryBuffer`` pickles, through the standard
    library's ``copyreg`` (every pickler consults it before the class's own
    ``__getstate__``; mmengine offers no hook of its own), so that mmengine's class itself
    is left as it is. Idempotent.
    """
    from mmengine.logging import HistoryBuffer
    copyreg.pickle(HistoryBuffer, reduce_history_buffer)
    torch.serialization.add_safe_globals(checkpoint_safe_globals())


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds Python objects outside the allow-list of safe types."""


_unsafe_loading = False


def allow_unsafe_checkpoint_loading(allow: bool = True) -> None:
    """Load checkpoints (local files, downloads, model zoo names) with ``weights_only=False``
    (only for files you trust: unpickling arbitrary objects can run arbitrary code). Set by
    the tools' ``--unsafe-load`` flag."""
    global _unsafe_loading
    _unsafe_loading = allow


@contextlib.contextmanager
def unsafe_checkpoint_loading(allow: bool) -> Iterator[None]:
    """Within the block, unsafe loading is on (``allow=True``) or as it was before."""
    previous = _unsafe_loading
    allow_unsafe_checkpoint_loading(allow or previous)
    try:
        yield
    finally:
        allow_unsafe_checkpoint_loading(previous)


def _is_legacy_torch_file(filename: str) -> bool:
    """Whether the file is in torch's pre-1.6 format (a pickle stream, not a zip archive),
    as written by ``torch.save(..., _use_new_zipfile_serialization=False)``: it begins with
    a pickle protocol marker. (Whether it is whole shows when it is read.)"""
    with open(filename, 'rb') as f:
        return f.read(2) in (b'\x80\x02', b'\x80\x03', b'\x80\x04', b'\x80\x05')


def _names_a_type(dotted: str) -> bool:
    """Whether ``module.attribute`` can be imported."""
    module, _, name = dotted.rpartition('.')
    try:
        return hasattr(importlib.import_module(module), name)
    except ImportError:
        return False


def load_local_checkpoint(filename: str, map_location=None):
    """mmengine's loader for local paths, with errors that say what is wrong with the file.

    Args:
        filename: path of a ``torch.save`` file.
        map_location: as for :func:`torch.load`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is truncated or is not a ``torch.save`` archive.
        UnsafeCheckpointError: it holds a type outside the allow-list and unsafe loading is off.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} does not exist')
    if not is_complete_checkpoint(filename) and not _is_legacy_torch_file(filename):
        raise ValueError(f'checkpoint {filename} is truncated or is not a torch.save file '
                         '(no zip directory at its end); if a run was killed while saving, '
                         'resume from the checkpoint before it')
    if _unsafe_loading:
        print_log(
            f'loading {filename} with weights_only=False (--unsafe-load): only do this '
            'for checkpoints from a source you trust',
            logger='current',
            level=30)
        return torch.load(filename, map_location=map_location, weights_only=False)
    try:
        return torch.load(filename, map_location=map_location, weights_only=True)
    except (EOFError, RuntimeError) as e:
        if not _is_legacy_torch_file(filename):
            raise
        raise ValueError(f'checkpoint {filename} (torch\'s pre-1.6 format) is truncated or '
                         f'damaged: {e}') from None
    except pickle.UnpicklingError as e:
        refused = re.search(r'Unsupported global: GLOBAL ([\w.]+)', str(e))
        if refused and _is_legacy_torch_file(filename) and not _names_a_type(refused.group(1)):
            # A pickle stream cut short ends in the middle of a name.
            raise ValueError(f'checkpoint {filename} (torch\'s pre-1.6 format) is truncated '
                             f'or damaged: it ends in `{refused.group(1)}`') from None
        what = f'`{refused.group(1)}`' if refused else 'a Python object'
        raise UnsafeCheckpointError(
            f'refused to load checkpoint {filename}: it holds {what}, which is not on the '
            'allow-list of checkpoint types (tensors, numpy arrays, mmengine HistoryBuffer). '
            'Unpickling other objects can run arbitrary code. If you trust the file, pass '
            '--unsafe-load to the tool (unsafe_load=True in hrpose.apis.init_model).') from None


def hub_cache_path(url: str) -> str:
    """Where torch hub keeps the download of ``url``: ``<hub dir>/checkpoints/<file name>``
    (the file a user puts there by hand is used without a download)."""
    name = osp.basename(urlparse(url).path)
    if not name:
        raise ValueError(f'checkpoint URL {url} does not end in a file name')
    return osp.join(torch.hub.get_dir(), 'checkpoints', name)


def load_url_checkpoint(url: str, map_location=None):
    """An http(s) checkpoint, downloaded into torch hub's cache (rank 0 first, the other
    ranks after a barrier, as mmengine does), then loaded as a local file: the same
    allow-list and ``--unsafe-load`` as :func:`load_local_checkpoint`. (mmengine's own
    loader goes through ``torch.hub.load_state_dict_from_url``, whose ``weights_only``
    defaults to False: a tampered download would run code.)"""
    from mmengine.dist import barrier, get_dist_info
    path = hub_cache_path(url)
    rank, world_size = get_dist_info()

    def fetch():
        if not osp.isfile(path):
            os.makedirs(osp.dirname(path), exist_ok=True)
            print_log(f'downloading {url} to {path}', logger='current')
            torch.hub.download_url_to_file(url, path, progress=False)

    if rank == 0:
        fetch()
    if world_size > 1:
        barrier()
        if rank > 0:
            fetch()
    return load_local_checkpoint(path, map_location)


def _model_zoo_url(filename: str, prefixes: Sequence[str], urls: dict) -> str:
    """The URL (or mmengine-home path) a model-zoo name such as ``open-mmlab://x`` stands
    for, deprecated names followed as mmengine follows them."""
    from mmengine.runner.checkpoint import get_deprecated_model_names
    prefix = next(p for p in prefixes if filename.startswith(p))
    name = filename[len(prefix):]
    if prefix in ('open-mmlab://', 'openmmlab://'):
        name = get_deprecated_model_names().get(name, name)
    if name not in urls:
        raise KeyError(f'{filename}: no such model in the {prefix} model zoo')
    return urls[name]


def load_zoo_checkpoint(filename: str, map_location=None):
    """``open-mmlab://``, ``openmmlab://``, ``torchvision://``, ``modelzoo://`` and
    ``mmcls://`` names: resolved with mmengine's model lists, then loaded safely
    (:func:`load_url_checkpoint`, or :func:`load_local_checkpoint` for a file in
    mmengine's home)."""
    from mmengine.runner import checkpoint as mm_checkpoint
    if filename.startswith(('torchvision://', 'modelzoo://')):
        url = _model_zoo_url(filename, ('torchvision://', 'modelzoo://'),
                             mm_checkpoint.get_torchvision_models())
    elif filename.startswith('mmcls://'):
        url = _model_zoo_url(filename, ('mmcls://', ), mm_checkpoint.get_mmcls_models())
    else:
        url = _model_zoo_url(filename, ('open-mmlab://', 'openmmlab://'),
                             mm_checkpoint.get_external_models())
    if url.startswith(('http://', 'https://')):
        checkpoint = load_url_checkpoint(url, map_location)
    else:
        checkpoint = load_local_checkpoint(
            osp.join(mm_checkpoint._get_mmengine_home(), url), map_location)
    if filename.startswith('mmcls://'):
        checkpoint = mm_checkpoint._process_mmcls_checkpoint(checkpoint)
    return checkpoint


def register_local_checkpoint_loader() -> None:
    """Route mmengine's loading of checkpoints through hrpose's safe loaders: local paths
    (:func:`load_local_checkpoint`), http(s) URLs (:func:`load_url_checkpoint`) and model
    zoo names (:func:`load_zoo_checkpoint`). Idempotent."""

    # mmengine logs "Loads checkpoint by <name[10:]> backend": hence the load_from_ names.
    def load_from_local_safely(filename, map_location=None):
        return load_local_checkpoint(filename, map_location)

    def load_from_url_safely(filename, map_location=None):
        return load_url_checkpoint(filename, map_location)

    def load_from_zoo_safely(filename, map_location=None):
        return load_zoo_checkpoint(filename, map_location)

    # mmengine's own mechanism, its registry of loaders by prefix. The empty prefix is the
    # one every local path falls to, so this replaces mmengine's local loader for the
    # process: mmengine takes no loader per call, and its Runner, load_checkpoint and the
    # tools all load through this registry.
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local_safely, force=True)
    CheckpointLoader.register_scheme(
        prefixes=('http://', 'https://'), loader=load_from_url_safely, force=True)
    CheckpointLoader.register_scheme(
        prefixes=('open-mmlab://', 'openmmlab://', 'torchvision://', 'modelzoo://', 'mmcls://'),
        loader=load_from_zoo_safely,
        force=True)


class WeightShapeError(ValueError):
    """Weights of a checkpoint do not fit the model they are loaded into."""


def check_weight_shapes(model: torch.nn.Module,
                        state_dict: dict,
                        source: str,
                        reinit_keys: Sequence[str] = ()) -> List[str]:
    """Refuse weights whose shapes differ from the model's (a 14-keypoint checkpoint in a
    17-keypoint model), unless their names match one of ``reinit_keys`` (regular
    expressions): those are left out of ``state_dict`` and keep their initial values.

    Args:
        model: the model (unwrapped).
        state_dict: the checkpoint's weights; changed in place when keys are re-initialised.
        source: the checkpoint's name, for the message.
        reinit_keys: patterns of parameter names that may be re-initialised.

    Returns:
        list[str]: the names left out (re-initialised).

    Raises:
        WeightShapeError: naming each parameter and both shapes.
    """
    own = model.state_dict()
    mismatched = [(key, tuple(value.shape), tuple(own[key].shape))
                  for key, value in state_dict.items()
                  if key in own and hasattr(value, 'shape') and value.shape != own[key].shape]
    allowed = [m for m in mismatched if any(re.search(p, m[0]) for p in reinit_keys)]
    refused = [m for m in mismatched if m not in allowed]
    if refused:
        listed = '; '.join(f'{key}: checkpoint {a}, model {b}' for key, a, b in refused[:8])
        more = f' (and {len(refused) - 8} more)' if len(refused) > 8 else ''
        raise WeightShapeError(
            f'{source} does not fit this model: {len(refused)} weight(s) have other shapes: '
            f'{listed}{more}. Use a checkpoint of this config (e.g. the same number of '
            'keypoints); to fine-tune from it, name the layers to re-initialise in the '
            "config: load_from_reinit=[r'roi_head\\.keypoint_head\\.final_conv'] (training "
            'only)')
    for key, _, _ in allowed:
        state_dict.pop(key)
    return [key for key, _, _ in allowed]
