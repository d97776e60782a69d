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

from hrpose.datasets.annotation_checks import (BOX_AREA_RATIO, load_checked_coco,
                                               read_annotation_json)
from hrpose.registry import METRICS
from hrpose.structures import continuous_to_coco

# Names of COCOeval.stats entries, in order.
_KEYPOINT_STATS = ('AP', 'AP50', 'AP75', 'APm', 'APl', 'AR', 'AR50', 'AR75', 'ARm', 'ARl')
# CrowdPose reports these (crowdposetools' summary): no area ranges, AP by crowd index.
_CROWD_STATS = ('AP', 'AP50', 'AP75', 'AR', 'AR50', 'AR75', 'AP_easy', 'AP_medium', 'AP_hard')
_BBOX_STATS = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l')

# CrowdPose's difficulty levels by the image's crowd index: easy below 0.2, hard from 0.8.
CROWD_INDEX_SPLITS = (0.2, 0.8)


def set_object_areas(coco_gt: COCO, use_area: bool = True) -> int:
    """Give each ground-truth person the area the OKS divides by.

    With ``use_area`` the json's ``area`` is kept where it is positive; without it (or where
    it is missing or not positive) the area is ``0.53 x`` the box area, as CrowdPose's
    evaluation computes it. pycocotools reads ``area`` both in the OKS and for the area
    ranges, as the official code does with its 0.53 areas.

    Returns:
        int: how many annotations got the 0.53 x box area.
    """
    replaced = 0
    for ann in coco_gt.dataset['annotations']:
        area = ann.get('area')
        if not use_area or not isinstance(area, (int, float)) or not area > 0:
            ann['area'] = float(ann['bbox'][2] * ann['bbox'][3]) * BOX_AREA_RATIO
            replaced += 1
    if replaced:
        coco_gt.createIndex()
    return replaced


def crowd_index_splits(coco_gt: COCO, ann_file: str) -> Dict[str, List[int]]:
    """Image ids of CrowdPose's easy / medium / hard images by their ``crowdIndex``."""
    splits: Dict[str, List[int]] = dict(easy=[], medium=[], hard=[])
    for image in coco_gt.dataset['images']:
        if 'crowdIndex' not in image:
            raise KeyError(f'{ann_file}: image id {image["id"]} has no "crowdIndex"; '
                           "iou_types 'keypoints_crowd' needs CrowdPose's crowd index of "
                           "every image (use 'keypoints' for other datasets)")
        index = image['crowdIndex']
        name = 'easy' if index < CROWD_INDEX_SPLITS[0] else (
            'medium' if index < CROWD_INDEX_SPLITS[1] else 'hard')
        splits[name].append(image['id'])
    return splits


