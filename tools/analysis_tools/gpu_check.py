"""Acceptance check of an install: run it first on a GPU machine, it prints one table.

    python tools/analysis_tools/gpu_check.py                      # GPU: the whole check
    python tools/analysis_tools/gpu_check.py --device cpu         # CPU: the parts that apply

Parts (each row of the table says ok, FAILED or left out, and why):

1. mmcv ops: RoIAlign, nms and soft_nms on random inputs, CUDA against CPU (max
   difference). On the CPU, mmcv's RoIAlign and nms against torchvision's, an independent
   implementation, and soft_nms against a plain transcription of its linear decay.
2. Training: ``--iters`` iterations of HRNet-W32 with ``--amp`` on synthetic full-size
   images (CPU: the tiny config in float32, a few iterations): iterations per second, peak
   memory, losses finite and falling.
3. Distributed: with 2 or more GPUs (or ``--dist`` on the CPU, gloo), ``tools/dist_train.sh``
   with 2 processes against 1 process at the same total batch, on the same images: the
   mean of the ranks' losses agrees with the one process's within 10 %.
4. Inference latency with 1 / 5 / 10 / 20 persons on a 1216x800 image, and the keypoints of
   20 persons against a reference run on the same weights and image (GPU: the CPU, TF32
   off; CPU: one thread); heatmap decoding throughput, and its keypoints against the CPU's
   (GPU) or mmpose's decoding (CPU).

Every row comes from a comparison that can fail; a part that raises is a FAILED row with
its error, and the other parts still run. Exit status 0 when no part failed, 1 otherwise.
"""
import argparse
import json
import os
import os.path as osp
import resource
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)
from hrpose.utils import register_all_modules  # noqa: E402

W32_CONFIG = osp.join(REPO_ROOT, 'configs/hrpose/hrpose_hrnet-w32_hrfpn_1x_coco.py')
TINY_CONFIG = osp.join(REPO_ROOT, 'configs/hrpose/hrpose_hrnet-tiny_hrfpn_1k_synthetic.py')


class Row:
    """One line of the table: part, status ('ok', 'FAILED', 'left out') and the figures."""

    def __init__(self, part: str, status: str, detail: str) -> None:
        self.part, self.status, self.detail = part, status, detail


# 1. mmcv ops ------------------------------------------------------------------------------


def random_rois(num: int, size: Tuple[int, int], generator: torch.Generator) -> torch.Tensor:
    """(num, 5) RoIs (batch index 0, x1, y1, x2, y2) inside a (h, w) feature map."""
    h, w = size
    xy = torch.rand(num, 2, generator=generator) * torch.tensor([w * 0.7, h * 0.7])
    wh = torch.rand(num, 2, generator=generator) * torch.tensor([w * 0.3, h * 0.3]) + 1
    return torch.cat([torch.zeros(num, 1), xy, xy + wh], dim=1)


def random_boxes(num: int, generator: torch.Generator) -> Tuple[torch.Tensor, torch.Tensor]:
    """Overlapping boxes (num, 4) in a 500x500 image and distinct scores (num, )."""
    xy = torch.rand(num, 2, generator=generator) * 400
    wh = torch.rand(num, 2, generator=generator) * 100 + 10
    scores = torch.randperm(num, generator=generator).float() / num + 0.01
    return torch.cat([xy, xy + wh], dim=1), scores


def soft_nms_linear_reference(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float,
                              min_score: float) -> Tuple[np.ndarray, np.ndarray]:
    """Linear soft-NMS (Bodla et al., 2017), one box at a time: the best box is kept and
    every other box overlapping it by more than the threshold is scaled by (1 - IoU). In
    float32, as the kernels compute (a score equal to ``min_score`` is kept)."""
    boxes, scores = boxes.astype(np.float32), scores.astype(np.float32).copy()
    min_score = np.float32(min_score)
    index = np.arange(len(scores))
    kept, kept_scores = [], []
    while len(index):
        best = int(np.argmax(scores[index]))
        i = index[best]
        kept.append(i)
        kept_scores.append(scores[i])
        index = np.delete(index, best)
        if not len(index):
            break
        x1 = np.maximum(boxes[i, 0], boxes[index, 0])
        y1 = np.maximum(boxes[i, 1], boxes[index, 1])
        x2 = np.minimum(boxes[i, 2], boxes[index, 2])
        y2 = np.minimum(boxes[i, 3], boxes[index, 3])
        inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
        area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
        iou = inter / (area(boxes[i]) + area(boxes[index]) - inter)
        scores[index] = np.where(iou > iou_threshold, scores[index] * (1 - iou), scores[index])
        index = index[scores[index] >= min_score]
    return np.asarray(kept), np.asarray(kept_scores)


