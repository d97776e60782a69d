"""One training per work dir: a second run on a folder in use would overwrite its
checkpoints and config dump without a word.

The lock is an ``flock`` on ``<work_dir>/.train.lock``, which holds the holder's pid, host
and start time for the message. The kernel releases an ``flock`` when its process ends,
however it ends (SIGKILL, a crash, a node reboot for a local disk), so a lock left by a
dead run is stale by construction: the next run finds the file unlocked, says whose it was,
and takes it over; ``--resume`` of a killed run works as before. On network file systems
``flock`` is as reliable as the file system's locking (NFSv4 and Lustre support it).
"""
import atexit
import datetime
import fcntl
import json
import os
import os.path as osp
import socket
import sys
from typing import Optional

LOCK_NAME = '.train.lock'


class WorkDirInUseError(RuntimeError):
    """Another running training holds the work dir."""


def _read_holder(fd: int) -> dict:
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        return json.loads(os.read(fd, 65536).decode() or '{}')
    except ValueError:
        return {}


def _describe(holder: dict) -> str:
    if not holder:
        return 'a process that left no details'
    return (f'pid {holder.get("pid")} on host {holder.get("host")}, started '
            f'{holder.get("started")} ({holder.get("command", "?")})')


class WorkDirLock:
    """The held lock of one work dir (see :func:`lock_work_dir`)."""

    def __init__(self, path: str, fd: int, stale: Optional[str]) -> None:
        self.path, self._fd = path, fd
        #: what a lock left by a dead run said about it, if there was one
        self.stale = stale

    def release(self) -> None:
        """Empty the file and let go (the file stays: removing it while another run waits
        on it would let a third one lock a new file beside it). Idempotent; also run at
        exit."""
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        os.close(self._fd)
        self._fd = None


def lock_work_dir(work_dir: str) -> WorkDirLock:
    """Take the work dir for this training until :meth:`WorkDirLock.release` or the end of
    the process.

    Args:
        work_dir: the run's folder (created if needed).

    Returns:
        WorkDirLock: the held lock; its ``stale`` says whose dead run left one behind.

    Raises:
        WorkDirInUseError: naming the running holder (pid, host, start, command).
    """
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, LOCK_NAME)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_holder(fd)
        os.close(fd)
        raise WorkDirInUseError(
            f'work dir {work_dir} is in use by another training: {_describe(holder)}. Two '
            'runs on one work dir overwrite each other\'s checkpoints; give this one another '
            '--work-dir, or wait until that one ends') from None
    previous = _read_holder(fd)
    holder = dict(
        pid=os.getpid(),
        host=socket.gethostname(),
        started=datetime.datetime.now().isoformat(timespec='seconds'),
        command=' '.join(sys.argv))
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, json.dumps(holder).encode())
    os.fsync(fd)
    lock = WorkDirLock(path, fd, _describe(previous) if previous else None)
    atexit.register(lock.release)
    return lock
