"""Fixtures shared by the whole suite; helpers (paths, option builders, tool runners) are
in ``tests/helpers.py``."""
import os.path as osp
import sys

import pytest
from mmengine.registry import init_default_scope

from tests.helpers import (TINY_POSE_CONFIG, run_tool, shared_data_candidates,
                           synthetic_cfg_options, train_overfit_run)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``longest`` (minutes each) go first: a failure there shows early, and
    with several workers (``pytest -n 2``, pytest-xdist) one starts them at once."""
    items.sort(key=lambda item: item.get_closest_marker('longest') is None)


@pytest.fixture
def hrpose_scope():
    """Build from the hrpose registries (a module opts in with ``pytestmark``); not for
    every test, so that the tools and the API are also tested without a default scope."""
    init_default_scope('hrpose')


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


@pytest.fixture(scope='session')
def udp_overfit_run(tmp_path_factory, shared_data):
    """``(work_dir, cfg_options)`` of the UDP overfit training on the 4 COCO sample images
    (keypoint AP 1.0 on them): the acceptance test of the codecs and the ONNX parity tests
    share it, the only trained model of the suite that finds real persons. Read it, never
    write into it."""
    work_dir = str(tmp_path_factory.mktemp('udp_overfit') / 'work')
    options = train_overfit_run(work_dir, osp.join(shared_data, 'coco'), 'UDPHeatmap')
    return work_dir, options


@pytest.fixture(scope='session')
def trained_run(tmp_path_factory, synthetic_root) -> str:
    """Work dir of one 4-iteration run of the tiny config on ``synthetic_root``, shared by
    every test that needs a trained model or a real log: checkpoints at iterations 2 and 4,
    validated once at 4, logged to json and TensorBoard. Read it, never write into it (copy
    it first)."""
    root = tmp_path_factory.mktemp('run')
    config_path = root / 'tiny_tensorboard.py'
    config_path.write_text(
        f"_base_ = [{TINY_POSE_CONFIG!r}]\n"
        "vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]\n"
        "visualizer = dict(vis_backends=vis_backends)\n")
    work_dir = str(root / 'work')
    run_tool([
        sys.executable, 'tools/train.py',
        str(config_path), '--work-dir', work_dir, '--cfg-options', 'train_cfg.max_iters=4',
        'train_cfg.val_interval=4', 'default_hooks.checkpoint.interval=2',
        *synthetic_cfg_options(synthetic_root)
    ])
    return work_dir
