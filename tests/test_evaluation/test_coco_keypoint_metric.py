"""CocoKeypointMetric agrees with pycocotools run directly on the same results."""
import contextlib
import io
import json
import os.path as osp

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from hrpose.datasets import load_keypoint_metainfo
from hrpose.evaluation import CocoKeypointMetric
from hrpose.evaluation.coco_keypoint_metric import set_object_areas
from tests.helpers import COCO_METAINFO, CROWDPOSE_METAINFO


def noisy_predictions(ann_file, num_keypoints, seed, only_labelled=False):
    """Per-image predictions made from the ground truth plus seeded noise, as the model
    would give them: continuous coordinates (COCO index + 0.5), boxes x1y1x2y2."""
    rng = np.random.default_rng(seed)
    with open(ann_file) as f:
        coco = json.load(f)
    samples = []
    for img in coco['images']:
        anns = [a for a in coco['annotations'] if a['image_id'] == img['id']]
        if only_labelled:
            anns = [a for a in anns if a['num_keypoints'] > 0]
        kpts = np.array([a['keypoints'] for a in anns],
                        dtype=np.float32).reshape(len(anns), num_keypoints, 3)
        boxes = np.array([a['bbox'] for a in anns], dtype=np.float32).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        noise = rng.normal(0, 3, size=kpts[..., :2].shape).astype(np.float32)
        samples.append(
            dict(
                img_id=img['id'],
                pred_instances=dict(
                    bboxes=torch.from_numpy(boxes +
                                            rng.normal(0, 2, boxes.shape).astype(np.float32)),
                    scores=torch.from_numpy(rng.uniform(0.5, 1, len(anns)).astype(np.float32)),
                    keypoints=torch.from_numpy(kpts[..., :2] + 0.5 + noise),
                    keypoint_scores=torch.from_numpy(
                        rng.uniform(0, 1, kpts.shape[:2]).astype(np.float32)))))
    return samples


def cocoeval_directly(ann_file, dets, iou_type, sigmas=None):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(ann_file)
        set_object_areas(gt)  # the same ground truth the metric sees (CrowdPose has no area)
        ev = COCOeval(gt, gt.loadRes(dets), iou_type)
        if sigmas is not None:
            ev.params.kpt_oks_sigmas = np.array(sigmas)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


def coco_results_by_hand(samples, category_id=1):
    """COCO results lists built here from the samples, not by the metric: keypoints from
    hrpose's continuous coordinates to COCO's pixel indices (minus 0.5) with their scores
    as visibilities; boxes from ``pred_boxes`` (x1 y1 x2 y2 -> x y w h)."""
    keypoint_dets, bbox_dets = [], []
    for sample in samples:
        poses = sample['pred_instances']
        for kpts, kpt_scores, score in zip(poses['keypoints'].numpy(),
                                           poses['keypoint_scores'].numpy(),
                                           poses['scores'].numpy()):
            triples = [[float(x) - 0.5, float(y) - 0.5, float(v)]
                       for (x, y), v in zip(kpts, kpt_scores)]
            keypoint_dets.append(
                dict(
                    image_id=sample['img_id'],
                    category_id=category_id,
                    keypoints=sum(triples, []),
                    score=float(score)))
        boxes = sample['pred_boxes']
        for (x1, y1, x2, y2), score in zip(boxes['bboxes'].tolist(), boxes['scores'].tolist()):
            bbox_dets.append(
                dict(
                    image_id=sample['img_id'],
                    category_id=category_id,
                    bbox=[x1, y1, x2 - x1, y2 - y1],
                    score=score))
    return keypoint_dets, bbox_dets


