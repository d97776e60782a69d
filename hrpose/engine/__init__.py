from .checkpoint import (CHECKPOINT_SAFE_GLOBALS, checkpoint_safe_globals,
                         register_checkpoint_safe_globals)

__all__ = [
    'CHECKPOINT_SAFE_GLOBALS', 'checkpoint_safe_globals', 'register_checkpoint_safe_globals'
]