def check_ops(device: torch.device, seed: int = 0) -> List[Row]:
    """mmcv's ops on ``device`` against a second implementation."""
    from mmcv.ops import RoIAlign, nms, soft_nms
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(1, 16, 50, 40, generator=generator)
    rois = random_rois(64, (50, 40), generator)
    boxes, scores = random_boxes(200, generator)
    rows = []
    roi_align = RoIAlign((7, 6), spatial_scale=1.0, sampling_ratio=0, aligned=True)
    if device.type == 'cuda':
        reference_name = 'mmcv CPU'
        from hrpose.utils.setup_env import mmcv_cuda_kernels_found
        if not mmcv_cuda_kernels_found():
            return [
                Row(
                    'mmcv ops', 'FAILED', 'mmcv was built without CUDA ops: run '
                    "HRPOSE_MMCV_CUDA=1 make install on this machine")
            ]
        pooled = roi_align(features.to(device), rois.to(device)).cpu()
        reference = roi_align(features, rois)
        keep = nms(boxes.to(device), scores.to(device), 0.5)[1].cpu()
        keep_ref = nms(boxes, scores, 0.5)[1]
        soft, soft_keep = soft_nms(
            boxes.to(device), scores.to(device), 0.5, min_score=0.05, method='linear')
        soft_ref, soft_keep_ref = soft_nms(boxes, scores, 0.5, min_score=0.05, method='linear')
        soft_diff = (soft.cpu()[:, 4] - soft_ref[:, 4]).abs().max().item() \
            if len(soft) == len(soft_ref) else float('inf')
        soft_same = torch.equal(soft_keep.cpu(), soft_keep_ref)
    else:
        import torchvision
        reference_name = 'torchvision / transcription'
        pooled = roi_align(features, rois)
        reference = torchvision.ops.roi_align(features, rois, (7, 6), 1.0, 0, aligned=True)
        keep = nms(boxes, scores, 0.5)[1]
        keep_ref = torchvision.ops.nms(boxes, scores, 0.5)
        soft, soft_keep = soft_nms(boxes, scores, 0.5, min_score=0.05, method='linear')
        ref_keep, ref_scores = soft_nms_linear_reference(boxes.numpy(), scores.numpy(), 0.5, 0.05)
        soft_same = soft_keep.tolist() == ref_keep.tolist()
        soft_diff = float(np.abs(soft[:, 4].numpy() - ref_scores).max()) if soft_same \
            else float('inf')
    roi_diff = (pooled - reference).abs().max().item()
    rows.append(
        Row(f'RoIAlign ({device.type} vs {reference_name})', 'ok' if roi_diff < 1e-4 else 'FAILED',
            f'max difference {roi_diff:.2e}'))
    same = torch.equal(keep, keep_ref)
    rows.append(
        Row(
            f'nms ({device.type} vs {reference_name})', 'ok' if same else 'FAILED',
            f'{len(keep)} of {len(boxes)} boxes kept, '
            f'{"identical" if same else "DIFFERENT"} indices'))
    rows.append(
        Row(f'soft_nms ({device.type} vs {reference_name})',
            'ok' if soft_same and soft_diff < 1e-4 else 'FAILED',
            f'{len(soft_keep)} kept, max score difference {soft_diff:.2e}'))
    return rows


# 2. Training -----------------------------------------------------------------------------


