"""CrowdPose evaluation as CrowdPose evaluates: 0.53 x box areas in the OKS, AP by crowd index.

The expected numbers are computed by hand here from the official protocol (crowdposetools'
``computeOks`` with ``0.53 * w * h``, its AP over 10 OKS thresholds and 101 recall points,
and its easy / medium / hard split by crowd index at 0.2 and 0.8), on the CrowdPose sample.
"""
import json
import os.path as osp

import numpy as np
import pytest
import torch

from hrpose.datasets import load_keypoint_metainfo
from hrpose.evaluation import CocoKeypointMetric
from tests.helpers import CROWDPOSE_METAINFO

# crowdposetools' sigmas, in its keypoint order.
OFFICIAL_SIGMAS = np.array(
    [.79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89, .79, .79]) / 10.0
# Shift of every keypoint, as a fraction of sqrt(0.53 w h), person by person: OKS from about
# 0.95 down to below 0.5, so that the thresholds 0.5:0.95 cut between them.
SHIFTS = (0.04, 0.09, 0.13, 0.18)


def official_oks(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, box) -> float:
    """crowdposetools' OKS of one prediction (K, 2) with one person (K, 2), pixel indices."""
    area = box[2] * box[3] * 0.53
    e = ((pred - gt)**2).sum(-1) / (OFFICIAL_SIGMAS * 2)**2 / (area + np.spacing(1)) / 2
    return float(np.exp(-e[visible]).mean())


def hand_ap(oks_values, num_persons: int):
    """COCO-style AP and AR when each detection can only match its own person and the
    scores rank the detections by OKS: at threshold t the first m_t detections are true
    positives (precision 1 up to recall m_t / n) and the rest false positives."""
    recall_points = np.linspace(0, 1, 101)
    aps, ars = [], []
    for t in np.linspace(0.5, 0.95, 10):
        m = sum(o >= t for o in oks_values)
        aps.append(0.0 if m == 0 else float(np.sum(recall_points <= m / num_persons)) / 101)
        ars.append(m / num_persons)
    return float(np.mean(aps)), float(np.mean(ars))


@pytest.fixture
def crowdpose_case(shared_data, tmp_path):
    """The CrowdPose sample with one easy and one hard image, and perturbed ground truth."""
    with open(osp.join(shared_data, 'crowdpose', 'test_crowdpose.json')) as f:
        data = json.load(f)
    for image, crowd_index in zip(data['images'], (0.1, 0.9)):
        image['crowdIndex'] = crowd_index
    ann_file = tmp_path / 'crowdpose.json'
    ann_file.write_text(json.dumps(data))

    rng = np.random.default_rng(0)
    persons = [a for a in data['annotations'] if a['num_keypoints'] > 0]
    assert len(persons) == len(SHIFTS) == 4
    oks, samples, preds = {}, {}, {}
    for person, shift in zip(persons, SHIFTS):
        keypoints = np.asarray(person['keypoints'], dtype=np.float64).reshape(14, 3)
        box = person['bbox']
        angles = rng.uniform(0, 2 * np.pi, 14)
        step = shift * np.sqrt(0.53 * box[2] * box[3])
        pred = keypoints[:, :2] + step * np.stack([np.cos(angles), np.sin(angles)], axis=1)
        preds[person['id']] = pred
        oks[person['id']] = official_oks(pred, keypoints[:, :2], keypoints[:, 2] > 0, box)
        x, y, w, h = box
        sample = samples.setdefault(person['image_id'], dict(boxes=[], scores=[], kpts=[]))
        sample['boxes'].append([x, y, x + w, y + h])
        sample['kpts'].append(pred + 0.5)  # hrpose's continuous coordinates
        sample['scores'].append(oks[person['id']])  # ranks detections by OKS
    # The hand formula needs every detection to match only its own person.
    for person in persons:
        keypoints = np.asarray(person['keypoints'], dtype=np.float64).reshape(14, 3)
        for other in persons:
            if other['id'] != person['id'] and other['image_id'] == person['image_id']:
                assert official_oks(preds[other['id']], keypoints[:, :2], keypoints[:, 2] > 0,
                                    person['bbox']) < 0.3
    data_samples = [
        dict(
            img_id=img_id,
            pred_instances=dict(
                bboxes=torch.tensor(s['boxes'], dtype=torch.float32),
                scores=torch.tensor(s['scores'], dtype=torch.float32),
                keypoints=torch.tensor(np.stack(s['kpts']), dtype=torch.float32),
                keypoint_scores=torch.ones(len(s['boxes']), 14))) for img_id, s in samples.items()
    ]
    return str(ann_file), data, persons, oks, data_samples


