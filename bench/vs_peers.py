"""hrpose against the two pipelines a user would pick instead, timed side by side.

    python bench/vs_peers.py [--device cpu|cuda] [--persons 1 5 10 20] [--repeats 3]
        [--threads N] [--no-training] [--no-w18]

One 1216x800 image, random weights (the cost does not depend on them), N persons:

- hrpose W32 (and W18): the whole model, its box branch's output replaced by exactly N
  person boxes, so N RoIs reach the keypoint branch;
- top-down: mmdet's Faster R-CNN R50-FPN on the image, then, for each of the N persons, the
  crop and affine warp to 256x192 (as mmpose's TopdownAffine), and one batch through an
  HRNet-W32 pose network with 64x48 heatmaps and an arg-max decode. The pose network is
  mmpose's top-down HRNet-W32 (the same stage settings, its highest-resolution branch, a
  1x1 convolution to K maps) built from mmdet's HRNet, so mmpose is not needed;
- torchvision's keypointrcnn_resnet50_fpn, whose box predictions are replaced by exactly N
  boxes, so N RoIs reach its keypoint head.

The runs are interleaved (hrpose, top-down, Keypoint R-CNN, hrpose, ...), so that a machine
that slows down during the run slows all of them alike; each figure is the median of the
repeats. Printed: seconds per image, the ratios hrpose / top-down and hrpose / Keypoint
R-CNN per N, the marginal seconds per extra person (least-squares slope) and the peak memory
of each forward pass (host memory above the idle process on the CPU, allocated GPU memory on
CUDA). Then the training step: seconds per iteration and peak memory of hrpose W32 against
mmdet's Faster R-CNN HRNetV2p-W32 (the same detector without keypoints), same image size and
batch, with 64 keypoint RoIs per image.
"""
import argparse
import os.path as osp
import sys
import threading
import time
from typing import Callable, Dict, List

import cv2
import numpy as np
import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from hrpose.utils import benchmarking, register_all_modules  # noqa: E402
from hrpose.utils.config_files import load_config  # noqa: E402

HRPOSE_CONFIGS = {
    'hrpose W32': 'configs/hrpose/hrpose_hrnet-w32_hrfpn_1x_coco.py',
    'hrpose W18': 'configs/hrpose/hrpose_hrnet-w18_hrfpn_1x_coco.py',
}
BOX_ONLY_CONFIG = 'configs/_base_/models/faster-rcnn_hrnet-w32_hrfpn.py'
NUM_KEYPOINTS = 17
# Persons per training image: every ground-truth box is a positive proposal (mmdet adds
# them to the proposals), so 64 of them give the 64 keypoint RoIs per image of the cap.
TRAIN_PERSONS = 64
# mmpose's td-hm_hrnet-w32_8xb64-210e_coco-256x192: input 256x192 (h x w), heatmaps 64x48.
TOP_DOWN_INPUT = (192, 256)  # (w, h)
MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)
STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--persons', type=int, nargs='+', default=[1, 5, 10, 20])
    parser.add_argument('--repeats', type=int, default=3, help='timed runs per model and N')
    parser.add_argument('--height', type=int, default=800)
    parser.add_argument('--width', type=int, default=1216)
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--no-w18', action='store_true', help='leave hrpose W18 out')
    parser.add_argument(
        '--no-training', action='store_true', help='leave the training '
        'step comparison out')
    parser.add_argument('--train-batch', type=int, default=2)
    parser.add_argument('--train-repeats', type=int, default=3)
    return parser.parse_args()


# ------------------------------------------------------------------------- peak memory


