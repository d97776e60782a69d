"""Loading mmengine checkpoints under torch's ``weights_only=True``.

torch >= 2.6 unpickles checkpoints with ``weights_only=True`` by default, which refuses any
global that is not allow-listed. mmengine 0.10.7's Runner writes a few such globals into
every checkpoint it saves: the ``MessageHub`` state holds ``HistoryBuffer`` objects whose
histories are numpy arrays, and numpy scalars appear in the runtime info. Without them,
``--resume`` and ``load_from`` fail with ``UnpicklingError: Weights only load failed``.

Only those exact types are allow-listed; torch's safety stays on for everything else.

One more thing stands in the way: ``HistoryBuffer.__getstate__`` adds the class-level
statistics functions (``HistoryBuffer.min``, ``.max``, ...) to every pickled buffer, and
pickle protocol 2 (torch.save's default) writes each as ``getattr(HistoryBuffer, 'min')``.
Allow-listing ``builtins.getattr`` would let a crafted checkpoint walk from any allowed
object to arbitrary code, so instead the buffers are pickled without those functions: they
are registered on the class when mmengine is imported, so nothing is lost.
"""
import importlib
import warnings
from typing import List, Tuple

import torch

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
    *(('numpy.dtypes', name) for name in (
        'BoolDType', 'Int8DType', 'UInt8DType', 'Int16DType', 'UInt16DType', 'Int32DType',
        'UInt32DType', 'Int64DType', 'UInt64DType', 'Float16DType', 'Float32DType',
        'Float64DType', 'LongDType', 'ULongDType', 'LongLongDType', 'ULongLongDType')),
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


def _history_buffer_state(buffer) -> dict:
    """Pickled state of a ``HistoryBuffer``: its data, without the statistics functions."""
    state = buffer.__dict__.copy()
    state.pop('statistics_methods', None)
    return state


def register_checkpoint_safe_globals() -> None:
    """Make the checkpoints mmengine writes loadable with ``torch.load(weights_only=True)``.

    Allow-lists the data types of :data:`CHECKPOINT_SAFE_GLOBALS` and makes
    ``HistoryBuffer`` pickle without function references. Idempotent.
    """
    from mmengine.logging import HistoryBuffer
    HistoryBuffer.__getstate__ = _history_buffer_state
    torch.serialization.add_safe_globals(checkpoint_safe_globals())