def evaluate(ann_file, data_samples, **kwargs):
    metric = CocoKeypointMetric(ann_file=ann_file, **kwargs)
    metric.dataset_meta = load_keypoint_metainfo(dict(CROWDPOSE_METAINFO))
    metric.process({}, data_samples)
    return metric.evaluate(len(data_samples))


def test_crowdpose_ap_equals_a_hand_computation_with_0_53_box_areas(crowdpose_case):
    ann_file, data, persons, oks, data_samples = crowdpose_case
    np.testing.assert_allclose(
        load_keypoint_metainfo(dict(CROWDPOSE_METAINFO))['sigmas'], OFFICIAL_SIGMAS)
    assert max(oks.values()) > 0.9 and min(oks.values()) < 0.6  # the thresholds cut between
    results = evaluate(
        ann_file, data_samples, iou_types=('keypoints_crowd', 'bbox'), use_area=False)
    ap, ar = hand_ap(list(oks.values()), len(persons))
    assert results['coco/kpt_AP'] == pytest.approx(ap, abs=1e-6)
    assert results['coco/kpt_AR'] == pytest.approx(ar, abs=1e-6)
    easy_image, hard_image = data['images'][0]['id'], data['images'][1]['id']
    for level, image_id in (('easy', easy_image), ('hard', hard_image)):
        level_oks = [oks[p['id']] for p in persons if p['image_id'] == image_id]
        assert results[f'coco/kpt_AP_{level}'] == pytest.approx(
            hand_ap(level_oks, len(level_oks))[0], abs=1e-6)
    assert results['coco/kpt_AP_medium'] == -1  # no image with a crowd index in [0.2, 0.8)
    assert 'coco/kpt_APm' not in results  # CrowdPose has no area ranges


def test_annotations_without_area_get_0_53_box_areas_in_coco_mode_too(crowdpose_case):
    ann_file, _, persons, oks, data_samples = crowdpose_case
    results = evaluate(ann_file, data_samples)  # iou_types 'keypoints', use_area=True
    assert results['coco/kpt_AP'] == pytest.approx(hand_ap(list(oks.values()), 4)[0], abs=1e-6)


def test_the_real_crowd_indices_put_both_sample_images_in_medium(shared_data):
    ann_file = osp.join(shared_data, 'crowdpose', 'test_crowdpose.json')
    with open(ann_file) as f:
        data = json.load(f)
    samples = []
    for image in data['images']:
        anns = [
            a for a in data['annotations']
            if a['image_id'] == image['id'] and a['num_keypoints'] > 0
        ]
        kpts = np.array([a['keypoints'] for a in anns], dtype=np.float32).reshape(-1, 14, 3)
        boxes = np.array([a['bbox'] for a in anns], dtype=np.float32)
        boxes[:, 2:] += boxes[:, :2]
        samples.append(
            dict(
                img_id=image['id'],
                pred_instances=dict(
                    bboxes=torch.from_numpy(boxes),
                    scores=torch.linspace(1, 0.5, len(anns)),
                    keypoints=torch.from_numpy(kpts[..., :2] + 0.5),
                    keypoint_scores=torch.ones(len(anns), 14))))
    results = evaluate(ann_file, samples, iou_types=('keypoints_crowd', ), use_area=False)
    assert results['coco/kpt_AP'] == pytest.approx(1.0)
    assert results['coco/kpt_AP_medium'] == pytest.approx(1.0)
    assert results['coco/kpt_AP_easy'] == results['coco/kpt_AP_hard'] == -1


def test_keypoints_crowd_needs_the_crowd_index(shared_data, tmp_path):
    with open(osp.join(shared_data, 'coco', 'test_coco.json')) as f:
        data = json.load(f)
    ann_file = tmp_path / 'no_crowd_index.json'
    ann_file.write_text(json.dumps(data))
    metric = CocoKeypointMetric(ann_file=str(ann_file), iou_types=('keypoints_crowd', ))
    metric.dataset_meta = dict(sigmas=[0.1] * 17)
    image = data['images'][0]
    metric.process({}, [
        dict(
            img_id=image['id'],
            pred_instances=dict(
                bboxes=torch.tensor([[0., 0., 50., 80.]]),
                scores=torch.ones(1),
                keypoints=torch.full((1, 17, 2), 20.),
                keypoint_scores=torch.ones(1, 17)))
    ])
    with pytest.raises(KeyError, match='crowdIndex'):
        metric.evaluate(1)
