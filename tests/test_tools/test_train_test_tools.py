"""tools/train.py, tools/test.py and tools/dist_train.sh on the tiny config, on the CPU."""
import glob
import json
import os.path as osp
import sys

import pytest
import torch

import hrpose  # noqa: F401  (allow-lists mmengine's checkpoint types)
from hrpose.codecs import MSRAHeatmap
from tests.conftest import TINY_POSE_CONFIG, free_port, run_tool, synthetic_cfg_options


def logged_iterations(work_dir: str) -> list:
    """Iterations logged by each run in ``work_dir``, oldest run first: [[1, 2], [3, 4]]."""
    runs = []
    for scalars in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(scalars) as f:
            records = [json.loads(line) for line in f if line.strip()]
        runs.append([r['iter'] for r in records if 'loss' in r])
    return runs


def train_args(work_dir, data_root, max_iters, extra=()):
    return [
        sys.executable, 'tools/train.py', TINY_POSE_CONFIG, '--work-dir', work_dir, *extra,
        '--cfg-options', f'train_cfg.max_iters={max_iters}', 'train_cfg.val_interval=100',
        'default_hooks.checkpoint.interval=2', *synthetic_cfg_options(data_root)
    ]


@pytest.mark.slow
def test_train_then_resume_auto_continues_at_the_next_iteration(tmp_path, synthetic_root):
    work_dir = str(tmp_path / 'work')
    run_tool(train_args(work_dir, synthetic_root, max_iters=2))
    assert osp.isfile(osp.join(work_dir, 'iter_2.pth'))

    proc = run_tool(train_args(work_dir, synthetic_root, max_iters=4, extra=['--resume']))
    assert 'resumed epoch: 0, iter: 2' in proc.stdout + proc.stderr
    assert logged_iterations(work_dir) == [[1, 2], [3, 4]]

    ckpt = torch.load(osp.join(work_dir, 'iter_4.pth'), map_location='cpu', weights_only=True)
    assert ckpt['meta']['iter'] == 4
    # The message hub came back with the checkpoint: the loss history holds all 4 steps.
    assert len(ckpt['message_hub']['log_scalars']['train/loss'].data[0]) == 4


@pytest.mark.slow
def test_test_tool_evaluates_box_ap_from_a_work_dir(tmp_path, synthetic_root):
    work_dir = str(tmp_path / 'work')
    run_tool(train_args(work_dir, synthetic_root, max_iters=2))
    out_file = str(tmp_path / 'preds.pkl')
    proc = run_tool([
        sys.executable, 'tools/test.py', TINY_POSE_CONFIG, work_dir, '--work-dir', work_dir,
        '--out', out_file, '--cfg-options', *synthetic_cfg_options(synthetic_root)
    ])
    assert 'coco/bbox_mAP' in proc.stdout + proc.stderr
    assert osp.isfile(out_file)


@pytest.mark.slow
def test_dist_train_runs_two_cpu_processes(tmp_path, synthetic_root):
    work_dir = str(tmp_path / 'work')
    args = train_args(work_dir, synthetic_root, max_iters=2)
    # dist_train.sh CONFIG NPROC [train.py args]: drop 'python tools/train.py CONFIG'.
    proc = run_tool(['bash', 'tools/dist_train.sh', TINY_POSE_CONFIG, '2', *args[3:]],
                    env=dict(PORT=str(free_port())))
    output = proc.stdout + proc.stderr
    assert 'Distributed training: True' in output
    assert 'GPU number: 2' in output  # mmengine's name for the world size
    assert osp.isfile(osp.join(work_dir, 'iter_2.pth'))


@pytest.mark.slow
def test_two_process_evaluation_of_an_odd_sized_set_counts_each_image_once(tmp_path):
    """3 validation images over 2 processes: the sampler pads one rank with a repeat, which
    must not reach the metric (same predictions and AP as 1 process)."""
    import pickle
    import re

    from hrpose.datasets.synthetic import make_synthetic_coco
    data_root = str(tmp_path / 'data')
    make_synthetic_coco(data_root, splits=dict(train=2, val=3), image_size=(128, 160), seed=1)
    work_dir = str(tmp_path / 'work')
    run_tool(train_args(work_dir, data_root, max_iters=1))
    # Keep every detection, so the untrained model still produces results to compare.
    options = [*synthetic_cfg_options(data_root), 'model.test_cfg.rcnn.score_thr=0.0']

    outputs, aps = [], []
    for processes in (1, 2):
        out_file = str(tmp_path / f'preds_{processes}.pkl')
        test_args = [work_dir, '--work-dir', str(tmp_path / f'test_{processes}'), '--out',
                     out_file, '--cfg-options', *options]
        if processes == 1:
            proc = run_tool([sys.executable, 'tools/test.py', TINY_POSE_CONFIG, *test_args])
        else:
            proc = run_tool(['bash', 'tools/dist_test.sh', TINY_POSE_CONFIG, test_args[0], '2',
                             *test_args[1:]], env=dict(PORT=str(free_port())))
        with open(out_file, 'rb') as f:
            outputs.append(pickle.load(f))
        aps.append(re.findall(r'coco/kpt_AP: (-?[\d.]+)', proc.stdout + proc.stderr))

    single, double = outputs
    assert [s['img_id'] for s in double] == [s['img_id'] for s in single]
    assert len(single) == 3 and len(set(s['img_id'] for s in single)) == 3
    for a, b in zip(single, double):
        assert len(a['pred_instances']['scores']) > 0
        torch.testing.assert_close(a['pred_instances']['bboxes'], b['pred_instances']['bboxes'],
                                   rtol=1e-4, atol=1e-3)
        # The untrained model's heatmaps are nearly flat: a process running with another
        # number of threads can flip MSRA's quarter shift where two neighbours tie. Keypoints
        # agree to a quarter heatmap pixel (48 of them across each expanded RoI).
        rois = MSRAHeatmap().expand_rois(a['pred_instances']['bboxes'])
        quarter_pixel = (rois[:, 2] - rois[:, 0]) / 48 * 0.25
        difference = (a['pred_instances']['keypoints'] -
                      b['pred_instances']['keypoints']).abs().amax(dim=(1, 2))
        assert (difference <= quarter_pixel + 1e-3).all(), (difference, quarter_pixel)
        assert (difference < 1e-3).float().mean() > 0.5  # most poses are identical
    assert aps[0] and aps[0] == aps[1]
