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
        kpts = np.array([a['keypoints'] for a in anns], dtype=np.float32).reshape(
            len(anns), num_keypoints, 3)
        boxes = np.array([a['bbox'] for a in anns], dtype=np.float32).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        noise = rng.normal(0, 3, size=kpts[..., :2].shape).astype(np.float32)
        samples.append(
            dict(
                img_id=img['id'],
                pred_instances=dict(
                    bboxes=torch.from_numpy(boxes + rng.normal(0, 2, boxes.shape).astype(
                        np.float32)),
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
    metric.process({}, samples)
    results = metric.evaluate(len(samples))

    with open(tmp_path / 'res.keypoints.json') as f:
        kpt_dets = json.load(f)
    with open(tmp_path / 'res.bbox.json') as f:
        bbox_dets = json.load(f)
    # The written keypoints are back in COCO's pixel-index convention.
    first = samples[0]['pred_instances']['keypoints'][0, 0].numpy()
    np.testing.assert_allclose(kpt_dets[0]['keypoints'][:2], first - 0.5, atol=1e-3)

    kpt_stats = cocoeval_directly(ann_file, kpt_dets, 'keypoints', meta['sigmas'])
    bbox_stats = cocoeval_directly(ann_file, bbox_dets, 'bbox')
    assert results['coco/kpt_AP'] == pytest.approx(kpt_stats[0])
    assert results['coco/kpt_AP50'] == pytest.approx(kpt_stats[1])
    assert results['coco/kpt_AR'] == pytest.approx(kpt_stats[5])
    assert results['coco/bbox_mAP'] == pytest.approx(bbox_stats[0])
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
        anns = [a for a in coco['annotations']
                if a['image_id'] == img['id'] and a['num_keypoints'] > 0]
        exact = np.array([a['keypoints'] for a in anns], dtype=np.float32).reshape(-1, 17, 3)
        sample['pred_instances']['keypoints'] = torch.from_numpy(exact[..., :2] + 0.5)
    metric.process({}, samples)
    assert metric.evaluate(len(samples))['coco/kpt_AP'] == pytest.approx(1.0)


def test_keypoint_count_mismatch_is_explained(shared_data):
    ann_file = osp.join(shared_data, 'coco/test_coco.json')
    metric = CocoKeypointMetric(ann_file=ann_file)
    metric.dataset_meta = load_keypoint_metainfo(dict(CROWDPOSE_METAINFO))
    metric.process({}, noisy_predictions(ann_file, 17, seed=0))
    with pytest.raises(ValueError, match='K=17 keypoints but the dataset metainfo has 14'):
        metric.evaluate(4)


def test_an_image_evaluated_twice_is_refused(shared_data):
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(osp.join(shared_data, 'coco', 'test_coco.json'))
    results = [dict(img_id=i) for i in coco_gt.getImgIds()]
    CocoKeypointMetric.check_image_coverage(results, coco_gt)  # each once: fine
    with pytest.raises(RuntimeError, match=r'image id 785 x2: the gathered results'):
        CocoKeypointMetric.check_image_coverage(results + [dict(img_id=785)], coco_gt)
