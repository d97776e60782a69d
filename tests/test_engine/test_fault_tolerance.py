"""Faults during training lose nothing: non-finite losses, crashes while saving, kills."""
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint

from hrpose.engine import (AtomicLocalBackend, UnsafeCheckpointError,
                           allow_unsafe_checkpoint_loading, atomic_write,
                           find_resumable_checkpoint, remove_stale_temporaries)
from hrpose.engine.checkpoint import load_local_checkpoint
from hrpose.models.detectors import NonFiniteLossError
from hrpose.models.roi_heads.top_down_heatmap_roi_head import TopDownHeatmapRoIHead
from tests.helpers import REPO_ROOT, TINY_POSE_CONFIG, run_script, synthetic_cfg_dict
from tests.test_tools.test_train_test_tools import train_args


class NotAllowListed:
    """A type that no allow-list names."""


# ---------------------------------------------------------------- atomic checkpoint writes


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / 'iter_2.pth'
    atomic_write(b'old checkpoint', target)

    def crash(fd):
        raise OSError('disk full')

    monkeypatch.setattr(os, 'fsync', crash)
    with pytest.raises(OSError, match='disk full'):
        AtomicLocalBackend().put(b'new' * 1000, target)
    assert target.read_bytes() == b'old checkpoint'
    assert os.listdir(tmp_path) == ['iter_2.pth']


def test_process_killed_while_writing_leaves_the_old_checkpoint_latest(tmp_path):
    """The writer is SIGKILLed after writing the new bytes but before the rename."""
    work_dir = tmp_path / 'work'
    script = f'''
import os, sys, time
sys.path.insert(0, {REPO_ROOT!r})
from hrpose.engine import AtomicLocalBackend
from hrpose.utils import register_all_modules
backend = AtomicLocalBackend()
work_dir = {str(work_dir)!r}
import torch, io

# Allow-lists mmengine's checkpoint types and routes local checkpoints through hrpose's
# loader, as the tools do.
register_all_modules(init_default_scope=False)
buffer = io.BytesIO(); torch.save({{'step': 2}}, buffer)
backend.put(buffer.getvalue(), os.path.join(work_dir, 'iter_2.pth'))
backend.put_text(os.path.join(work_dir, 'iter_2.pth'), os.path.join(work_dir, 'last_checkpoint'))
def stall(fd):
    print('writing', flush=True)
    time.sleep(60)
os.fsync = stall
buffer = io.BytesIO(); torch.save({{'step': 4, 'weights': torch.zeros(100000)}}, buffer)
backend.put(buffer.getvalue(), os.path.join(work_dir, 'iter_2.pth'))
'''
    proc = subprocess.Popen([sys.executable, '-c', script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == 'writing'
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    latest = find_resumable_checkpoint(str(work_dir))
    assert latest == str(work_dir / 'iter_2.pth')
    assert torch.load(latest, weights_only=True) == {'step': 2}
    # The half-done write is a hidden temporary file, never taken for a checkpoint.
    leftovers = [f for f in os.listdir(work_dir) if f not in ('iter_2.pth', 'last_checkpoint')]
    assert len(leftovers) == 1 and leftovers[0].startswith('.tmp-iter_2.pth')


def test_resume_skips_an_empty_pointer_and_a_truncated_newest_checkpoint(tmp_path):
    torch.save({'step': 2}, tmp_path / 'iter_2.pth')
    torch.save({'step': 4}, tmp_path / 'iter_4.pth')
    data = (tmp_path / 'iter_6.pth')
    torch.save({'step': 6, 'w': torch.zeros(1000)}, data)
    data.write_bytes(data.read_bytes()[:2000])  # cut short by a crash
    (tmp_path / 'last_checkpoint').write_text('')  # emptied by a crash
    assert find_resumable_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_4.pth')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_2.pth'))
    assert find_resumable_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_2.pth')
    assert find_resumable_checkpoint(str(tmp_path / 'nothing')) is None


# ---------------------------------------------------------------- checkpoint loading safety


def test_truncated_checkpoint_is_named(tmp_path):
    path = tmp_path / 'cut.pth'
    torch.save({'w': torch.zeros(1000)}, path)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ValueError, match=r'cut.pth is truncated'):
        _load_checkpoint(str(path))