@METRICS.register_module()
class CocoKeypointMetric(BaseMetric):
    """Keypoint AP/AP50/AP75/APm/APl/AR and box AP of person detections.

    OKS sigmas come from the dataset metainfo (``sigmas``), so any K works. Predicted
    keypoints are in hrpose's continuous coordinates; they are written in COCO's pixel-index
    convention (minus 0.5), the inverse of what the dataset does on loading.

    CrowdPose: ``iou_types=('keypoints_crowd', 'bbox'), use_area=False`` evaluates as its
    official code does: OKS areas of 0.53 x the box area, and AP/AP50/AP75/AR/AR50/AR75
    plus AP on its easy, medium and hard images (crowd index below 0.2, below 0.8, above).

    Args:
        ann_file: the COCO json of the evaluated split (ground truth).
        iou_types: which evaluations to run, from ``('keypoints', 'keypoints_crowd',
            'bbox')``.
        use_area: take the OKS area from the json's ``area``; False (CrowdPose): 0.53 x the
            box area, which is also used where an annotation has no ``area``.
        outfile_prefix: if given, write ``<prefix>.keypoints.json`` and ``<prefix>.bbox.json``
            in COCO results format.
        keypoint_errors: also report the median localisation error of each keypoint over
            the matched persons, divided by the person's scale ``sqrt(area)``
            (:func:`hrpose.evaluation.keypoint_errors.per_keypoint_errors`): the worst one
            as ``kpt_worst_median_error`` and its name as ``kpt_worst_keypoint``, all of
            them in the log. It tells a keypoint that was never learned (an error near 1)
            from a pose that is slightly off everywhere.
        collect_device: 'cpu' or 'gpu', for gathering results across processes.
        prefix: metric name prefix (default 'coco').
    """

    default_prefix: Optional[str] = 'coco'

    def __init__(self,
                 ann_file: str,
                 iou_types: Sequence[str] = ('keypoints', 'bbox'),
                 use_area: bool = True,
                 outfile_prefix: Optional[str] = None,
                 keypoint_errors: bool = False,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        unknown = set(iou_types) - {'keypoints', 'keypoints_crowd', 'bbox'}
        if unknown:
            raise ValueError('iou_types may hold "keypoints", "keypoints_crowd" and "bbox", '
                             f'got {sorted(unknown)}')
        if {'keypoints', 'keypoints_crowd'} <= set(iou_types):
            raise ValueError('iou_types: "keypoints" and "keypoints_crowd" both name the '
                             'keypoint evaluation; give one')
        self.ann_file = ann_file
        self.iou_types = tuple(iou_types)
        self.use_area = use_area
        self.outfile_prefix = outfile_prefix
        self.keypoint_errors = keypoint_errors

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Keep each image's box results (``pred_boxes``: the box branch's detections as
        NMS left them, or the given person boxes) and pose results (``pred_instances``:
        rescored, OKS-NMS'd, capped) as numpy arrays."""
        for sample in data_samples:
            pred = sample['pred_instances']
            # A sample without box results (e.g. written by an older model class): its
            # poses' boxes stand for them.
            boxes = sample.get('pred_boxes', pred)
            result = dict(
                img_id=int(sample['img_id']),
                bboxes=boxes['bboxes'].cpu().numpy(),
                box_scores=boxes['scores'].cpu().numpy(),
                scores=pred['scores'].cpu().numpy(),
                keypoints=pred['keypoints'].cpu().numpy(),
                keypoint_scores=pred['keypoint_scores'].cpu().numpy())
            given = sample.get('given_persons')
            if given is not None:
                # Box AP is that of the boxes the keypoint branch was given, as they were
                # given.
                result.update(
                    given_boxes=given['bboxes'].cpu().numpy(),
                    given_box_scores=given['scores'].cpu().numpy(),
                    given_boxes_source=sample.get('given_boxes_source', 'given person boxes'))
            self.results.append(result)

    def results_to_coco(self, results: List[dict], category_id: int) -> Dict[str, List[dict]]:
        """COCO results-format lists for 'keypoints' (the pose results) and 'bbox' (the box
        results, or the given person boxes where the keypoint branch was given boxes)."""
        sigmas = self.dataset_meta.get('sigmas') if self.dataset_meta else None
        keypoint_dets, bbox_dets = [], []
        for res in results:
            boxes, box_scores = res.get('given_boxes'), res.get('given_box_scores')
            if boxes is None:
                boxes, box_scores = res['bboxes'], res['box_scores']
            for box, score in zip(boxes, box_scores):
                x1, y1, x2, y2 = (float(v) for v in box)
                bbox_dets.append(
                    dict(
                        image_id=res['img_id'],
                        category_id=category_id,
                        bbox=[x1, y1, x2 - x1, y2 - y1],
                        score=float(score)))
            for score, kpts, kpt_scores in zip(res['scores'], res['keypoints'],
                                               res['keypoint_scores']):
                if sigmas is not None and len(kpts) != len(sigmas):
                    raise ValueError(
                        f'predictions have K={len(kpts)} keypoints but the dataset metainfo '
                        f'has {len(sigmas)} sigmas: model.roi_head.keypoint_head.num_keypoints '
                        'must equal the dataset K')
                coco_kpts = np.concatenate([continuous_to_coco(kpts), kpt_scores[:, None]], axis=1)
                keypoint_dets.append(
                    dict(
                        image_id=res['img_id'],
                        category_id=category_id,
                        keypoints=coco_kpts.reshape(-1).round(3).tolist(),
                        score=float(score)))
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

    @BaseMetric.dataset_meta.setter
    def dataset_meta(self, dataset_meta: dict) -> None:
        """Set by the evaluator when the loop is built, before the first image: the ground
        truth is loaded and checked then, so that a bad file stops the run before the
        inference instead of after it."""
        BaseMetric.dataset_meta.fset(self, dataset_meta)
        self._coco_gt = self.load_ground_truth() if dataset_meta else None

    def load_ground_truth(self) -> COCO:
        """``ann_file`` as pycocotools will score it, checked and corrected by
        :func:`~hrpose.datasets.annotation_checks.checked_ground_truth` (ids, boxes,
        keypoints, ``num_keypoints`` from the flags, missing or non-positive areas as 0.53 x
        the box area, a set with someone to score)."""
        meta = self.dataset_meta or {}
        with get_local_path(self.ann_file) as local_path:
            num_keypoints = len(meta['sigmas']) if 'sigmas' in meta else None
            if num_keypoints is None:  # no metainfo: the K of the file's first keypoints
                first = next((a for a in read_annotation_json(self.ann_file, local_path).get(
                    'annotations', []) if a.get('keypoints')), {})
                num_keypoints = len(first.get('keypoints', [])) // 3
            return load_checked_coco(self.ann_file, meta.get('classes', ('person', )),
                                     num_keypoints, self.use_area, local_path)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        logger = MMLogger.get_current_instance()
        coco_gt = getattr(self, '_coco_gt', None) or self.load_ground_truth()
        self.check_image_coverage(results, coco_gt)
        category_id = coco_gt.getCatIds(catNms=['person']) or coco_gt.getCatIds()
        dets = self.results_to_coco(results, category_id[0])
        if self.outfile_prefix is not None:
            for iou_type, det_list in dets.items():
                path = f'{self.outfile_prefix}.{iou_type}.json'
                with open(path, 'w') as f:
                    json.dump(det_list, f)
                logger.info(f'wrote {len(det_list)} {iou_type} results to {osp.abspath(path)}')

        sources = sorted(
            {res['given_boxes_source']
             for res in results if 'given_boxes_source' in res})
        if len(sources) > 1 or (sources and any('given_boxes_source' not in res
                                                for res in results)):
            raise RuntimeError(f'the results mix person boxes of different sources: {sources} '
                               "and the detector's own")
        protocol = (f'on {sources[0]}, not end to end'
                    if sources else "end to end, on the detector's own person boxes")
        if sources:
            empty = sum(len(res['given_boxes']) == 0 for res in results)
            logger.info(f'keypoint branch evaluated on {sources[0]}: '
                        f'{sum(len(res["given_boxes"]) for res in results)} boxes, {empty} of '
                        f'{len(results)} images without any; box AP below is that of these '
                        'boxes')
        logger.info(f'evaluated: {sum(len(res["box_scores"]) for res in results)} box results '
                    f'and {sum(len(res["scores"]) for res in results)} pose results over '
                    f'{len(results)} images')

        metrics = OrderedDict()
        for iou_type in self.iou_types:
            names = dict(
                keypoints=_KEYPOINT_STATS, keypoints_crowd=_CROWD_STATS,
                bbox=_BBOX_STATS)[iou_type]
            key_prefix = 'bbox_' if iou_type == 'bbox' else 'kpt_'
            det_list = dets['bbox' if iou_type == 'bbox' else 'keypoints']
            if not det_list:
                logger.warning(f'no {iou_type} predictions: {iou_type} AP is 0')
                metrics.update({key_prefix + n: 0.0 for n in names})
                continue
            stats = self.run_cocoeval(coco_gt, det_list, iou_type)
            logger.info(f'COCO {iou_type} evaluation ({protocol}):\n{stats["summary"]}')
            metrics.update({key_prefix + n: float(v) for n, v in zip(names, stats['stats'])})
        if self.keypoint_errors and dets['keypoints']:
            metrics.update(self.keypoint_error_summary(coco_gt, dets['keypoints']))
        if sources:
            # Printed with the numbers, so that they are not mistaken for end-to-end ones.
            metrics['person_boxes'] = sources[0]
        return metrics

    def keypoint_error_summary(self, coco_gt: COCO, keypoint_dets: List[dict]) -> dict:
        """The worst keypoint's median error over the person scale, and its name; every
        keypoint's median in the log."""
        from .keypoint_errors import per_keypoint_errors
        errors = per_keypoint_errors(coco_gt, keypoint_dets, self.dataset_meta['sigmas'])
        names = self.dataset_meta.get('keypoint_names') or [
            str(k) for k in range(len(errors['normalised']))
        ]
        medians = [float(np.median(e)) if len(e) else float('nan') for e in errors['normalised']]
        MMLogger.get_current_instance().info(
            f'median keypoint error / person scale ({errors["matched_persons"]} of '
            f'{errors["persons"]} persons matched): ' + ', '.join(f'{n} {m:.3f}'
                                                                  for n, m in zip(names, medians)))
        finite = [m if np.isfinite(m) else np.inf for m in medians]
        worst = int(np.argmax(finite))
        return dict(kpt_worst_median_error=finite[worst], kpt_worst_keypoint=names[worst])

    def run_cocoeval(self, coco_gt: COCO, det_list: List[dict], iou_type: str) -> dict:
        """Run COCOeval; return its ``stats`` and the printed summary table.

        ``keypoints_crowd``: CrowdPose's stats, COCOeval's AP/AP50/AP75/AR/AR50/AR75 and the
        mean precision over the easy, medium and hard images (-1 for a level without
        images), as crowdposetools' ``get_type_result`` computes them.
        """
        with contextlib.redirect_stdout(io.StringIO()):
            coco_dt = coco_gt.loadRes(det_list)
        coco_eval = COCOeval(coco_gt, coco_dt, 'bbox' if iou_type == 'bbox' else 'keypoints')
        if iou_type != 'bbox':
            coco_eval.params.kpt_oks_sigmas = np.asarray(self.dataset_meta['sigmas'])
        summary = io.StringIO()
        with contextlib.redirect_stdout(summary):
            coco_eval.evaluate()
            coco_eval.accumulate()
            coco_eval.summarize()
        if iou_type != 'keypoints_crowd':
            return dict(stats=coco_eval.stats, summary=summary.getvalue())
        # COCOeval's stats: AP, AP50, AP75, APm, APl, AR, AR50, AR75, ARm, ARl.
        stats = [coco_eval.stats[i] for i in (0, 1, 2, 5, 6, 7)]
        lines = [
            line for line in summary.getvalue().splitlines()
            if line.strip().startswith('Average') and 'medium' not in line and 'large' not in line
        ]
        for level, image_ids in crowd_index_splits(coco_gt, self.ann_file).items():
            value = -1.0
            if image_ids:
                coco_eval.params.imgIds = sorted(image_ids)
                with contextlib.redirect_stdout(io.StringIO()):
                    coco_eval.evaluate()
                    coco_eval.accumulate()
                # The official mean keeps the -1 of unreached settings, like crowdposetools.
                value = float(np.mean(coco_eval.eval['precision'][:, :, :, 0, :]))
            stats.append(value)
            lines.append(f' Average Precision  (AP) @[ IoU=0.50:0.95 | type={level:>6s} | '
                         f'maxDets= 20 ] = {value:0.3f}  ({len(image_ids)} images)')
        return dict(stats=np.asarray(stats), summary='\n'.join(lines) + '\n')