class PeakMemory:
    """Peak memory of a block above its start: allocated GPU memory on CUDA, resident host
    memory (sampled every millisecond) on the CPU. ``peak_mb`` after the block."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak_mb = 0.0

    @staticmethod
    def resident_mb() -> float:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * 4096 / 2**20

    def __enter__(self):
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.start = torch.cuda.memory_allocated(self.device)
            return self
        self.start = self.resident_mb()
        self.highest = self.start
        self.running = True

        def sample():
            while self.running:
                self.highest = max(self.highest, self.resident_mb())
                time.sleep(0.001)

        self.thread = threading.Thread(target=sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
            self.peak_mb = (torch.cuda.max_memory_allocated(self.device) - self.start) / 2**20
            return
        self.running = False
        self.thread.join()
        self.peak_mb = max(self.highest, self.resident_mb()) - self.start


def timed(run: Callable[[], object], device: torch.device) -> Dict[str, float]:
    with PeakMemory(device) as memory:
        start = time.perf_counter()
        run()
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
    return dict(seconds=seconds, memory_mb=memory.peak_mb)


# ------------------------------------------------------------------------- the models


def build_hrpose(config: str, device: torch.device):
    from mmengine.registry import init_default_scope

    from hrpose.registry import MODELS
    init_default_scope('hrpose')
    cfg = load_config(config)
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model).to(device).eval()

    def predictor(image: np.ndarray, boxes: torch.Tensor) -> Callable[[], object]:
        height, width = image.shape[:2]
        tensor = torch.from_numpy(image).permute(2, 0, 1).contiguous()
        sample = benchmarking.unresized_sample(height, width)

        def run():
            benchmarking.force_persons(model.roi_head, boxes.to(device))
            with torch.no_grad():
                data = model.data_preprocessor(dict(inputs=[tensor], data_samples=[sample]), False)
                results = model.predict(data['inputs'], data['data_samples'])
            assert len(results[0].pred_instances.keypoints) == len(boxes)
            return results

        return run

    return predictor


def top_down_pose_network(device: torch.device) -> torch.nn.Module:
    """mmpose's top-down HRNet-W32 256x192: HRNet-W32 (stage 4 giving only its
    highest-resolution branch, 32 channels at stride 4) and a 1x1 convolution to K maps."""
    from mmdet.models.backbones import HRNet

    # HRNet-W32's stages, as the box-only detector's (and hrpose's) config gives them.
    extra = load_config(BOX_ONLY_CONFIG).model.backbone.extra.to_dict()
    extra['stage4']['multiscale_output'] = False

    class TopDownHRNet(torch.nn.Module):

        def __init__(self):
            super().__init__()
            self.backbone = HRNet(extra=extra)
            self.final_layer = torch.nn.Conv2d(32, NUM_KEYPOINTS, kernel_size=1)

        def forward(self, crops):
            return self.final_layer(self.backbone(crops)[0])

    return TopDownHRNet().to(device).eval()


def crop_persons(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """mmpose's top-down preprocessing per person: the box widened to the 192:256 aspect
    ratio and grown by 1.25, an affine warp to 256x192, then normalisation. (N, 3, 256, 192)
    float32."""
    out_w, out_h = TOP_DOWN_INPUT
    crops = np.empty((len(boxes), 3, out_h, out_w), dtype=np.float32)
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        cx, cy, w, h = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
        if w > h * out_w / out_h:
            h = w * out_h / out_w
        else:
            w = h * out_w / out_h
        w, h = w * 1.25, h * 1.25
        source = np.float32([[cx - w / 2, cy - h / 2], [cx + w / 2, cy - h / 2],
                             [cx - w / 2, cy + h / 2]])
        target = np.float32([[0, 0], [out_w, 0], [0, out_h]])
        warped = cv2.warpAffine(
            image, cv2.getAffineTransform(source, target), (out_w, out_h), flags=cv2.INTER_LINEAR)
        crops[i] = ((warped[..., ::-1] - MEAN) / STD).transpose(2, 0, 1)
    return crops


def build_top_down(device: torch.device):
    import mmdet
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    config = osp.join(
        osp.dirname(mmdet.__file__), '.mim', 'configs', 'faster_rcnn',
        'faster-rcnn_r50_fpn_1x_coco.py')
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = None
    detector = MMDET_MODELS.build(cfg.model).to(device).eval()
    pose_network = top_down_pose_network(device)

    def predictor(image: np.ndarray, boxes: torch.Tensor) -> Callable[[], object]:
        height, width = image.shape[:2]
        tensor = torch.from_numpy(image).permute(2, 0, 1).contiguous()
        sample = benchmarking.unresized_sample(height, width)
        person_boxes_np = boxes.numpy()

        def run():
            with torch.no_grad():
                data = detector.data_preprocessor(
                    dict(inputs=[tensor], data_samples=[sample]), False)
                detector.predict(data['inputs'], data['data_samples'])
                # The detector's persons would be these N boxes: crop, warp, pose, decode.
                crops = torch.from_numpy(crop_persons(image, person_boxes_np)).to(device)
                heatmaps = pose_network(crops)
                flat = heatmaps.flatten(2)
                scores, index = flat.max(dim=2)
                keypoints = torch.stack([index % heatmaps.shape[3], index // heatmaps.shape[3]],
                                        dim=-1)
                keypoints.cpu()
            assert heatmaps.shape[:2] == (len(boxes), NUM_KEYPOINTS)
            return keypoints

        return run

    return predictor


def build_keypoint_rcnn(device: torch.device):
    from torchvision.models.detection import keypointrcnn_resnet50_fpn
    model = keypointrcnn_resnet50_fpn(weights=None, weights_backbone=None).to(device).eval()
    roi_heads = model.roi_heads

    def predictor(image: np.ndarray, boxes: torch.Tensor) -> Callable[[], object]:
        tensor = torch.from_numpy(image[..., ::-1].copy()).permute(2, 0, 1).float() / 255
        tensor = tensor.to(device)
        height, width = image.shape[:2]

        def forced(class_logits, box_regression, proposals, image_shapes):
            # The box head ran on the proposals; its output is replaced by exactly N boxes
            # (in the resized image torchvision's transform made).
            scale = torch.tensor(
                [image_shapes[0][1] / width, image_shapes[0][0] / height] * 2, device=device)
            n = len(boxes)
            return ([boxes.to(device) * scale], [torch.ones(n, device=device)],
                    [torch.ones(n, dtype=torch.int64, device=device)])

        def run():
            roi_heads.postprocess_detections = forced
            with torch.no_grad():
                output = model([tensor])
            assert output[0]['keypoints'].shape[0] == len(boxes)
            return output

        return run

    return predictor


# ------------------------------------------------------------------------- training step


def training_step_comparison(device: torch.device, height: int, width: int, batch: int,
                             repeats: int) -> None:
    """Seconds per iteration and peak memory, hrpose W32 against the box-only detector."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmengine.structures import InstanceData

    from hrpose.registry import MODELS
    init_default_scope('hrpose')
    generator = torch.Generator().manual_seed(1)
    samples, images = [], []
    for _ in range(batch):
        boxes = benchmarking.random_person_boxes(TRAIN_PERSONS, height, width, generator)
        x1y1, size = boxes[:, None, :2], (boxes[:, 2:] - boxes[:, :2])[:, None]
        keypoints = x1y1 + torch.rand(TRAIN_PERSONS, NUM_KEYPOINTS, 2, generator=generator) * size
        sample = benchmarking.unresized_sample(height, width)
        sample.gt_instances = InstanceData(
            bboxes=boxes,
            labels=torch.zeros(TRAIN_PERSONS, dtype=torch.long),
            keypoints=keypoints,
            keypoints_visible=torch.ones(TRAIN_PERSONS, NUM_KEYPOINTS))
        sample.ignored_instances = InstanceData(
            bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))
        samples.append(sample)
        images.append(
            torch.randint(0, 256, (3, height, width), dtype=torch.uint8, generator=generator))

    models = {}
    for name, config in (('hrpose W32', HRPOSE_CONFIGS['hrpose W32']),
                         ('Faster R-CNN HRNetV2p-W32 (boxes only)', BOX_ONLY_CONFIG)):
        cfg = load_config(config)
        cfg.model.backbone.init_cfg = None
        if 'keypoint_head' in cfg.model.roi_head:
            cfg.model.train_cfg.rcnn.max_keypoint_rois_per_img = 64
        model = MODELS.build(cfg.model).to(device).train()
        optim = build_optim_wrapper(model, dict(optimizer=dict(type='SGD', lr=1e-4, momentum=0.9)))
        models[name] = (model, optim)

    keypoint_rois = []
    head = models['hrpose W32'][0].roi_head
    select = head.select_keypoint_rois

    def counting(*args, **kwargs):
        found = select(*args, **kwargs)
        keypoint_rois.append(sum(len(selected) for selected in found))
        return found

    head.select_keypoint_rois = counting

    def step(model, optim):
        data = model.data_preprocessor(dict(inputs=images, data_samples=samples), True)
        losses = model(**data, mode='loss')
        loss, _ = model.parse_losses(losses)
        optim.update_params(loss)

    results: Dict[str, List[dict]] = {name: [] for name in models}
    for name, (model, optim) in models.items():
        step(model, optim)  # warm-up
    for _ in range(repeats):
        for name, (model, optim) in models.items():
            results[name].append(timed(lambda: step(model, optim), device))
    print(f'\nTraining step: batch {batch} of {width}x{height}, {TRAIN_PERSONS} persons per '
          'image, '
          f'keypoint RoIs per image: {np.mean(keypoint_rois) / batch:.0f} (cap 64); median of '
          f'{repeats}')
    for name, runs in results.items():
        seconds = float(np.median([r['seconds'] for r in runs]))
        memory = float(np.median([r['memory_mb'] for r in runs]))
        print(f'  {name:40s} {seconds:7.3f} s/iteration  peak memory {memory:7.0f} MB')
    hrpose_s = float(np.median([r['seconds'] for r in results['hrpose W32']]))
    box_s = float(
        np.median([r['seconds'] for r in results['Faster R-CNN HRNetV2p-W32 (boxes only)']]))
    print(f'  hrpose / boxes only: {hrpose_s / box_s:.2f}x (target at most 1.25x)')