def test_unknown_checkpoint_types_are_refused_unless_unsafe_loading_is_asked(tmp_path):
    path = tmp_path / 'foreign.pth'
    torch.save({'state_dict': {'w': torch.ones(2)}, 'extra': NotAllowListed()}, path)
    with pytest.raises(UnsafeCheckpointError) as info:
        _load_checkpoint(str(path))
    message = str(info.value)
    assert 'foreign.pth' in message and 'NotAllowListed' in message
    assert '--unsafe-load' in message
    try:
        allow_unsafe_checkpoint_loading(True)
        loaded = _load_checkpoint(str(path))
    finally:
        allow_unsafe_checkpoint_loading(False)
    assert isinstance(loaded['extra'], NotAllowListed)
    with pytest.raises(UnsafeCheckpointError):
        _load_checkpoint(str(path))


def test_plain_state_dicts_load_safely(tmp_path):
    path = tmp_path / 'weights.pth'
    torch.save({'state_dict': {'w': torch.arange(3.0)}}, path)
    assert torch.equal(_load_checkpoint(str(path))['state_dict']['w'], torch.arange(3.0))


# ---------------------------------------------------------------- non-finite losses


def tiny_runner(work_dir, data_root, max_iters, **model_options) -> Runner:
    cfg = Config.fromfile(TINY_POSE_CONFIG)
    options = synthetic_cfg_dict(data_root)
    options.update({
        'train_cfg.max_iters': max_iters,
        'train_cfg.val_interval': 100,
        'default_hooks.checkpoint.interval': 1,
        **{
            f'model.{k}': v
            for k, v in model_options.items()
        }
    })
    cfg.merge_from_dict(options)
    cfg.work_dir = str(work_dir)
    return Runner.from_cfg(cfg)


@pytest.fixture
def nan_keypoint_loss_at_iteration_3(monkeypatch):
    original = TopDownHeatmapRoIHead.loss
    calls = []

    def loss(self, *args, **kwargs):
        losses = original(self, *args, **kwargs)
        calls.append(1)
        if len(calls) == 3:
            losses['loss_keypoint'] = losses['loss_keypoint'] * float('nan')
        return losses

    monkeypatch.setattr(TopDownHeatmapRoIHead, 'loss', loss)


@pytest.mark.slow
def test_nan_loss_stops_naming_iteration_and_term_and_keeps_the_last_checkpoint(
        tmp_path, synthetic_root, nan_keypoint_loss_at_iteration_3):
    runner = tiny_runner(tmp_path, synthetic_root, max_iters=5)
    with pytest.raises(NonFiniteLossError, match=r'iteration 3: .*loss_keypoint=nan'):
        runner.train()
    assert sorted(f for f in os.listdir(tmp_path)
                  if f.endswith('.pth')) == ['iter_1.pth', 'iter_2.pth']
    latest = find_resumable_checkpoint(str(tmp_path))
    assert latest.endswith('iter_2.pth')
    state = torch.load(latest, map_location='cpu', weights_only=True)['state_dict']
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


@pytest.mark.slow
def test_nan_loss_step_can_be_skipped(tmp_path, synthetic_root, nan_keypoint_loss_at_iteration_3):
    runner = tiny_runner(tmp_path, synthetic_root, max_iters=4, non_finite_loss='skip')
    runner.train()
    model = runner.model
    assert model.skipped_steps == 1
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert osp.isfile(tmp_path / 'iter_4.pth')


def test_unknown_non_finite_policy_is_refused(tmp_path, synthetic_root):
    with pytest.raises(ValueError, match="non_finite_loss must be 'error' or 'skip'"):
        tiny_runner(tmp_path, synthetic_root, max_iters=1, non_finite_loss='ignore')


# ---------------------------------------------------------------- data without keypoints


@pytest.mark.slow
def test_training_goes_on_through_batches_without_any_keypoint(tmp_path, synthetic_root):
    """One image without persons, the others with persons but no labelled keypoint."""
    with open(osp.join(synthetic_root, 'annotations', 'person_keypoints_train.json')) as f:
        coco = json.load(f)
    first_image = coco['images'][0]['id']
    coco['annotations'] = [a for a in coco['annotations'] if a['image_id'] != first_image]
    for ann in coco['annotations']:
        ann['keypoints'] = [0] * len(ann['keypoints'])
        ann['num_keypoints'] = 0
    ann_file = tmp_path / 'no_keypoints.json'
    ann_file.write_text(json.dumps(coco))

    runner = tiny_runner(tmp_path / 'work', synthetic_root, max_iters=3)
    runner.cfg.train_dataloader.dataset.ann_file = str(ann_file)
    runner.cfg.train_dataloader.dataset.filter_cfg.filter_empty_gt = False
    runner = Runner.from_cfg(runner.cfg)
    assert len(runner.train_dataloader.dataset) == len(coco['images'])
    runner.train()
    keypoint_losses, _ = runner.message_hub.get_scalar('train/loss_keypoint').data
    assert len(keypoint_losses) == 3 and (keypoint_losses == 0).all()
    assert all(torch.isfinite(p).all() for p in runner.model.parameters())


