"""Inputs and timing for benchmarks and the GPU acceptance check (``bench/``,
``tools/analysis_tools/gpu_check.py``): synthetic person boxes, a box branch forced to
give them, peaky random heatmaps, and a timer."""
import time

import torch
from mmengine.structures import InstanceData
from torch import Tensor


def random_person_boxes(num: int, height: int, width: int, generator: torch.Generator) -> Tensor:
    """``num`` person-shaped boxes (x1, y1, x2, y2) spread over the image."""
    h = torch.empty(num).uniform_(0.2, 0.6, generator=generator) * height
    w = h * torch.empty(num).uniform_(0.3, 0.6, generator=generator)
    x1 = torch.rand(num, generator=generator) * (width - w)
    y1 = torch.rand(num, generator=generator) * (height - h)
    return torch.stack([x1, y1, x1 + w, y1 + h], dim=1)


def force_persons(roi_head, boxes: torch.Tensor) -> None:
    """Run the box branch as usual, then hand the keypoint branch exactly ``boxes``."""
    predict_bbox = roi_head.predict_bbox

    def forced(*args, **kwargs):
        results = predict_bbox(*args, **kwargs)
        forced_results = []
        for _ in results:
            res = InstanceData()
            res.bboxes = boxes.clone()
            res.scores = torch.ones(len(boxes))
            res.labels = torch.zeros(len(boxes), dtype=torch.long)
            forced_results.append(res)
        return forced_results

    roi_head.predict_bbox = forced


def random_heatmaps(num_rois: int, seed: int = 0):
    """Peaky random heatmaps (R, 17, 64, 48) and RoIs (R, 4), like a trained head's."""
    gen = torch.Generator().manual_seed(seed)
    xy1 = torch.rand(num_rois, 2, generator=gen) * 500
    rois = torch.cat(
        [xy1, xy1 + torch.tensor([96., 128.]) * (1 + torch.rand(num_rois, 1, generator=gen))],
        dim=1)
    centres = torch.rand(num_rois, 17, 2, generator=gen) * torch.tensor([40., 56.]) + 4
    xs, ys = torch.arange(48.), torch.arange(64.)
    heatmaps = torch.exp(-((xs - centres[..., 0:1])**2)[..., None, :] / 8 -
                         ((ys - centres[..., 1:2])**2)[..., :, None] / 8)
    heatmaps = heatmaps + 0.02 * torch.rand(heatmaps.shape, generator=gen)
    return heatmaps, rois


def time_call(fn, repeats: int, sync=lambda: None) -> float:
    """Seconds per call: the fastest of ``repeats`` timed calls after one warm-up call (the
    minimum, as timeit advises, is the least disturbed by other work on the machine)."""
    fn()
    sync()
    best = float('inf')
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def unresized_sample(height: int, width: int):
    """A data sample for an image given to the model at its own size (no resize, no
    padding)."""
    from mmdet.structures import DetDataSample
    return DetDataSample(
        metainfo=dict(
            img_shape=(height, width),
            ori_shape=(height, width),
            scale_factor=(1.0, 1.0),
            pad_shape=(height, width),
            batch_input_shape=(height, width)))