# ------------------------------------------------------------------------- main


def main() -> None:
    args = parse_args()
    register_all_modules()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rng = np.random.RandomState(0)
    image = rng.randint(0, 256, (args.height, args.width, 3)).astype(np.uint8)
    generator = torch.Generator().manual_seed(0)
    boxes_by_n = {
        n: benchmarking.random_person_boxes(n, args.height, args.width, generator)
        for n in args.persons
    }

    builders = {'hrpose W32': lambda: build_hrpose(HRPOSE_CONFIGS['hrpose W32'], device)}
    if not args.no_w18:
        builders['hrpose W18'] = lambda: build_hrpose(HRPOSE_CONFIGS['hrpose W18'], device)
    builders['top-down (Faster R-CNN R50 + HRNet-W32)'] = lambda: build_top_down(device)
    builders['Keypoint R-CNN (torchvision R50-FPN)'] = lambda: build_keypoint_rcnn(device)
    predictors = {name: build() for name, build in builders.items()}

    device_name = (
        torch.cuda.get_device_name(device)
        if device.type == 'cuda' else f'CPU, {torch.get_num_threads()} torch threads')
    print(f'Inference on one {args.width}x{args.height} image, {device_name}, random weights, '
          f'runs interleaved, median of {args.repeats}.')
    print('The top-down pose network is mmpose\'s HRNet-W32 256x192 built from mmdet\'s HRNet '
          '(mmpose is not needed).')
    results: Dict[str, Dict[int, List[dict]]] = {name: {} for name in predictors}
    for n in args.persons:
        runs = {name: make(image, boxes_by_n[n]) for name, make in predictors.items()}
        for run in runs.values():
            run()  # warm-up
        for _ in range(args.repeats):
            for name, run in runs.items():
                results[name].setdefault(n, []).append(timed(run, device))

    def median(name, n, key='seconds'):
        return float(np.median([r[key] for r in results[name][n]]))

    names = list(predictors)
    top_down, krcnn = names[-2], names[-1]
    header = f'{"persons":>8s} ' + ' '.join(f'{name[:24]:>25s}' for name in names)
    print('\nSeconds per image')
    print(header)
    for n in args.persons:
        print(f'{n:8d} ' + ' '.join(f'{median(name, n):25.3f}' for name in names))
    print('\nPeak memory of a forward pass, MB ' +
          ('(allocated GPU memory)' if device.type ==
           'cuda' else '(host memory above the idle process)'))
    print(header)
    for n in args.persons:
        print(f'{n:8d} ' + ' '.join(f'{median(name, n, "memory_mb"):25.0f}' for name in names))
    print('\nRatios (hrpose W32 / peer; targets: at most 1.3x top-down at 1 person, 0.8x at '
          '20, marginal cost per person at most 0.2x top-down\'s)')
    print(f'{"persons":>8s} {"/ top-down":>12s} {"/ Keypoint R-CNN":>18s}')
    for n in args.persons:
        hrpose_s = median('hrpose W32', n)
        print(f'{n:8d} {hrpose_s / median(top_down, n):12.2f} '
              f'{hrpose_s / median(krcnn, n):18.2f}')
    if len(args.persons) > 1:
        persons = np.array(args.persons, dtype=float)
        slopes = {
            name: np.polyfit(persons, [median(name, n) for n in args.persons], 1)[0]
            for name in names
        }
        print('\nMarginal seconds per extra person (least-squares slope)')
        for name in names:
            print(f'  {name:42s} {slopes[name]:.4f}')
        print(f'  hrpose W32 / top-down: {slopes["hrpose W32"] / slopes[top_down]:.2f}x, '
              f'/ Keypoint R-CNN: {slopes["hrpose W32"] / slopes[krcnn]:.2f}x')
    if not args.no_training:
        training_step_comparison(device, args.height, args.width, args.train_batch,
                                 args.train_repeats)


if __name__ == '__main__':
    main()
