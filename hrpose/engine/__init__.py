"""Checkpoints written atomically, loaded safely and checked against the model; resuming."""
from .atomic_file_backend import AtomicLocalBackend, atomic_write, remove_stale_temporaries
from .checkpoint import (CHECKPOINT_SAFE_GLOBALS, UnsafeCheckpointError, WeightShapeError,
                         allow_unsafe_checkpoint_loading, check_weight_shapes,
                         checkpoint_safe_globals, register_checkpoint_safe_globals,
                         unsafe_checkpoint_loading)
from .hooks import PerRankLossHook, RandomStateHook, WeightShapeCheckHook
from .resume import find_resumable_checkpoint, is_complete_checkpoint
from .work_dir_lock import WorkDirInUseError, WorkDirLock, lock_work_dir

__all__ = [
    'AtomicLocalBackend', 'atomic_write', 'remove_stale_temporaries', 'CHECKPOINT_SAFE_GLOBALS',
    'UnsafeCheckpointError', 'allow_unsafe_checkpoint_loading', 'checkpoint_safe_globals',
    'register_checkpoint_safe_globals', 'unsafe_checkpoint_loading', 'RandomStateHook',
    'WeightShapeError', 'check_weight_shapes', 'WeightShapeCheckHook', 'PerRankLossHook',
    'find_resumable_checkpoint', 'is_complete_checkpoint', 'WorkDirInUseError', 'WorkDirLock',
    'lock_work_dir'
]
