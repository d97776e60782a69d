from .atomic_file_backend import AtomicLocalBackend, atomic_write
from .checkpoint import (CHECKPOINT_SAFE_GLOBALS, UnsafeCheckpointError,
                         allow_unsafe_checkpoint_loading, checkpoint_safe_globals,
                         register_checkpoint_safe_globals, unsafe_checkpoint_loading)
from .hooks import RandomStateHook
from .resume import find_resumable_checkpoint, is_complete_checkpoint

__all__ = [
    'AtomicLocalBackend', 'atomic_write', 'CHECKPOINT_SAFE_GLOBALS', 'UnsafeCheckpointError',
    'allow_unsafe_checkpoint_loading', 'checkpoint_safe_globals',
    'register_checkpoint_safe_globals', 'unsafe_checkpoint_loading', 'RandomStateHook',
    'find_resumable_checkpoint', 'is_complete_checkpoint'
]
