"""tools/train.py, tools/test.py and tools/dist_train.sh on the tiny config, on the CPU."""
import glob
import json
import os.path as osp
import pickle
import sys

import mmcv
import pytest
import torch

from hrpose.codecs import MSRAHeatmap
from hrpose.utils import register_all_modules
from tests.helpers import (TINY_POSE_CONFIG, free_port, printed_metrics, pycocotools_metrics,
                           run_tool, synthetic_cfg_options)

# Allow-lists mmengine's checkpoint types and routes local checkpoints through hrpose's
# loader, as the tools do.
register_all_modules(init_default_scope=False)


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
def test_test_tool_evaluates_writes_and_draws_from_a_work_dir(tmp_path, trained_run,
                                                              synthetic_root):
    """tools/test.py on a work dir: the numbers it prints are pycocotools' on the results it
    writes; the pickled predictions and one side-by-side drawing per image are written."""
    out_file, prefix, show_dir = (str(tmp_path / 'preds.pkl'), str(tmp_path / 'results'),
                                  str(tmp_path / 'show'))
    proc = run_tool([
        sys.executable,
        'tools/test.py',
        TINY_POSE_CONFIG,
        trained_run,
        '--work-dir',
        str(tmp_path / 'test'),
        '--out',
        out_file,
        '--show-dir',
        show_dir,
        '--show-score-thr',
        '0',
        '--cfg-options',
        *synthetic_cfg_options(synthetic_root),
        # An untrained model: keep every detection, so that the results files are not empty.
        'model.test_cfg.rcnn.score_thr=0.0',
        f'test_evaluator.outfile_prefix={prefix}'
    ])
    printed = printed_metrics(proc.stdout + proc.stderr)
    ann_file = osp.join(synthetic_root, 'annotations', 'person_keypoints_val.json')
    # All 16 numbers, the -1 of empty size ranges included. A 4-iteration model scores 0:
    # the overfit test makes the same comparison on non-zero numbers.
    expected = pycocotools_metrics(ann_file, prefix)
    for name, value in expected.items():
        assert printed[name] == pytest.approx(value, abs=1e-4), name  # printed to 4 places

    with open(out_file, 'rb') as f:
        predictions = pickle.load(f)
    val_images = sorted(glob.glob(osp.join(synthetic_root, 'val', '*.jpg')))
    assert len(predictions) == len(val_images) == 2
    with open(prefix + '.keypoints.json') as f:
        assert len(json.load(f)) == sum(len(p['pred_instances']['scores']) for p in predictions)
    drawings = sorted(glob.glob(osp.join(show_dir, '*.jpg')))
    assert [osp.basename(p) for p in drawings] == [osp.basename(p) for p in val_images]
    original = mmcv.imread(val_images[0])
    # Ground truth and predictions side by side: twice as wide as the image.
    assert mmcv.imread(drawings[0]).shape == (original.shape[0], 2 * original.shape[1], 3)


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
    assert logged_iterations(work_dir) == [[1, 2]]  # logged once, by rank 0


def shifted_ground_truth_detections(ann_file: str, out_file: str) -> str:
    """A detection file: each ground-truth box shifted by 2 pixels, scores falling."""
    with open(ann_file) as f:
        annotations = json.load(f)['annotations']
    detections = [
        dict(
            image_id=a['image_id'],
            category_id=1,
            score=1.0 - 0.01 * i,
            bbox=[a['bbox'][0] + 2, a['bbox'][1] + 2, *a['bbox'][2:]])
        for i, a in enumerate(annotations)
    ]
    with open(out_file, 'w') as f:
        json.dump(detections, f)
    return out_file


@pytest.mark.slow
@pytest.mark.parametrize(
    'protocol',
    [
        'end to end',
        # The detection-file protocol through the same path (10 s more per process count).
        pytest.param('detection file', marks=pytest.mark.full),
    ])
def test_two_process_evaluation_of_an_odd_sized_set_counts_each_image_once(
        tmp_path, trained_run, protocol):
    """3 validation images over 2 processes: the sampler pads one rank with a repeat, which
    must not reach the metric (same predictions and AP as 1 process)."""
    from hrpose.datasets.synthetic import make_synthetic_coco
    data_root = str(tmp_path / 'data')
    make_synthetic_coco(data_root, splits=dict(train=2, val=3), image_size=(128, 160), seed=1)
    work_dir = trained_run
    # Keep every detection, so the untrained model still produces results to compare.
    options = [*synthetic_cfg_options(data_root), 'model.test_cfg.rcnn.score_thr=0.0']
    given = []
    if protocol == 'detection file':
        given = [
            '--person-boxes',
            shifted_ground_truth_detections(
                osp.join(data_root, 'annotations', 'person_keypoints_val.json'),
                str(tmp_path / 'dets.json'))
        ]

    outputs, aps = [], []
    for processes in (1, 2):
        out_file = str(tmp_path / f'preds_{processes}.pkl')
        test_args = [
            work_dir, '--work-dir',
            str(tmp_path / f'test_{processes}'), '--out', out_file, *given, '--cfg-options',
            *options
        ]
        if processes == 1:
            proc = run_tool([sys.executable, 'tools/test.py', TINY_POSE_CONFIG, *test_args])
        else:
            proc = run_tool([
                'bash', 'tools/dist_test.sh', TINY_POSE_CONFIG, test_args[0], '2', *test_args[1:]
            ],
                            env=dict(PORT=str(free_port())))
        with open(out_file, 'rb') as f:
            outputs.append(pickle.load(f))
        aps.append(printed_metrics(proc.stdout + proc.stderr))

    single, double = outputs
    assert [s['img_id'] for s in double] == [s['img_id'] for s in single]
    assert len(single) == 3 and len(set(s['img_id'] for s in single)) == 3
    for a, b in zip(single, double):
        assert len(a['pred_instances']['scores']) > 0
        torch.testing.assert_close(
            a['pred_instances']['bboxes'], b['pred_instances']['bboxes'], rtol=1e-4, atol=1e-3)
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
    if given:
        assert "coco/person_boxes: person boxes of" in proc.stdout + proc.stderr
        assert 0 < aps[0]['coco/bbox_mAP'] < 1  # the shifted boxes' own box AP


@pytest.mark.slow
def test_test_tool_analyze_diagnoses_the_results_it_just_wrote(tmp_path, trained_run,
                                                               synthetic_root):
    report = tmp_path / 'analysis'
    proc = run_tool([
        sys.executable, 'tools/test.py', TINY_POSE_CONFIG, trained_run, '--work-dir',
        str(tmp_path / 'test'), '--analyze',
        str(report), '--cfg-options', *synthetic_cfg_options(synthetic_root),
        'model.test_cfg.rcnn.score_thr=0.0'
    ])
    printed = printed_metrics(proc.stdout + proc.stderr)
    summary = json.loads((report / 'summary.json').read_text())
    with open(report / 'results.keypoints.json') as f:
        assert summary['detections'] == len(json.load(f)) > 0
    # The diagnosis's own COCOeval run of the results gives the AP the metric printed.
    assert summary['ap'] == pytest.approx(printed['coco/kpt_AP'], abs=1e-4)
    assert set(summary['ap_fixed']) == {'miss', 'swap', 'inversion', 'jitter'}
    assert (report / 'report.md').is_file() and (report / 'per_keypoint.png').is_file()
    assert 'report: ' in proc.stdout
