"""The evaluator's annotation file is checked as the dataset's is, and its fields that
pycocotools reads are made to agree with what they derive from: ``num_keypoints`` with the
visibility flags, a missing or zero ``area`` with the box. Every check runs when the
metainfo is set, before the first prediction."""
import json
import math
import os.path as osp

import numpy as np
import pytest
import torch

from hrpose.datasets import AnnotationWarning, CocoKeypointDataset, load_keypoint_metainfo
from hrpose.evaluation import CocoKeypointMetric
from tests.helpers import COCO_METAINFO

pytestmark = pytest.mark.usefixtures('hrpose_scope')


def coco_sample(shared_data) -> dict:
    with open(osp.join(shared_data, 'coco', 'test_coco.json')) as f:
        return json.load(f)


def training_set(shared_data, ann_file) -> CocoKeypointDataset:
    return CocoKeypointDataset(
        data_root=osp.join(shared_data, 'coco'),
        ann_file=str(ann_file),
        data_prefix=dict(img=''),
        metainfo=dict(COCO_METAINFO),
        pipeline=[])


def crowd_regions_only(tmp_path, shared_data):
    """The COCO sample with every person a crowd region, written to a json: (coco, path)."""
    coco = coco_sample(shared_data)
    for ann in coco['annotations']:
        ann['iscrowd'] = 1
    ann_file = tmp_path / 'crowd.json'
    ann_file.write_text(json.dumps(coco))
    return coco, ann_file


def labelled(ann: dict) -> bool:
    return any(v > 0 for v in ann['keypoints'][2::3])


def predictions(coco: dict, shift_px: float = 0.0) -> list:
    """Poses at the ground truth (moved right by ``shift_px``), score 1, for every labelled
    person; boxes at the ground-truth boxes."""
    samples = []
    for img in coco['images']:
        anns = [a for a in coco['annotations'] if a['image_id'] == img['id'] and labelled(a)]
        kpts = np.array([a['keypoints'] for a in anns], dtype=np.float32).reshape(-1, 17, 3)
        boxes = np.array([a['bbox'] for a in anns], dtype=np.float32).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        xy = kpts[..., :2] + 0.5
        xy[..., 0] += shift_px
        samples.append(
            dict(
                img_id=img['id'],
                pred_instances=dict(
                    bboxes=torch.from_numpy(boxes),
                    scores=torch.ones(len(anns)),
                    keypoints=torch.from_numpy(xy),
                    keypoint_scores=torch.ones(len(anns), 17))))
    return samples


def evaluate(tmp_path, coco: dict, samples=None, iou_types=('keypoints', )) -> dict:
    ann_file = tmp_path / 'gt.json'
    ann_file.write_text(json.dumps(coco))
    metric = CocoKeypointMetric(ann_file=str(ann_file), iou_types=iou_types)
    metric.dataset_meta = load_keypoint_metainfo(dict(COCO_METAINFO))
    samples = predictions(coco) if samples is None else samples
    metric.process({}, samples)
    return metric.evaluate(len(samples))


@pytest.mark.parametrize('num_keypoints', [0, 3, None])
def test_num_keypoints_that_disagrees_with_the_flags_is_recounted(tmp_path, shared_data,
                                                                  num_keypoints):
    """0 everywhere made pycocotools ignore every person (AP -1), 3 a perfect model score
    0.851, a missing field a KeyError after the inference."""
    coco = coco_sample(shared_data)
    for ann in coco['annotations']:
        if num_keypoints is None:
            del ann['num_keypoints']
        else:
            ann['num_keypoints'] = num_keypoints
    with pytest.warns(AnnotationWarning, match='num_keypoints.*it is set to that number'):
        metrics = evaluate(tmp_path, coco)
    assert metrics['coco/kpt_AP'] == pytest.approx(1.0)