@pytest.mark.parametrize('dataset, metainfo, num_keypoints', [
    ('coco/test_coco.json', COCO_METAINFO, 17),
    ('crowdpose/test_crowdpose.json', CROWDPOSE_METAINFO, 14),
])
def test_metric_matches_pycocotools(shared_data, tmp_path, dataset, metainfo, num_keypoints):
    ann_file = osp.join(shared_data, dataset)
    meta = load_keypoint_metainfo(dict(metainfo))
    metric = CocoKeypointMetric(ann_file=ann_file, outfile_prefix=str(tmp_path / 'res'))
    metric.dataset_meta = meta
    samples = noisy_predictions(ann_file, num_keypoints, seed=0)
    rng = np.random.default_rng(1)
    for sample in samples:
        # box results of their own: other boxes and scores than the poses', and more
        poses = sample['pred_instances']
        extra = torch.tensor([[5., 5., 60., 90.]])
        sample['pred_boxes'] = dict(
            bboxes=torch.cat([poses['bboxes'] + 1.5, extra]),
            scores=torch.from_numpy(rng.uniform(0.3, 1,
                                                len(poses['bboxes']) + 1)).float())
    metric.process({}, samples)
    results = metric.evaluate(len(samples))

    kpt_dets, bbox_dets = coco_results_by_hand(samples)
    kpt_stats = cocoeval_directly(ann_file, kpt_dets, 'keypoints', meta['sigmas'])
    bbox_stats = cocoeval_directly(ann_file, bbox_dets, 'bbox')
    assert results['coco/kpt_AP'] == pytest.approx(kpt_stats[0], abs=1e-4)
    assert results['coco/kpt_AP50'] == pytest.approx(kpt_stats[1], abs=1e-4)
    assert results['coco/kpt_AR'] == pytest.approx(kpt_stats[5], abs=1e-4)
    assert results['coco/bbox_mAP'] == pytest.approx(bbox_stats[0], abs=1e-4)
    assert results['coco/bbox_mAP_50'] == pytest.approx(bbox_stats[1], abs=1e-4)
    # The box results are the pred_boxes, all of them.
    with open(tmp_path / 'res.bbox.json') as f:
        assert len(json.load(f)) == len(bbox_dets)
    # Noisy but close predictions: a real, non-trivial AP.
    assert 0.2 < results['coco/kpt_AP'] < 1.0


def test_perfect_predictions_score_one(shared_data):
    ann_file = osp.join(shared_data, 'coco/test_coco.json')
    metric = CocoKeypointMetric(ann_file=ann_file, iou_types=('keypoints', ))
    metric.dataset_meta = load_keypoint_metainfo(dict(COCO_METAINFO))
    # Persons without labelled keypoints are ignored by the keypoint evaluation: predict
    # only the others.
    samples = noisy_predictions(ann_file, 17, seed=0, only_labelled=True)
    with open(ann_file) as f:
        coco = json.load(f)
    for sample, img in zip(samples, coco['images']):
        anns = [
            a for a in coco['annotations'] if a['image_id'] == img['id'] and a['num_keypoints'] > 0
        ]
        exact = np.array([a['keypoints'] for a in anns], dtype=np.float32).reshape(-1, 17, 3)
        sample['pred_instances']['keypoints'] = torch.from_numpy(exact[..., :2] + 0.5)
    metric.process({}, samples)
    assert metric.evaluate(len(samples))['coco/kpt_AP'] == pytest.approx(1.0)


def test_keypoint_count_mismatch_is_explained_before_any_prediction(shared_data):
    ann_file = osp.join(shared_data, 'coco/test_coco.json')
    metric = CocoKeypointMetric(ann_file=ann_file)
    # The evaluator sets the metainfo when the loop is built, before the first image.
    with pytest.raises(
            ValueError,
            match=r'annotation id 442619 .*`keypoints` has 51 values, '
            r'expected 3 x K = 42 \(K=14'):
        metric.dataset_meta = load_keypoint_metainfo(dict(CROWDPOSE_METAINFO))


def test_predictions_of_another_k_than_the_metainfo_are_explained(shared_data):
    ann_file = osp.join(shared_data, 'coco/test_coco.json')
    metric = CocoKeypointMetric(ann_file=ann_file)
    metric.dataset_meta = load_keypoint_metainfo(dict(COCO_METAINFO))
    samples = noisy_predictions(ann_file, 17, seed=0)
    for sample in samples:  # a 14-keypoint model's poses
        pred = sample['pred_instances']
        pred['keypoints'], pred['keypoint_scores'] = (pred['keypoints'][:, :14],
                                                      pred['keypoint_scores'][:, :14])
    metric.process({}, samples)
    with pytest.raises(ValueError, match='K=14 keypoints but the dataset metainfo has 17'):
        metric.evaluate(4)


def test_an_image_evaluated_twice_is_refused(shared_data):
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(osp.join(shared_data, 'coco', 'test_coco.json'))
    results = [dict(img_id=i) for i in coco_gt.getImgIds()]
    CocoKeypointMetric.check_image_coverage(results, coco_gt)  # each once: fine
    with pytest.raises(RuntimeError, match=r'image id 785 x2: the gathered results'):
        CocoKeypointMetric.check_image_coverage(results + [dict(img_id=785)], coco_gt)