# ---------------------------------------------------------------- SIGKILL and resume


def logged_losses(work_dir: str) -> dict:
    """{iteration: loss} over every run logged in ``work_dir``."""
    losses = {}
    for root, _, files in os.walk(work_dir):
        if 'scalars.json' in files:
            with open(osp.join(root, 'scalars.json')) as f:
                for line in f:
                    record = json.loads(line)
                    if 'loss' in record:
                        losses[record['iter']] = record['loss']
    return losses


@pytest.mark.slow
def test_killed_training_resumes_at_its_checkpoint_with_the_same_losses(tmp_path, synthetic_root):
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    uninterrupted = str(tmp_path / 'uninterrupted')
    subprocess.run(
        train_args(uninterrupted, synthetic_root, max_iters=8),
        cwd=REPO_ROOT,
        env=env,
        check=True,
        capture_output=True)
    reference = logged_losses(uninterrupted)
    assert sorted(reference) == list(range(1, 9))

    killed = str(tmp_path / 'killed')
    proc = subprocess.Popen(
        train_args(killed, synthetic_root, max_iters=8),
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    pointer = osp.join(killed, 'last_checkpoint')
    while time.time() < deadline and proc.poll() is None:
        if osp.isfile(pointer) and open(pointer).read().strip().endswith('iter_4.pth'):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, 'training ended before it could be killed'
    assert not osp.isfile(osp.join(killed, 'iter_8.pth'))

    resumed = subprocess.run(
        train_args(killed, synthetic_root, max_iters=8, extra=['--resume', 'auto']),
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert 'resumed epoch: 0, iter: 4' in resumed.stdout + resumed.stderr
    after = logged_losses(killed)
    assert sorted(after) == list(range(1, 9))
    for iteration in range(5, 9):
        assert after[iteration] == pytest.approx(reference[iteration], rel=1e-5), iteration
    # The message hub came back with the checkpoint: the loss history holds all 8 steps.
    final = torch.load(osp.join(killed, 'iter_8.pth'), map_location='cpu', weights_only=True)
    assert final['meta']['iter'] == 8
    assert len(final['message_hub']['log_scalars']['train/loss'].data[0]) == 8


# ---------------------------------------------------------------- smaller file matters


def test_old_format_checkpoints_load_and_a_cut_one_is_named(tmp_path):
    path = tmp_path / 'old.pth'
    torch.save({'state_dict': {
        'w': torch.arange(3.0)
    }},
               path,
               _use_new_zipfile_serialization=False)
    assert torch.equal(load_local_checkpoint(str(path))['state_dict']['w'], torch.arange(3.0))
    data = path.read_bytes()
    (tmp_path / 'cut.pth').write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.pth \(torch's pre-1\.6 format\) is truncated"):
        load_local_checkpoint(str(tmp_path / 'cut.pth'))


def test_atomic_writes_get_the_permissions_of_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        atomic_write(b'data', tmp_path / 'iter_1.pth')
    finally:
        os.umask(previous)
    assert os.stat(tmp_path / 'iter_1.pth').st_mode & 0o777 == 0o644


def test_temporaries_of_a_killed_write_are_removed_at_the_next_start(tmp_path):
    (tmp_path / '.tmp-iter_4.pth.x1y2').write_bytes(b'half a checkpoint')
    (tmp_path / 'iter_2.pth').write_bytes(b'kept')
    assert remove_stale_temporaries(str(tmp_path)) == [str(tmp_path / '.tmp-iter_4.pth.x1y2')]
    assert sorted(os.listdir(tmp_path)) == ['iter_2.pth']


def test_publish_model_accepts_the_unsafe_load_it_suggests(tmp_path):
    from tests.test_engine.test_checkpoint import NotAllowListed
    source = tmp_path / 'trusted.pth'
    torch.save({'state_dict': {'w': torch.ones(2)}, 'meta': {}, 'extra': NotAllowListed()}, source)
    tool = 'tools/model_converters/publish_model.py'
    refused = run_script(tool, str(source), str(tmp_path / 'out.pth'), expect_exit=1)
    assert '--unsafe-load' in refused
    printed = run_script(tool, str(source), str(tmp_path / 'out.pth'), '--unsafe-load')
    assert 'out-' in printed and len(list(tmp_path.glob('out-*.pth'))) == 1
