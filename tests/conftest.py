import os
import os.path as osp
import socket
import subprocess
import sys
from typing import Dict, List, Sequence

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_POSE_CONFIG = osp.join(REPO_ROOT, 'configs', 'hrpose',
                            'hrpose_hrnet-tiny_hrfpn_1k_synthetic.py')
COCO_METAINFO = dict(
    from_file=osp.join(REPO_ROOT, 'configs/_base_/datasets/metainfo/coco_person.py'))
CROWDPOSE_METAINFO = dict(
    from_file=osp.join(REPO_ROOT, 'configs/_base_/datasets/metainfo/crowdpose.py'))


def shared_data_candidates() -> List[str]:
    """Where the small real samples (COCO, CrowdPose, video) may be: never in the repository
    but beside it, in ``../shared/data``. In order: ``$HRPOSE_SHARED_DATA``, beside this
    checkout, and beside the checkout a local clone was made from (its ``origin``)."""
    candidates = []
    if os.environ.get('HRPOSE_SHARED_DATA'):
        candidates.append(os.environ['HRPOSE_SHARED_DATA'])
    candidates.append(osp.join(REPO_ROOT, '..', 'shared', 'data'))
    try:
        origin = subprocess.run(['git', 'config', '--get', 'remote.origin.url'], cwd=REPO_ROOT,
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        origin = ''
    if origin and osp.isdir(origin):
        candidates.append(osp.join(origin, '..', 'shared', 'data'))
    return [osp.abspath(c) for c in candidates]


@pytest.fixture(scope='session')
def shared_data() -> str:
    candidates = shared_data_candidates()
    for candidate in candidates:
        if osp.isfile(osp.join(candidate, 'coco', 'test_coco.json')):
            return candidate
    pytest.fail(f'the sample data folder is missing; looked in {candidates}. The tests read the '
                'COCO and CrowdPose samples from ../shared/data beside the repository (or '
                'from $HRPOSE_SHARED_DATA)')


@pytest.fixture(scope='session')
def synthetic_root(tmp_path_factory) -> str:
    """A small synthetic person set (4 train, 2 val images, 128x160), made once per run."""
    from hrpose.datasets.synthetic import make_synthetic_coco
    root = str(tmp_path_factory.mktemp('synthetic'))
    make_synthetic_coco(root, splits=dict(train=4, val=2), image_size=(128, 160), seed=0)
    return root


def data_cfg_options(data_root: str, val_ann_file: str,
                     train_dataset: str = 'train_dataloader.dataset',
                     log_interval: int = 1) -> List[str]:
    """--cfg-options that point a config's train/val/test data at ``data_root``.

    ``train_dataset``: the config key of the training dataset (e.g.
    ``train_dataloader.dataset.dataset`` inside a RepeatDataset); ``log_interval``: the
    logger's interval in iterations."""
    data_root = data_root.rstrip('/') + '/'
    ann_val = data_root + val_ann_file
    return [
        f'{train_dataset}.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        f'val_evaluator.ann_file={ann_val}',
        f'test_evaluator.ann_file={ann_val}',
        f'default_hooks.logger.interval={log_interval}',
    ]


def synthetic_cfg_options(data_root: str) -> List[str]:
    """--cfg-options that point the synthetic dataset configs at ``data_root``."""
    return data_cfg_options(data_root, 'annotations/person_keypoints_val.json')


def synthetic_cfg_dict(data_root: str) -> Dict[str, object]:
    """The same as a dict for ``Config.merge_from_dict`` (numbers parsed), for runners built
    in-process."""
    options = {}
    for option in synthetic_cfg_options(data_root):
        key, value = option.split('=', 1)
        options[key] = int(value) if value.isdigit() else value
    return options


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def run_tool(args: Sequence[str], env: Dict[str, str] = None, timeout: float = 900,
             expect_failure: bool = False) -> subprocess.CompletedProcess:
    """Run a command from the repository root; fail the test with its output if it fails
    (or, with ``expect_failure``, if it succeeds)."""
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', PYTHON=sys.executable)
    full_env.update(env or {})
    proc = subprocess.run(list(args), cwd=REPO_ROOT, env=full_env, capture_output=True,
                          text=True, timeout=timeout)
    if expect_failure:
        if proc.returncode == 0:
            pytest.fail(f'{" ".join(args)} succeeded but should have failed\n'
                        f'--- stdout ---\n{proc.stdout[-6000:]}')
        return proc
    if proc.returncode != 0:
        pytest.fail(f'{" ".join(args)} exited with {proc.returncode}\n'
                    f'--- stdout ---\n{proc.stdout[-6000:]}\n'
                    f'--- stderr ---\n{proc.stderr[-6000:]}')
    return proc
