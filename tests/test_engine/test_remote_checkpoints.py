"""Downloads and model-zoo names load under the same allow-list as local files: a tampered
checkpoint served over http, sitting in torch hub's cache, or behind an open-mmlab:// or
torchvision:// name is refused, and runs nothing, unless unsafe loading is asked for."""
import functools
import http.server
import os
import os.path as osp
import threading

import pytest
import torch
from mmengine.runner.checkpoint import CheckpointLoader

from hrpose.engine import allow_unsafe_checkpoint_loading
from hrpose.engine.checkpoint import UnsafeCheckpointError, hub_cache_path
from hrpose.utils import register_all_modules


class QuietHandler(http.server.SimpleHTTPRequestHandler):

    def log_message(self, *args) -> None:
        pass


class Payload:
    """Unpickling it creates the folder ``marker``: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.makedirs, (self.marker, )


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A folder served over http on 127.0.0.1 holding ``evil.pth`` (a pickle that runs
    ``os.makedirs``) and ``good.pth`` (weights); torch hub's cache moved into tmp_path.
    Returns (base URL, marker path)."""
    register_all_modules()
    # A tool run in-process with --unsafe-load leaves unsafe loading on: off for these.
    allow_unsafe_checkpoint_loading(False)
    root = tmp_path / 'served'
    root.mkdir()
    marker = str(tmp_path / 'code-ran')
    torch.save({
        'state_dict': {
            'w': torch.arange(3.0)
        },
        'meta': Payload(marker)
    }, root / 'evil.pth')
    torch.save({'state_dict': {'w': torch.arange(3.0)}}, root / 'good.pth')
    hub = tmp_path / 'hub'
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(hub))
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f'http://127.0.0.1:{server.server_address[1]}', marker
    finally:
        server.shutdown()
        server.server_close()
        allow_unsafe_checkpoint_loading(False)


def test_a_tampered_download_is_refused_and_runs_nothing(served):
    base, marker = served
    with pytest.raises(UnsafeCheckpointError, match=r'evil\.pth: it holds'):
        CheckpointLoader.load_checkpoint(f'{base}/evil.pth')
    assert not osp.exists(marker)
    # downloaded into the hub cache, as torch hub keeps it
    assert osp.isfile(hub_cache_path(f'{base}/evil.pth'))
    good = CheckpointLoader.load_checkpoint(f'{base}/good.pth')
    assert torch.equal(good['state_dict']['w'], torch.arange(3.0))


def test_a_tampered_file_in_the_hub_cache_is_refused(served, tmp_path):
    _, marker = served
    url = 'https://download.invalid/checkpoints/hrnetv2_w32.pth'  # never fetched: cached
    cached = hub_cache_path(url)
    os.makedirs(osp.dirname(cached))
    torch.save({'meta': Payload(marker)}, cached)
    with pytest.raises(UnsafeCheckpointError, match='hrnetv2_w32.pth'):
        CheckpointLoader.load_checkpoint(url)
    assert not osp.exists(marker)
    # --unsafe-load is the one way around it
    allow_unsafe_checkpoint_loading(True)
    CheckpointLoader.load_checkpoint(url)
    assert osp.isdir(marker)


@pytest.mark.parametrize('scheme, model_list', [
    ('open-mmlab://', 'get_external_models'),
    ('openmmlab://', 'get_external_models'),
    ('torchvision://', 'get_torchvision_models'),
])
def test_model_zoo_names_load_safely(served, monkeypatch, scheme, model_list):
    from mmengine.runner import checkpoint as mm_checkpoint
    base, marker = served
    monkeypatch.setattr(mm_checkpoint, model_list, lambda: {
        'msra/evil': f'{base}/evil.pth',
        'msra/good': f'{base}/good.pth'
    })
    with pytest.raises(UnsafeCheckpointError, match='evil.pth'):
        CheckpointLoader.load_checkpoint(f'{scheme}msra/evil')
    assert not osp.exists(marker)
    good = CheckpointLoader.load_checkpoint(f'{scheme}msra/good')
    assert torch.equal(good['state_dict']['w'], torch.arange(3.0))
    with pytest.raises(KeyError, match='no such model'):
        CheckpointLoader.load_checkpoint(f'{scheme}msra/missing')
