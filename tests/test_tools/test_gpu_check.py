"""tools/analysis_tools/gpu_check.py in its CPU mode, so the GPU acceptance run is never
untested code."""
import importlib.util
import os.path as osp

import numpy as np
import pytest
import torch

from tests.helpers import REPO_ROOT


def load_gpu_check():
    spec = importlib.util.spec_from_file_location(
        'gpu_check', osp.join(REPO_ROOT, 'tools', 'analysis_tools', 'gpu_check.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gpu_check = load_gpu_check()


def table_rows(output: str) -> dict:
    """{part: (status, result)} from the printed table."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith('part'))
    rows = {}
    for line in lines[start + 2:]:
        if not line.strip():
            break
        for status in ('ok', 'FAILED', 'left out'):
            marker = f'  {status}  '
            if marker in line:
                part, result = line.split(marker, 1)
                rows[part.strip()] = (status, result.strip())
    return rows


def test_cpu_mode_runs_ops_training_and_inference_and_names_what_it_left_out(tmp_path, capsys):
    code = gpu_check.main([
        '--device', 'cpu', '--iters', '6', '--persons', '1', '3', '--repeats', '1', '--work-dir',
        str(tmp_path)
    ])
    rows = table_rows(capsys.readouterr().out)
    assert code == 0
    ran = {part: status for part, (status, _) in rows.items() if status != 'left out'}
    assert len(ran) == 9 and set(ran.values()) == {'ok'}, rows
    assert any(part.startswith('RoIAlign (cpu vs torchvision') for part in ran)
    assert 'inference keypoints (tiny, cpu vs one CPU thread)' in ran
    assert "decoding UDP (100 RoIs x 17 x 64x48, cpu vs mmpose's)" in ran
    training = next(result for part, (_, result) in rows.items() if part.startswith('training'))
    assert 'finite' in training and 'falling' in training
    left_out = [part for part, (status, _) in rows.items() if status == 'left out']
    assert 'mmcv CUDA kernels vs CPU' in left_out and 'W32 training with AMP' in left_out
    assert 'dist_train.sh 1 vs 2 processes' in left_out


def test_a_broken_part_is_a_failed_row_and_the_others_still_run(tmp_path, capsys, monkeypatch):

    def broken(*args):
        raise RuntimeError('CUDA error: out of memory\nmore lines')

    monkeypatch.setattr(gpu_check, 'check_training', broken)
    # a decoding that is off by a pixel is caught by its comparison, not only by an error
    from hrpose.codecs import UDPHeatmap
    decode = UDPHeatmap.decode
    monkeypatch.setattr(UDPHeatmap, 'decode', lambda self, *a:
                        (decode(self, *a)[0] + 1.0, decode(self, *a)[1]))
    code = gpu_check.main(
        ['--device', 'cpu', '--persons', '1', '--repeats', '1', '--work-dir',
         str(tmp_path)])
    output = capsys.readouterr().out
    rows = table_rows(output)
    assert code == 1
    assert rows['training'] == ('FAILED', 'RuntimeError: CUDA error: out of memory')
    assert rows["decoding UDP (100 RoIs x 17 x 64x48, cpu vs mmpose's)"][0] == 'FAILED'
    assert rows["decoding MSRA (100 RoIs x 17 x 64x48, cpu vs mmpose's)"][0] == 'ok'
    assert rows['inference keypoints (tiny, cpu vs one CPU thread)'][0] == 'ok'
    assert '9 part(s) run, 2 failed, 3 left out: FAILED training, decoding UDP' in output


def test_keypoint_comparison_counts_the_keypoints_that_moved():
    reference = torch.zeros(2, 17, 2)
    moved = reference.clone()
    moved[0, 3] = torch.tensor([3.0, 4.0])
    within, largest = gpu_check.compare_keypoints(moved, reference)
    assert within == pytest.approx(33 / 34) and largest == pytest.approx(5.0)
    assert gpu_check.compare_keypoints(moved[:1], reference) == (0.0, float('inf'))


def test_gpu_training_config_builds_its_iteration_loop(tmp_path):
    """The GPU path trains W32, whose schedule is epoch-based: its loop must still build
    (a merged train_cfg once handed max_epochs to IterBasedTrainLoop)."""
    from mmengine.runner import IterBasedTrainLoop, Runner

    from hrpose.datasets.synthetic import make_synthetic_coco
    data_root = str(tmp_path / 'synthetic')
    make_synthetic_coco(data_root, splits=dict(train=2), image_size=(64, 96), seed=0)
    cfg = gpu_check.training_config(torch.device('cuda'), data_root, iters=5, amp=True)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    cfg.work_dir = str(tmp_path / 'work')
    cfg.device = 'cpu'
    runner = Runner.from_cfg(cfg)
    loop = runner.build_train_loop(cfg.train_cfg)
    assert isinstance(loop, IterBasedTrainLoop) and loop.max_iters == 5


def test_ops_check_catches_a_wrong_kernel(monkeypatch):
    import mmcv.ops
    original = mmcv.ops.RoIAlign.forward
    monkeypatch.setattr(mmcv.ops.RoIAlign, 'forward',
                        lambda self, x, rois: original(self, x, rois) * 1.01)
    rows = gpu_check.check_ops(torch.device('cpu'))
    assert [r.status for r in rows] == ['FAILED', 'ok', 'ok']


def test_soft_nms_transcription_matches_mmcv_linear_soft_nms():
    from mmcv.ops import soft_nms
    gen = torch.Generator().manual_seed(1)
    boxes, scores = gpu_check.random_boxes(60, gen)
    dets, keep = soft_nms(boxes, scores, 0.3, min_score=0.01, method='linear')
    ref_keep, ref_scores = gpu_check.soft_nms_linear_reference(boxes.numpy(), scores.numpy(), 0.3,
                                                               0.01)
    assert keep.tolist() == ref_keep.tolist()
    np.testing.assert_allclose(dets[:, 4].numpy(), ref_scores, atol=1e-5)


@pytest.mark.slow
@pytest.mark.full  # two 2-process trainings (40 s); make test has dist_train and dist_test
def test_distributed_part_on_the_cpu(tmp_path):
    row = gpu_check.check_distributed(torch.device('cpu'), iters=4, work_dir=str(tmp_path))
    assert row.status == 'ok', row.detail
    assert 'the same images' in row.detail
    for rank in (0, 1):  # every rank recorded its own loss
        assert (tmp_path / 'dist_2' / 'losses' / f'losses_rank{rank}.jsonl').is_file()


def test_the_batch_loss_of_a_distributed_run_is_the_mean_over_its_ranks(tmp_path):
    import json
    for rank, losses in enumerate(([2.0, 1.0, 0.5], [4.0, 3.0])):
        with open(tmp_path / f'losses_rank{rank}.jsonl', 'w') as f:
            for i, loss in enumerate(losses):
                f.write(json.dumps(dict(iter=i, loss=loss)) + '\n')
    assert gpu_check.batch_losses(str(tmp_path), 2) == [3.0, 2.0]
    with pytest.raises(FileNotFoundError, match='rank 2 wrote no losses'):
        gpu_check.batch_losses(str(tmp_path), 3)
