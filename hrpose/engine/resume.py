"""Finding the checkpoint to resume from after a crash."""
import glob
import os.path as osp
import re
import zipfile
from typing import List, Optional

from mmengine.logging import print_log

_CHECKPOINT_NAME = re.compile(r'^(?:iter|epoch)_(\d+)\.pth$')


def is_complete_checkpoint(path: str) -> bool:
    """Whether ``path`` is a whole ``torch.save`` file (a zip archive with its directory).

    A file cut short by a crash has lost the zip's central directory, which sits at the end.
    """
    return osp.isfile(path) and zipfile.is_zipfile(path)


def _numbered_checkpoints(work_dir: str) -> List[str]:
    """``iter_N.pth`` / ``epoch_N.pth`` in ``work_dir``, newest (highest N) first."""
    found = []
    for path in glob.glob(osp.join(work_dir, '*.pth')):
        match = _CHECKPOINT_NAME.match(osp.basename(path))
        if match:
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found, reverse=True)]


def find_resumable_checkpoint(work_dir: str) -> Optional[str]:
    """The newest complete checkpoint in ``work_dir``, or None when there is none.

    ``last_checkpoint`` (written by mmengine's CheckpointHook) is trusted when it names a
    complete file; otherwise, e.g. when it is empty or its file is truncated, the numbered
    checkpoints are tried from the newest down, and each one skipped is logged.
    """
    candidates = []
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            named = f.read().strip()
        if named:
            candidates.append(named if osp.isabs(named) else osp.join(work_dir, named))
    candidates += _numbered_checkpoints(work_dir)
    for path in candidates:
        if is_complete_checkpoint(path):
            return path
        print_log(
            f'resume: skipping {path}: missing or incomplete (not a whole torch.save '
            'archive, e.g. cut short by a crash)',
            logger='current',
            level=30)
    return None
