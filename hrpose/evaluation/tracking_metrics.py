"""CLEAR-MOT (MOTA, ID switches) and IDF1 of tracked persons, computed by ``motmetrics``."""
from typing import Dict, List

import numpy as np


def mot_summary(ground_truth: List[Dict[str, np.ndarray]],
                tracked: List[Dict[str, np.ndarray]],
                min_iou: float = 0.5) -> Dict[str, float]:
    """``mota``, ``idf1`` and ``num_switches`` of ``tracked`` against ``ground_truth``.

    Args:
        ground_truth: per frame, ``ids`` (M,) and ``bboxes`` (M, 4) x1 y1 x2 y2.
        tracked: per frame, ``track_ids`` (N,) and ``bboxes`` (N, 4).
        min_iou: the IoU (torchvision's) a hypothesis needs to match a person.
    """
    try:
        import motmetrics
    except ImportError as error:
        raise ImportError('tracking metrics need motmetrics: pip install motmetrics==1.4.0 '
                          '(requirements/tests.txt)') from error
    import torch
    import torchvision
    accumulator = motmetrics.MOTAccumulator(auto_id=True)
    for truth, frame in zip(ground_truth, tracked):
        iou = torchvision.ops.box_iou(
            torch.as_tensor(np.asarray(truth['bboxes'], dtype=np.float64)).reshape(-1, 4),
            torch.as_tensor(np.asarray(frame['bboxes'], dtype=np.float64)).reshape(-1, 4))
        iou = iou.numpy()
        accumulator.update(truth['ids'], frame['track_ids'],
                           np.where(iou >= min_iou, 1 - iou, np.nan))
    summary = motmetrics.metrics.create().compute(
        accumulator, metrics=['mota', 'idf1', 'num_switches'], name='run')
    return {k: float(summary[k].iloc[0]) for k in ('mota', 'idf1', 'num_switches')}
