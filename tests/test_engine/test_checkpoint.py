"""Checkpoints written by mmengine's Runner load under torch's weights_only=True."""
import os.path as osp
import pickle
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner

from hrpose.engine import checkpoint_safe_globals, register_checkpoint_safe_globals
from hrpose.utils import register_all_modules

# Allow-lists mmengine's checkpoint types and routes local checkpoints through hrpose's
# loader, as the tools do.
register_all_modules(init_default_scope=False)


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, targets, mode='tensor'):
        inputs = torch.stack(inputs)
        targets = torch.stack(targets)
        out = self.linear(inputs)
        if mode == 'loss':
            return dict(loss=((out - targets)**2).mean())
        return out


class ToyDataset(torch.utils.data.Dataset):
    METAINFO = dict()

    def __len__(self):
        return 8

    def __getitem__(self, idx):
        x = torch.tensor([float(idx), 1.0])
        return dict(inputs=x, targets=x.sum(0, keepdim=True))


class NotAllowListed:
    """A class no allow-list names: loading a pickle of it must stay refused."""

    def __init__(self):
        self.value = 1


@pytest.fixture(scope='module')
def runner_checkpoint(tmp_path_factory) -> str:
    work_dir = str(tmp_path_factory.mktemp('toy_runner'))
    runner = Runner(
        model=ToyModel(),
        work_dir=work_dir,
        train_dataloader=dict(
            dataset=ToyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=2,
            num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=3),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=3, by_epoch=False)),
        randomness=dict(seed=0),
        default_scope='mmengine')
    runner.train()
    return osp.join(work_dir, 'iter_3.pth')


def test_runner_checkpoint_loads_with_weights_only(runner_checkpoint):
    ckpt = torch.load(runner_checkpoint, map_location='cpu', weights_only=True)
    assert ckpt['meta']['iter'] == 3
    history = ckpt['message_hub']['log_scalars']['train/loss']
    assert type(history).__name__ == 'HistoryBuffer'
    assert len(history.data[0]) == 3  # one loss value per iteration


def test_runner_checkpoint_needs_the_allow_list_which_only_the_set_up_call_adds(runner_checkpoint):
    # A fresh interpreter refuses the same file, also after `import hrpose` (which changes
    # nothing outside hrpose); register_all_modules() makes it load: the allow-list is what
    # does it, not a weakened torch.load.
    code = f"""
import torch
import hrpose
try:
    torch.load({runner_checkpoint!r}, map_location='cpu', weights_only=True)
    print('loaded after import')
except Exception as error:
    print('refused after import:', type(error).__name__, error)
from hrpose.utils import register_all_modules
register_all_modules()
torch.load({runner_checkpoint!r}, map_location='cpu', weights_only=True)
print('loaded after register_all_modules')
"""
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith('refused after import: UnpicklingError')
    refusal = proc.stdout.split('loaded after register_all_modules')[0]
    assert 'HistoryBuffer' in refusal or 'numpy' in refusal
    assert proc.stdout.splitlines()[-1] == 'loaded after register_all_modules'


def test_history_buffers_pickle_without_functions_and_mmengine_keeps_its_class():
    """The buffers' pickling is registered with copyreg: mmengine's HistoryBuffer keeps its
    own __getstate__, and a pickled buffer names no function (getattr would have to be
    allow-listed for those)."""
    import copyreg
    import pickletools

    from mmengine.logging import HistoryBuffer, history_buffer

    from hrpose.engine.checkpoint import reduce_history_buffer
    register_checkpoint_safe_globals()
    assert HistoryBuffer.__getstate__.__module__ == history_buffer.__name__
    assert copyreg.dispatch_table[HistoryBuffer] is reduce_history_buffer
    buffer = HistoryBuffer()
    buffer.update(1.5)
    data = pickle.dumps(buffer, protocol=2)
    globals_named = [arg for op, arg, _ in pickletools.genops(data) if op.name == 'GLOBAL']
    # protocol 2 writes bytes through _codecs.encode, which torch's safe loader allows
    assert 'mmengine.logging.history_buffer HistoryBuffer' in globals_named
    assert all(
        g.startswith(('mmengine.logging.history_buffer HistoryBuffer', 'numpy', '_codecs encode'))
        for g in globals_named), globals_named
    restored = pickle.loads(data)
    assert restored.current() == 1.5 and restored.statistics('mean') == 1.5


def test_types_outside_the_allow_list_are_still_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'payload': NotAllowListed()}, path)
    with pytest.raises(pickle.UnpicklingError, match='NotAllowListed'):
        torch.load(path, weights_only=True)


def test_allow_list_names_only_data_types():
    names = {name for _, name in checkpoint_safe_globals()}
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in names
    assert not any(n.startswith(('builtins.', 'os.', 'subprocess.', 'posix.')) for n in names)
