"""COCO keypoint AP and person box AP in one evaluation, with pycocotools' COCOeval."""
import contextlib
import io
import json
import os.path as osp
from collections import Counter, OrderedDict
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.fileio import get_local_path
from mmengine.logging import MMLogger
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from hrpose.registry import METRICS

# Names of COCOeval.stats entries, in order.
_KEYPOINT_STATS = ('AP', 'AP50', 'AP75', 'APm', 'APl', 'AR', 'AR50', 'AR75', 'ARm', 'ARl')
_BBOX_STATS = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l')


def fill_missing_areas(coco_gt: COCO) -> int:
    """Give ground truth without ``area`` (CrowdPose's json has none) its box area.

    OKS divides by the object's area; where the json gives none, the box area stands in,
    as CrowdPose's own evaluation does.

    Returns:
        int: how many annotations were filled.
    """
    filled = 0
    for ann in coco_gt.dataset['annotations']:
        if 'area' not in ann:
            ann['area'] = float(ann['bbox'][2] * ann['bbox'][3])
            filled += 1
    if filled:
        coco_gt.createIndex()
    return filled


@METRICS.register_module()
class CocoKeypointMetric(BaseMetric):
    """Keypoint AP/AP50/AP75/APm/APl/AR and box AP of person detections.

    OKS sigmas come from the dataset metainfo (``sigmas``), so any K works. Predicted
    keypoints are in hrpose's continuous coordinates; they are written in COCO's pixel-index
    convention (minus 0.5), the inverse of what the dataset does on loading.

    Args:
        ann_file: the COCO json of the evaluated split (ground truth).
        iou_types: which evaluations to run, from ``('keypoints', 'bbox')``.
        outfile_prefix: if given, write ``<prefix>.keypoints.json`` and ``<prefix>.bbox.json``
            in COCO results format.
        collect_device: 'cpu' or 'gpu', for gathering results across processes.
        prefix: metric name prefix (default 'coco').
    """

    default_prefix: Optional[str] = 'coco'

    def __init__(self,
                 ann_file: str,
                 iou_types: Sequence[str] = ('keypoints', 'bbox'),
                 outfile_prefix: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        unknown = set(iou_types) - {'keypoints', 'bbox'}
        if unknown:
            raise ValueError(f'iou_types may hold "keypoints" and "bbox", got {sorted(unknown)}')
        self.ann_file = ann_file
        self.iou_types = tuple(iou_types)
        self.outfile_prefix = outfile_prefix

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Keep each image's predictions as numpy arrays."""
        for sample in data_samples:
            pred = sample['pred_instances']
            self.results.append(
                dict(
                    img_id=int(sample['img_id']),
                    bboxes=pred['bboxes'].cpu().numpy(),
                    scores=pred['scores'].cpu().numpy(),
                    keypoints=pred['keypoints'].cpu().numpy(),
                    keypoint_scores=pred['keypoint_scores'].cpu().numpy()))

    def results_to_coco(self, results: List[dict], category_id: int) -> Dict[str, List[dict]]:
        """COCO results-format lists for 'keypoints' and 'bbox'."""
        sigmas = self.dataset_meta.get('sigmas') if self.dataset_meta else None
        keypoint_dets, bbox_dets = [], []
        for res in results:
            for box, score, kpts, kpt_scores in zip(res['bboxes'], res['scores'],
                                                    res['keypoints'], res['keypoint_scores']):
                if sigmas is not None and len(kpts) != len(sigmas):
                    raise ValueError(
                        f'predictions have K={len(kpts)} keypoints but the dataset metainfo '
                        f'has {len(sigmas)} sigmas: model.roi_head.keypoint_head.num_keypoints '
                        'must equal the dataset K')
                x1, y1, x2, y2 = (float(v) for v in box)
                bbox_dets.append(
                    dict(image_id=res['img_id'], category_id=category_id,
                         bbox=[x1, y1, x2 - x1, y2 - y1], score=float(score)))
                coco_kpts = np.concatenate([kpts - 0.5, kpt_scores[:, None]], axis=1)
                keypoint_dets.append(
                    dict(image_id=res['img_id'], category_id=category_id,
                         keypoints=coco_kpts.reshape(-1).round(3).tolist(), score=float(score)))
        return dict(keypoints=keypoint_dets, bbox=bbox_dets)

    @staticmethod
    def check_image_coverage(results: List[dict], coco_gt: COCO) -> None:
        """Each image is evaluated once: a duplicate (e.g. from padding the dataset to split
        it across processes) would count its persons twice, so it is an error; images without
        a result are logged, since they count as missed."""
        counts = Counter(res['img_id'] for res in results)
        repeated = {img_id: n for img_id, n in counts.items() if n > 1}
        if repeated:
            raise RuntimeError(f'{len(repeated)} image(s) have more than one result, e.g. image '
                               f'id {next(iter(repeated))} x{next(iter(repeated.values()))}: '
                               'the gathered results of the processes overlap')
        missing = set(coco_gt.getImgIds()) - set(counts)
        if missing:
            MMLogger.get_current_instance().warning(
                f'{len(missing)} of {len(coco_gt.getImgIds())} annotated images have no result '
                f'(e.g. image id {min(missing)}); their persons count as missed')

    def compute_metrics(self, results: list) -> Dict[str, float]:
        logger = MMLogger.get_current_instance()
        with get_local_path(self.ann_file) as local_path:
            with contextlib.redirect_stdout(io.StringIO()):
                coco_gt = COCO(local_path)
        fill_missing_areas(coco_gt)
        self.check_image_coverage(results, coco_gt)
        category_id = coco_gt.getCatIds(catNms=['person']) or coco_gt.getCatIds()
        dets = self.results_to_coco(results, category_id[0])
        if self.outfile_prefix is not None:
            for iou_type, det_list in dets.items():
                path = f'{self.outfile_prefix}.{iou_type}.json'
                with open(path, 'w') as f:
                    json.dump(det_list, f)
                logger.info(f'wrote {len(det_list)} {iou_type} results to {osp.abspath(path)}')

        metrics = OrderedDict()
        for iou_type in self.iou_types:
            names = _KEYPOINT_STATS if iou_type == 'keypoints' else _BBOX_STATS
            key_prefix = 'kpt_' if iou_type == 'keypoints' else 'bbox_'
            if not dets[iou_type]:
                logger.warning(f'no {iou_type} predictions: {iou_type} AP is 0')
                metrics.update({key_prefix + n: 0.0 for n in names})
                continue
            stats = self.run_cocoeval(coco_gt, dets[iou_type], iou_type)
            logger.info(f'COCO {iou_type} evaluation:\n{stats["summary"]}')
            metrics.update({key_prefix + n: float(v) for n, v in zip(names, stats['stats'])})
        return metrics

    def run_cocoeval(self, coco_gt: COCO, det_list: List[dict], iou_type: str) -> dict:
        """Run COCOeval; return its ``stats`` and the printed summary table."""
        with contextlib.redirect_stdout(io.StringIO()):
            coco_dt = coco_gt.loadRes(det_list)
        coco_eval = COCOeval(coco_gt, coco_dt, iou_type)
        if iou_type == 'keypoints':
            coco_eval.params.kpt_oks_sigmas = np.asarray(self.dataset_meta['sigmas'])
        summary = io.StringIO()
        with contextlib.redirect_stdout(summary):
            coco_eval.evaluate()
            coco_eval.accumulate()
            coco_eval.summarize()
        return dict(stats=coco_eval.stats, summary=summary.getvalue())