def peak_memory_mb(device: torch.device) -> float:
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2**20
    # ru_maxrss is in kilobytes on Linux: the peak of this process, loading included.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def training_config(device: torch.device, data_root: str, iters: int, amp: bool):
    """The config of the training check: W32 with AMP on a GPU, the tiny model on the CPU."""
    from mmengine.config import Config, ConfigDict
    cfg = Config.fromfile(W32_CONFIG if device.type == 'cuda' else TINY_CONFIG)
    ann = lambda split: f'annotations/person_keypoints_{split}.json'  # noqa: E731
    options = {
        'model.backbone.init_cfg':
        None,
        'train_dataloader.dataset.data_root':
        data_root + '/',
        'train_dataloader.dataset.ann_file':
        ann('train'),
        'train_dataloader.dataset.data_prefix.img':
        'train/',
        'train_dataloader.num_workers':
        2,
        'train_dataloader.persistent_workers':
        False,
        'val_dataloader':
        None,
        'val_evaluator':
        None,
        'val_cfg':
        None,
        'test_dataloader':
        None,
        'test_evaluator':
        None,
        'test_cfg':
        None,
        'param_scheduler': [
            dict(
                type='LinearLR',
                start_factor=0.1,
                by_epoch=False,
                begin=0,
                end=max(1, iters // 10))
        ],
        'default_hooks.logger':
        dict(type='LoggerHook', interval=max(1, iters // 10)),
        'log_processor':
        dict(by_epoch=False),
        'randomness':
        dict(seed=0),
    }
    if device.type == 'cuda':
        # The synthetic set's category and metainfo are COCO's; only the files differ.
        options['train_dataloader.dataset.filter_cfg'] = dict(filter_empty_gt=True, min_size=32)
    cfg.merge_from_dict(options)
    # Replaced, not merged: W32's schedule is epoch-based, and a merge would hand its
    # max_epochs to the iteration loop (TypeError before the first iteration).
    cfg.train_cfg = ConfigDict(type='IterBasedTrainLoop', max_iters=iters, val_interval=iters + 1)
    cfg.default_hooks.checkpoint = ConfigDict(
        type='CheckpointHook', interval=iters + 1, by_epoch=False)
    if amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    return cfg


def check_training(device: torch.device, iters: int, amp: bool, work_dir: str) -> Row:
    from mmengine.hooks import Hook
    from mmengine.runner import Runner

    from hrpose.datasets.synthetic import make_synthetic_coco
    image_size = (800, 1216) if device.type == 'cuda' else (160, 240)
    data_root = osp.join(work_dir, 'synthetic')
    make_synthetic_coco(data_root, splits=dict(train=16), image_size=image_size, seed=0)
    cfg = training_config(device, data_root, iters, amp)
    cfg.work_dir = osp.join(work_dir, 'train')
    cfg.device = device.type  # mmengine puts the model on the default device

    losses: List[float] = []

    class LossRecorder(Hook):

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            losses.append(float(outputs['loss'].detach()))

    runner = Runner.from_cfg(cfg)
    runner.register_hook(LossRecorder(), priority='LOWEST')
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    runner.train()
    seconds = time.perf_counter() - start
    model = 'W32' if device.type == 'cuda' else 'tiny'
    what = f'{model}, {iters} iterations, {"AMP" if amp else "fp32"}, {image_size[1]}x' \
        f'{image_size[0]}'
    finite = all(np.isfinite(losses))
    window = max(1, len(losses) // 5)
    first, last = float(np.mean(losses[:window])), float(np.mean(losses[-window:]))
    falling = last < first
    return Row(
        f'training ({what})', 'ok' if finite and falling else 'FAILED',
        f'{iters / seconds:.2f} it/s, peak {"GPU" if device.type == "cuda" else "host"} '
        f'memory {peak_memory_mb(device):.0f} MB, loss {first:.3f} -> {last:.3f} '
        f'({"finite" if finite else "NOT FINITE"}, '
        f'{"falling" if falling else "NOT FALLING"})')


# 3. Distributed ------------------------------------------------------------------------------


def batch_losses(out_dir: str, procs: int) -> List[float]:
    """The loss of each iteration over the whole batch: the mean of the ranks' losses
    (each over its share of the images), from ``PerRankLossHook``'s files."""
    per_rank = []
    for rank in range(procs):
        path = osp.join(out_dir, f'losses_rank{rank}.jsonl')
        if not osp.isfile(path):
            raise FileNotFoundError(f'rank {rank} wrote no losses ({path})')
        with open(path) as f:
            per_rank.append([json.loads(line)['loss'] for line in f])
    n = min(len(losses) for losses in per_rank)
    return [float(np.mean([losses[i] for losses in per_rank])) for i in range(n)]


def check_distributed(device: torch.device,
                      iters: int,
                      work_dir: str,
                      total_batch: int = 4) -> Row:
    """2 processes x total/2 images against 1 process x total images: the same images at
    each iteration (the sampler gives rank r every other index of the same order), so the
    mean of the two ranks' losses is compared with the one process's loss."""
    from hrpose.datasets.synthetic import make_synthetic_coco
    data_root = osp.join(work_dir, 'synthetic_dist')
    make_synthetic_coco(data_root, splits=dict(train=16), image_size=(160, 240), seed=0)
    curves = {}
    for procs in (1, 2):
        run_dir = osp.join(work_dir, f'dist_{procs}')
        # every rank's loss, not only rank 0's, through a config that adds the hook
        os.makedirs(run_dir, exist_ok=True)
        config = osp.join(run_dir, 'dist_check_config.py')
        with open(config, 'w') as f:
            f.write(f'_base_ = [{TINY_CONFIG!r}]\n'
                    f'custom_hooks = [dict(type=\'PerRankLossHook\', '
                    f'out_dir={osp.join(run_dir, "losses")!r})]\n')
        options = [
            f'train_dataloader.dataset.data_root={data_root}/',
            'train_dataloader.dataset.ann_file=annotations/person_keypoints_train.json',
            'train_dataloader.dataset.data_prefix.img=train/',
            f'train_dataloader.batch_size={total_batch // procs}',
            'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False',
            f'train_cfg.max_iters={iters}',
            f'train_cfg.val_interval={iters + 1}',
            f'default_hooks.checkpoint.interval={iters + 1}',
            'default_hooks.logger.interval=1',
            'val_cfg=None',
            'val_dataloader=None',
            'val_evaluator=None',
        ]
        env = dict(os.environ, PYTHON=sys.executable, PORT=str(29500 + os.getpid() % 1000 + procs))
        if device.type != 'cuda':
            env['CUDA_VISIBLE_DEVICES'] = ''
        proc = subprocess.run([
            'bash',
            osp.join(REPO_ROOT, 'tools/dist_train.sh'), config,
            str(procs), '--work-dir', run_dir, '--cfg-options', *options
        ],
                              cwd=REPO_ROOT,
                              env=env,
                              capture_output=True,
                              text=True,
                              timeout=1800)
        if proc.returncode != 0:
            return Row(
                f'dist_train.sh 1 vs 2 processes ({device.type})', 'FAILED',
                f'{procs} process(es) exited with {proc.returncode}: '
                f'{proc.stderr.strip().splitlines()[-1:]}')
        curves[procs] = batch_losses(osp.join(run_dir, 'losses'), procs)
    one, two = np.asarray(curves[1]), np.asarray(curves[2])
    n = min(len(one), len(two))
    relative = float(np.abs(one[:n] - two[:n]).max() / np.abs(one[:n]).mean())
    agree = n == iters and relative < 0.1
    return Row(
        f'dist_train.sh 1 vs 2 processes ({device.type}, batch {total_batch})',
        'ok' if agree else 'FAILED',
        f'{n} iterations, the same images: largest difference of the batch loss '
        f'{relative * 100:.1f}% of the mean loss (rank mean vs one process)')


# 4. Inference and decoding ---------------------------------------------------------------


def predicted_keypoints(model,
                        data,
                        device: torch.device,
                        threads: Optional[int] = None) -> torch.Tensor:
    """Keypoints (N, K, 2), on the CPU, of one forced-persons prediction of ``model`` on
    ``device`` (optionally with ``threads`` CPU threads)."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        with torch.no_grad():
            inputs = data['inputs'].to(device)
            samples = [s.to(device) for s in data['data_samples']]
            result = model.predict(inputs, samples)[0]
        return result.pred_instances.keypoints.cpu()
    finally:
        torch.set_num_threads(previous)


def compare_keypoints(keypoints: torch.Tensor,
                      reference: torch.Tensor,
                      tolerance_px: float = 0.01) -> Tuple[float, float]:
    """(fraction of keypoints within ``tolerance_px`` of the reference, largest distance)."""
    if keypoints.shape != reference.shape:
        return 0.0, float('inf')
    distance = (keypoints - reference).norm(dim=-1)
    return float((distance <= tolerance_px).float().mean()), float(distance.max())


# A keypoint of an untrained model sits on the maximum of a noisy heatmap: where two pixels
# nearly tie, a rounding difference moves it to the other one. At most 2 % may move.
KEYPOINTS_WITHIN = 0.98
KEYPOINT_TOLERANCE_PX = 0.01


def check_inference(device: torch.device, persons: List[int], repeats: int) -> List[Row]:
    """Latency by person count, and the keypoints against a reference run on the same
    weights and image: the CPU for a GPU (TF32 off for the comparison), the CPU with one
    thread for the CPU (another order of the sums)."""
    import copy

    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from hrpose.registry import MODELS
    from hrpose.utils.benchmarking import (force_persons, random_person_boxes, time_call,
                                           unresized_sample)
    init_default_scope('hrpose')
    cfg = Config.fromfile(W32_CONFIG if device.type == 'cuda' else TINY_CONFIG)
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    reference_model = copy.deepcopy(model)
    model = model.to(device)
    height, width = 800, 1216
    image = torch.randint(
        0, 256, (3, height, width), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    sample = unresized_sample(height, width)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == 'cuda' else (lambda: None)
    generator = torch.Generator().manual_seed(0)
    times = []
    for num in persons:
        force_persons(model.roi_head,
                      random_person_boxes(num, height, width, generator).to(device))
        data = model.data_preprocessor(dict(inputs=[image], data_samples=[sample]), False)
        with torch.no_grad():
            seconds = time_call(lambda: model.predict(data['inputs'], data['data_samples']),
                                repeats, sync)
        times.append(seconds)
    model_name = 'W32' if device.type == 'cuda' else 'tiny'
    slope = float(np.polyfit(persons, times, 1)[0]) if len(persons) > 1 else 0.0
    rows = [
        Row(
            f'inference latency ({model_name}, {width}x{height}, {device.type})', 'ok',
            ', '.join(f'{n} persons {t * 1000:.0f} ms' for n, t in zip(persons, times)) +
            f'; {slope * 1000:.1f} ms per extra person')
    ]

    # The same persons on the same image through the reference.
    boxes = random_person_boxes(max(persons), height, width, torch.Generator().manual_seed(1))
    force_persons(model.roi_head, boxes.to(device))
    force_persons(reference_model.roi_head, boxes)
    data = reference_model.data_preprocessor(dict(inputs=[image], data_samples=[sample]), False)
    tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        keypoints = predicted_keypoints(model, data, device)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    if device.type == 'cuda':
        reference_name = 'the CPU'
        reference = predicted_keypoints(reference_model, data, torch.device('cpu'))
    else:
        reference_name = 'one CPU thread'
        reference = predicted_keypoints(reference_model, data, device, threads=1)
    within, largest = compare_keypoints(keypoints, reference, KEYPOINT_TOLERANCE_PX)
    rows.append(
        Row(
            f'inference keypoints ({model_name}, {device.type} vs {reference_name})',
            'ok' if within >= KEYPOINTS_WITHIN else 'FAILED',
            f'{len(keypoints)} persons x {keypoints.shape[1] if keypoints.dim() == 3 else 0}: '
            f'{within:.1%} within {KEYPOINT_TOLERANCE_PX} px (needs {KEYPOINTS_WITHIN:.0%}), '
            f'largest {largest:.3g} px'))
    return rows


def check_decoding(device: torch.device, repeats: int) -> List[Row]:
    """Throughput of each codec's decoding, and its keypoints against a reference: the
    CPU's decoding for a GPU, mmpose's decoding (tests/reference) for the CPU."""
    from hrpose.codecs import DARKHeatmap, MSRAHeatmap, UDPHeatmap
    from hrpose.utils.benchmarking import random_heatmaps, time_call
    from tests.reference.mmpose_decoding import (dark_decode_numpy, msra_decode_numpy,
                                                 udp_decode_numpy)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == 'cuda' else (lambda: None)
    heatmaps_cpu, rois_cpu = random_heatmaps(100)
    heatmaps, rois = heatmaps_cpu.to(device), rois_cpu.to(device)
    rows = []
    for codec, numpy_decode in ((MSRAHeatmap(), msra_decode_numpy),
                                (DARKHeatmap(), dark_decode_numpy), (UDPHeatmap(),
                                                                     udp_decode_numpy)):
        name = type(codec).__name__[:-7]
        seconds = time_call(lambda: codec.decode(heatmaps, rois), repeats, sync)
        keypoints = codec.decode(heatmaps, rois)[0].cpu()
        if device.type == 'cuda':
            reference_name = 'CPU'
            reference = codec.decode(heatmaps_cpu, rois_cpu)[0]
        else:
            reference_name = "mmpose's"
            reference = torch.from_numpy(
                np.stack([
                    numpy_decode(h, r)
                    for h, r in zip(heatmaps_cpu[:20].numpy(), rois_cpu[:20].numpy())
                ])).float()
            keypoints = keypoints[:20]
        largest = float((keypoints - reference).abs().max())
        rows.append(
            Row(f'decoding {name} (100 RoIs x 17 x 64x48, {device.type} vs '
                f'{reference_name})', 'ok' if largest < 0.01 else 'FAILED',
                f'{100 / seconds:,.0f} RoIs/s, largest difference {largest:.2e} px'))
    return rows


def guarded(part: str, check, *args) -> List[Row]:
    """The rows of one part; an error in it becomes a FAILED row naming the error, so that
    the other parts still run and the table still prints."""
    try:
        result = check(*args)
    except Exception as error:  # a failing part must not hide the others
        message = str(error).strip().splitlines()
        return [Row(part, 'FAILED', f'{type(error).__name__}: {message[0] if message else ""}')]
    return result if isinstance(result, list) else [result]


def print_table(rows: List[Row], left_out: Dict[str, str]) -> None:
    rows = rows + [Row(part, 'left out', why) for part, why in left_out.items()]
    width = max(len(r.part) for r in rows)
    print(f'\n{"part":{width}s}  {"status":8s}  result')
    print('-' * (width + 60))
    for r in rows:
        print(f'{r.part:{width}s}  {r.status:8s}  {r.detail}')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        '--device',
        default='cuda' if torch.cuda.is_available() else 'cpu',
        help='cuda (default where a GPU is visible) or cpu')
    parser.add_argument(
        '--iters',
        type=int,
        default=None,
        help='training iterations (default: 300 on a GPU, 8 on the CPU)')
    parser.add_argument('--no-amp', action='store_true', help='train in float32 on the GPU')
    parser.add_argument(
        '--dist',
        action='store_true',
        help='also run the 1- vs 2-process comparison on the CPU (gloo)')
    parser.add_argument('--persons', type=int, nargs='+', default=[1, 5, 10, 20])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument(
        '--skip',
        nargs='*',
        default=[],
        choices=['ops', 'train', 'dist', 'inference'],
        help='parts to leave out')
    parser.add_argument('--work-dir', help='where the runs write (default: a temporary folder)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    register_all_modules()
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        print('--device cuda: torch sees no GPU here (run with --device cpu)', file=sys.stderr)
        return 2
    if device.type == 'cuda':
        from hrpose.utils.setup_env import check_mmcv_ops
        check_mmcv_ops()
    iters = args.iters or (300 if device.type == 'cuda' else 8)
    amp = device.type == 'cuda' and not args.no_amp
    work_dir = args.work_dir or tempfile.mkdtemp(prefix='hrpose-gpu-check-')
    gpus = torch.cuda.device_count() if device.type == 'cuda' else 0
    print(f'hrpose gpu_check on {device.type}' +
          (f' ({torch.cuda.get_device_name(device)}, {gpus} GPU(s))' if gpus else '') +
          f', torch {torch.__version__} (CUDA {torch.version.cuda}), work dir {work_dir}')
    rows: List[Row] = []
    left_out: Dict[str, str] = {}
    for part in args.skip:
        left_out[part] = '--skip'
    if 'ops' not in args.skip:
        rows += guarded('mmcv ops', check_ops, device)
    if device.type == 'cpu':
        left_out['mmcv CUDA kernels vs CPU'] = 'no GPU (--device cpu)'
    if 'train' not in args.skip:
        rows += guarded('training', check_training, device, iters, amp, work_dir)
    if device.type == 'cpu':
        left_out['W32 training with AMP'] = 'AMP and full-size W32 need a GPU; the tiny ' \
            'model trained in float32 instead'
    if 'dist' not in args.skip:
        if gpus >= 2 or (device.type == 'cpu' and args.dist):
            rows += guarded('dist_train.sh 1 vs 2 processes', check_distributed, device,
                            max(4, min(iters, 20)), work_dir)
        else:
            left_out['dist_train.sh 1 vs 2 processes'] = \
                'needs 2 GPUs' if device.type == 'cuda' else 'CPU: pass --dist to run it (gloo)'
    if 'inference' not in args.skip:
        rows += guarded('inference', check_inference, device, args.persons, args.repeats)
        rows += guarded('decoding', check_decoding, device, args.repeats)
    print_table(rows, left_out)
    failed = [r.part for r in rows if r.status == 'FAILED']
    print(f'\n{len(rows)} part(s) run, {len(failed)} failed, {len(left_out)} left out' +
          (f': FAILED {", ".join(failed)}' if failed else ''))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