def test_a_non_finite_keypoint_in_the_evaluators_file_only_is_refused(tmp_path, shared_data):
    coco = coco_sample(shared_data)
    coco['annotations'][0]['keypoints'][27] = float('nan')
    ann_file = tmp_path / 'gt.json'
    ann_file.write_text(json.dumps(coco))
    metric = CocoKeypointMetric(ann_file=str(ann_file))
    with pytest.raises(ValueError, match=r'annotation id 442619 of image id 785 .*non-finite'):
        metric.dataset_meta = load_keypoint_metainfo(dict(COCO_METAINFO))


def test_zero_area_is_a_missing_area_in_evaluation_and_a_person_in_training(tmp_path, shared_data):
    """The OKS area of a person with ``area: 0`` is 0.53 x its box, as a missing one is, so
    a 2-pixel error scores as it should; the dataset trains on the person."""
    coco = coco_sample(shared_data)
    for ann in coco['annotations']:
        ann['area'] = 0
    with pytest.warns(AnnotationWarning, match=r'no positive `area`.*0\.53 x the box area'):
        shifted = evaluate(tmp_path, coco, predictions(coco, shift_px=2.0))
    # The OKS of a pose 2 px off everywhere with the 0.53 x box areas, per person, is high:
    # the AP at OKS 0.5 is that of a perfect model. With area 0 every OKS term is 0.
    assert shifted['coco/kpt_AP50'] == pytest.approx(1.0)
    box = coco['annotations'][0]['bbox']
    sigmas = np.asarray(load_keypoint_metainfo(dict(COCO_METAINFO))['sigmas'])
    oks_terms = np.exp(-4.0 / (2 * 0.53 * box[2] * box[3] * (2 * sigmas)**2))
    assert oks_terms.min() > 0.5 and math.isfinite(oks_terms.min())

    ann_file = tmp_path / 'train.json'
    ann_file.write_text(json.dumps(coco))
    dataset = training_set(shared_data, ann_file)
    persons = sum(len(dataset.get_data_info(i)['instances']) for i in range(len(dataset)))
    assert persons == sum(1 for a in coco['annotations']
                          if a['bbox'][2] >= 1 and a['bbox'][3] >= 1)


def test_a_set_of_crowd_regions_only_has_nothing_to_score(tmp_path, shared_data):
    _, ann_file = crowd_regions_only(tmp_path, shared_data)
    metric = CocoKeypointMetric(ann_file=str(ann_file))
    with pytest.raises(
            ValueError, match='no person to score: every person annotation is a '
            'crowd region'):
        metric.dataset_meta = load_keypoint_metainfo(dict(COCO_METAINFO))


def test_a_json_without_images_is_refused_by_the_dataset_and_the_metric(tmp_path, shared_data):
    coco = coco_sample(shared_data)
    coco['images'] = []
    ann_file = tmp_path / 'gt.json'
    ann_file.write_text(json.dumps(coco))
    metric = CocoKeypointMetric(ann_file=str(ann_file))
    with pytest.raises(ValueError, match='"images" is empty or missing'):
        metric.dataset_meta = load_keypoint_metainfo(dict(COCO_METAINFO))
    with pytest.raises(ValueError, match='"images" is empty or missing'):
        CocoKeypointDataset(
            ann_file=str(ann_file),
            data_prefix=dict(img=''),
            metainfo=dict(COCO_METAINFO),
            pipeline=[])


def test_a_training_set_of_crowd_regions_only_has_nothing_to_learn(tmp_path, shared_data):
    coco, ann_file = crowd_regions_only(tmp_path, shared_data)
    with pytest.raises(ValueError, match='nothing to learn: every person annotation is a crowd'):
        training_set(shared_data, ann_file)
    for ann in coco['annotations']:
        ann['iscrowd'], ann['keypoints'] = 0, [0] * 51
    ann_file.write_text(json.dumps(coco))
    with pytest.warns(AnnotationWarning, match='no person has a labelled keypoint'):
        training_set(shared_data, ann_file)
