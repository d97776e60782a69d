"""One training per work dir: a second run is refused naming the first, a dead run's lock is
taken over, and a finished run leaves the folder free."""
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from hrpose.engine import WorkDirInUseError, lock_work_dir
from tests.helpers import REPO_ROOT, TINY_POSE_CONFIG, run_tool


def start_holder(work_dir) -> subprocess.Popen:
    """Another process that takes the work dir and keeps it until it is killed."""
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {REPO_ROOT!r})
        from hrpose.engine.work_dir_lock import lock_work_dir
        lock_work_dir({str(work_dir)!r})
        print('locked', flush=True)
        time.sleep(120)
    """)
    holder = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == 'locked'
    return holder


def test_a_held_work_dir_is_refused_naming_its_holder_and_a_killed_holders_is_taken_over(tmp_path):
    holder = start_holder(tmp_path)
    try:
        with pytest.raises(
                WorkDirInUseError, match=rf'in use by another training: pid '
                rf'{holder.pid} on host'):
            lock_work_dir(str(tmp_path))
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    # The kernel let go of the dead process's lock; its file still names it.
    lock = lock_work_dir(str(tmp_path))
    assert lock.stale is not None and f'pid {holder.pid}' in lock.stale
    lock.release()
    again = lock_work_dir(str(tmp_path))  # released: free, and nothing stale
    assert again.stale is None
    again.release()


def test_a_second_training_on_a_work_dir_in_use_stops_before_anything_is_written(tmp_path):
    holder = start_holder(tmp_path)
    try:
        proc = run_tool([
            sys.executable, 'tools/train.py', TINY_POSE_CONFIG, '--work-dir',
            str(tmp_path), '--cfg-options', 'train_cfg.max_iters=1'
        ],
                        expect_failure=True)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert f'is in use by another training: pid {holder.pid}' in proc.stderr
    assert sorted(os.listdir(tmp_path)) == ['.train.lock']  # no config dump, no log
