"""What several test modules share: paths, --cfg-options builders, and two ways to run a
tool (in a fresh process, or in this one for the light tools that start no training)."""
import contextlib
import io
import os
import os.path as osp
import re
import runpy
import socket
import subprocess
import sys
from typing import Dict, List, Sequence

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# The seed of the tests that train (default 0, the configs' own): HRPOSE_TEST_SEED=1 make test
# runs them on another seed, which changes the float rounding the way another CPU does.
TEST_SEED = int(os.environ.get('HRPOSE_TEST_SEED', '0'))
OVERFIT_CONFIG = osp.join(REPO_ROOT, 'tests', 'configs', 'hrpose_tiny_overfit_coco_sample.py')
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
        origin = subprocess.run(['git', 'config', '--get', 'remote.origin.url'],
                                cwd=REPO_ROOT,
                                capture_output=True,
                                text=True,
                                timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        origin = ''
    if origin and osp.isdir(origin):
        candidates.append(osp.join(origin, '..', 'shared', 'data'))
    return [osp.abspath(c) for c in candidates]


def fail(message: str) -> None:
    """Fail the running test (pytest is imported here only: the benchmarks import these
    helpers where pytest may be absent)."""
    import pytest
    pytest.fail(message)


def data_cfg_options(data_root: str,
                     val_ann_file: str,
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


def overfit_options(data_root: str, codec: str, iterations: int) -> List[str]:
    """--cfg-options of the overfit run of ``codec`` on the COCO sample in ``data_root``
    for ``iterations``, the learning rate dropping where the overfit config drops it (at
    ``LR_DROP_AT`` of them); the acceptance test and bench/overfit_seeds.py run this."""
    from mmengine.config import Config
    drop_at = Config.fromfile(OVERFIT_CONFIG).LR_DROP_AT
    # The training set is wrapped in a RepeatDataset.
    options = data_cfg_options(
        data_root,
        'test_coco.json',
        train_dataset='train_dataloader.dataset.dataset',
        log_interval=25)
    return options + [
        f'model.roi_head.keypoint_head.codec.type={codec}', f'train_cfg.max_iters={iterations}',
        f'param_scheduler.1.end={iterations}',
        f'param_scheduler.1.milestones=[{int(iterations * drop_at)}]',
        f'default_hooks.checkpoint.interval={iterations}'
    ]


def train_overfit_run(work_dir: str, coco_root: str, codec: str) -> List[str]:
    """Train the overfit config of ``codec`` on the COCO sample in ``coco_root`` into
    ``work_dir`` (4-5 minutes on 2 cores) with the tests' seed; the --cfg-options that test
    it as it was trained."""
    from mmengine.config import Config
    iterations = Config.fromfile(OVERFIT_CONFIG).max_iters
    options = overfit_options(coco_root, codec, iterations) + [f'randomness.seed={TEST_SEED}']
    # Evaluated by tools/test.py afterwards: no validation at the end of training.
    run_tool([
        sys.executable, 'tools/train.py', OVERFIT_CONFIG, '--work-dir', work_dir, '--cfg-options',
        *options, 'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None'
    ],
             timeout=1800)
    return options


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


def run_tool(args: Sequence[str],
             env: Dict[str, str] = None,
             timeout: float = 900,
             expect_failure: bool = False) -> subprocess.CompletedProcess:
    """Run a command from the repository root; fail the test with its output if it fails
    (or, with ``expect_failure``, if it succeeds)."""
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', PYTHON=sys.executable)
    full_env.update(env or {})
    proc = subprocess.run(
        list(args), cwd=REPO_ROOT, env=full_env, capture_output=True, text=True, timeout=timeout)
    if expect_failure:
        if proc.returncode == 0:
            fail(f'{" ".join(args)} succeeded but should have failed\n'
                 f'--- stdout ---\n{proc.stdout[-6000:]}')
        return proc
    if proc.returncode != 0:
        fail(f'{" ".join(args)} exited with {proc.returncode}\n'
             f'--- stdout ---\n{proc.stdout[-6000:]}\n'
             f'--- stderr ---\n{proc.stderr[-6000:]}')
    return proc


def run_script(script: str, *args: str, expect_exit: int = 0) -> str:
    """Run ``python script args`` in this process (from the repository root) and return
    what it printed to stdout and stderr, an uncaught error's last line included; fail the
    test if it exits with another status than ``expect_exit`` (an uncaught error counts as
    1).

    For the light tools: a fresh process would spend seconds importing torch and mmdet."""
    saved_argv, saved_cwd, saved_path = sys.argv, os.getcwd(), list(sys.path)
    printed = io.StringIO()
    code = 0
    sys.argv = [script, *args]
    sys.path.insert(0, osp.dirname(osp.join(REPO_ROOT, script)))  # as `python script` does
    os.chdir(REPO_ROOT)
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            runpy.run_path(osp.join(REPO_ROOT, script), run_name='__main__')
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        if code and not isinstance(exit_.code, int):
            print(exit_.code, file=printed)
    except Exception as error:  # what a process would print last before exiting with 1
        code = 1
        print(f'{type(error).__name__}: {error}', file=printed)
    finally:
        sys.argv = saved_argv
        sys.path[:] = saved_path
        os.chdir(saved_cwd)
    if code != expect_exit:
        fail(f'{script} {" ".join(args)} exited with {code}, expected {expect_exit}\n'
             f'--- printed ---\n{printed.getvalue()[-6000:]}')
    return printed.getvalue()


def printed_metrics(output: str) -> Dict[str, float]:
    """``{'coco/kpt_AP': 0.12, ...}``: the last value a tool printed for each metric."""
    return {
        name: float(value)
        for name, value in re.findall(r'(coco/[a-zA-Z_0-9]+): (-?[0-9.]+)', output)
    }


KEYPOINT_STATS = ('AP', 'AP50', 'AP75', 'APm', 'APl', 'AR', 'AR50', 'AR75', 'ARm', 'ARl')
BOX_STATS = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l')


def _mean_of_valid(values) -> float:
    """COCOeval's summary of a precision or recall slice: -1 marks 'nothing to evaluate'."""
    values = values[values > -1]
    return float(values.mean()) if values.size else -1.0


def pycocotools_metrics(ann_file: str,
                        outfile_prefix: str,
                        sigmas=None,
                        box_area_ratio: float = None) -> Dict[str, float]:
    """pycocotools' own evaluation of the results files ``<prefix>.keypoints.json`` and
    ``<prefix>.bbox.json``, named as hrpose prints them.

    ``sigmas``: the keypoints' OKS sigmas (pycocotools' default: COCO's 17);
    ``box_area_ratio``: CrowdPose's protocol, where a person's area is this ratio times its
    box area; its keypoint table has all sizes in one range (AP, AP50, AP75, AR, AR50, AR75
    only)."""
    import numpy as np
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    metrics = {}
    for iou_type, prefix, names in (('keypoints', 'coco/kpt_', KEYPOINT_STATS),
                                    ('bbox', 'coco/bbox_', BOX_STATS)):
        with contextlib.redirect_stdout(io.StringIO()):
            coco_gt = COCO(ann_file)
            if box_area_ratio is not None:  # the box table's size ranges read it too
                for ann in coco_gt.dataset['annotations']:
                    ann['area'] = box_area_ratio * ann['bbox'][2] * ann['bbox'][3]
                coco_gt.createIndex()
            coco_eval = COCOeval(coco_gt, coco_gt.loadRes(f'{outfile_prefix}.{iou_type}.json'),
                                 iou_type)
            if sigmas is not None:
                coco_eval.params.kpt_oks_sigmas = np.asarray(sigmas)
            if box_area_ratio is not None and iou_type == 'keypoints':
                coco_eval.params.areaRng = [[0, 1e10]]
                coco_eval.params.areaRngLbl = ['all']
            coco_eval.evaluate()
            coco_eval.accumulate()
            if box_area_ratio is not None and iou_type == 'keypoints':
                precision, recall = coco_eval.eval['precision'], coco_eval.eval['recall']
                # (T, R, K, A, M) and (T, K, A, M); IoU thresholds 0.5:0.05:0.95.
                mean = _mean_of_valid
                metrics.update({
                    prefix + 'AP': mean(precision[..., -1]),
                    prefix + 'AP50': mean(precision[0, ..., -1]),
                    prefix + 'AP75': mean(precision[5, ..., -1]),
                    prefix + 'AR': mean(recall[..., -1]),
                    prefix + 'AR50': mean(recall[0, ..., -1]),
                    prefix + 'AR75': mean(recall[5, ..., -1])
                })
                continue
            coco_eval.summarize()
        metrics.update({prefix + n: float(v) for n, v in zip(names, coco_eval.stats)})
    return metrics


def codec_config(codec_type: str, current: dict) -> dict:
    """A codec config of another type with the geometry (and the Gaussian's sigma, for the
    Gaussian codecs) of ``current``: each codec takes only its own arguments."""
    keys = ['heatmap_size', 'roi_padding']
    if codec_type in ('MSRAHeatmap', 'DARKHeatmap', 'UDPHeatmap'):
        keys.append('sigma')
    return dict(type=codec_type, **{k: current[k] for k in keys if k in current})
