"""Keypoint AP on given person boxes (ground truth or a detection file), the protocols
top-down methods are reported under: the RPN and box branch are skipped and the keypoint
branch sees exactly the given boxes."""
import contextlib
import io
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from hrpose.apis import inference_keypoints, init_model
from hrpose.datasets.person_boxes import load_person_box_file
from hrpose.evaluation import CocoKeypointMetric
from tests.helpers import TINY_POSE_CONFIG
from tests.test_models.test_coordinate_oracle import (build_oracle, reachable_ground_truth,
                                                      sample_dataset)

pytestmark = pytest.mark.usefixtures('hrpose_scope')

COCO_DETECTIONS = 'test_coco_det_AP_H_56.json'
SCALE = (640, 427)


def coco_sample(shared_data, ann_file, **person_box_settings):
    return sample_dataset(shared_data, 'coco', ann_file, SCALE, **person_box_settings)


def evaluate(model, dataset, ann_file, before_predict=None):
    """Run ``model`` over ``dataset`` in batches of two; the metric's numbers."""
    metric = CocoKeypointMetric(ann_file=ann_file)
    metric.dataset_meta = dataset.metainfo
    for start in range(0, len(dataset), 2):
        batch = pseudo_collate([dataset[i] for i in range(start, min(start + 2, len(dataset)))])
        data = model.data_preprocessor(batch, False)
        if before_predict is not None:
            before_predict(data['data_samples'])
        with torch.no_grad():
            results = model.predict(data['inputs'], data['data_samples'])
        metric.process({}, [r.to_dict() for r in results])
    return metric.evaluate(len(dataset))


def pycocotools_box_ap(ann_file, detections) -> float:
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(ann_file)
        coco_eval = COCOeval(coco, coco.loadRes(detections), 'bbox')
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    return float(coco_eval.stats[0])


@pytest.mark.parametrize('codec, flip_test', [('UDPHeatmap', True), ('MSRAHeatmap', False)])
def test_ground_truth_boxes_and_a_perfect_head_give_keypoint_ap_1(tmp_path, shared_data, codec,
                                                                  flip_test):
    """A keypoint head predicting the codec's encoding of the ground truth, on the ground-truth
    boxes: box AP 1.0 and keypoint AP 1.0, and the box branch never runs."""
    model, state = build_oracle(codec, 17, flip_test, SCALE)
    ann_file = reachable_ground_truth(
        osp.join(shared_data, 'coco', 'test_coco.json'), model.roi_head.codec,
        str(tmp_path / 'gt.json'))
    dataset = coco_sample(shared_data, ann_file, person_boxes='gt')

    def box_branch_must_not_run(*args, **kwargs):
        raise AssertionError('the box branch ran on given person boxes')

    model.roi_head.predict_bbox = box_branch_must_not_run
    model.rpn_head.predict = box_branch_must_not_run

    def perfect_head_for(data_samples):
        # The given boxes are the persons with a labelled keypoint, in the dataset's order.
        state['passes'] = 0
        state['batch'] = []
        for sample in data_samples:
            gt = sample.gt_instances
            gt = gt[gt.keypoints_visible.sum(dim=1) > 0]
            torch.testing.assert_close(sample.given_persons.bboxes, gt.bboxes)
            scale_xy = gt.keypoints.new_tensor(sample.metainfo['scale_factor'])
            state['batch'].append(
                dict(
                    keypoints=gt.keypoints * scale_xy,
                    visible=gt.keypoints_visible,
                    flip_indices=sample.metainfo['flip_indices'],
                    batch_width=sample.metainfo['batch_input_shape'][1]))

    metrics = evaluate(model, dataset, ann_file, perfect_head_for)
    assert metrics['coco/person_boxes'] == 'ground-truth person boxes'
    assert metrics['coco/kpt_AP'] == pytest.approx(1.0)
    # Box AP of the boxes used: 2 of the 14 persons have no labelled keypoint and no box.
    with open(ann_file) as f:
        anns = json.load(f)['annotations']
    labelled = [
        dict(image_id=a['image_id'], category_id=1, bbox=a['bbox'], score=1.0) for a in anns
        if a.get('num_keypoints', 0) > 0 and not a.get('iscrowd')
    ]
    assert len(labelled) == 12
    assert metrics['coco/bbox_mAP'] == pytest.approx(
        pycocotools_box_ap(ann_file, labelled), abs=1e-4)
    assert metrics['coco/bbox_mAP'] < 1.0
    # Where every person is labelled, ground-truth boxes have box AP 1.0.
    with open(ann_file) as f:
        data = json.load(f)
    data['annotations'] = [a for a in data['annotations'] if a.get('num_keypoints', 0) > 0]
    all_labelled = str(tmp_path / 'all_labelled.json')
    with open(all_labelled, 'w') as f:
        json.dump(data, f)
    metrics = evaluate(model, coco_sample(shared_data, all_labelled, person_boxes='gt'),
                       all_labelled, perfect_head_for)
    assert metrics['coco/bbox_mAP'] == pytest.approx(1.0)
    assert metrics['coco/kpt_AP'] == pytest.approx(1.0)


def test_detection_file_boxes_reach_the_keypoint_branch_and_their_box_ap_is_reported(shared_data):
    """Box AP is pycocotools' AP of the detection file itself, and the keypoint branch sees
    exactly the file's boxes above the threshold, rescaled into the network input."""
    ann_file = osp.join(shared_data, 'coco', 'test_coco.json')
    det_file = osp.join(shared_data, 'coco', COCO_DETECTIONS)
    with open(det_file) as f:
        detections = json.load(f)
    torch.manual_seed(0)
    model = init_model(TINY_POSE_CONFIG, None)
    seen = []
    original = model.roi_head.predict_keypoints

    def recording(x, results_list, batch_img_metas=None, *args, **kwargs):
        for res, meta in zip(results_list, batch_img_metas):
            seen.append(
                (meta['img_id'], meta['scale_factor'], res.bboxes.clone(), res.scores.clone()))
        return original(x, results_list, batch_img_metas, *args, **kwargs)

    model.roi_head.predict_keypoints = recording

    # All boxes: the reported box AP is the file's own.
    metrics = evaluate(model, coco_sample(shared_data, ann_file, person_boxes=det_file), ann_file)
    assert metrics['coco/person_boxes'] == f'person boxes of {det_file}'
    assert metrics['coco/bbox_mAP'] == pytest.approx(
        pycocotools_box_ap(ann_file, detections), abs=1e-4)

    # Above a threshold: exactly those boxes, best first, in the resized image.
    threshold = 0.5
    seen.clear()
    evaluate(
        model,
        coco_sample(shared_data, ann_file, person_boxes=det_file, person_box_score_thr=threshold),
        ann_file)
    assert sorted(img_id for img_id, *_ in seen) == sorted({d['image_id'] for d in detections})
    for img_id, (w_scale, h_scale), boxes, scores in seen:
        expected = sorted(
            (d for d in detections if d['image_id'] == img_id and d['score'] >= threshold),
            key=lambda d: -d['score'])
        assert len(boxes) == len(expected) > 0
        xywh = np.asarray([d['bbox'] for d in expected])
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        np.testing.assert_allclose(
            boxes.numpy(), xyxy * np.tile([w_scale, h_scale], 2), rtol=1e-5, atol=1e-3)
        np.testing.assert_allclose(scores.numpy(), [d['score'] for d in expected], rtol=1e-6)


def test_detection_file_filters_and_counts(tmp_path):
    path = tmp_path / 'dets.json'
    path.write_text(
        json.dumps([
            dict(image_id=1, category_id=1, bbox=[0, 0, 10, 20], score=0.9),
            dict(image_id=1, category_id=1, bbox=[5, 5, 10, 20], score=0.95),
            dict(image_id=1, category_id=1, bbox=[5, 5, 10, 20], score=0.1),
            dict(image_id=1, category_id=3, bbox=[5, 5, 10, 20], score=0.99),  # a car
            dict(image_id=2, category_id=1, bbox=[5, 5, 0, 20], score=0.99),  # empty
        ]))
    boxes, counts = load_person_box_file(
        str(path), [1, 2, 3], [1], score_thr=0.2, max_persons_per_img=1)
    np.testing.assert_allclose(boxes[1][0], [[5, 5, 15, 25]])  # the best one, x1 y1 x2 y2
    np.testing.assert_allclose(boxes[1][1], [0.95])
    assert len(boxes[2][0]) == len(boxes[3][0]) == 0
    assert counts == dict(
        entries=5,
        kept=1,
        other_category=1,
        below_thr=1,
        over_cap=1,
        empty_box=1,
        images_without_box=2)


@pytest.mark.parametrize('content, message', [
    ([
        dict(image_id=999, bbox=[0, 0, 5, 5], score=1.0),
        dict(image_id=998, bbox=[0, 0, 5, 5], score=1.0)
    ], "2 detection(s) on 2 image id(s) that the annotation file does not have (e.g. [998, 999])"),
    ([dict(image_id=1, bbox=[0, 0, 5], score=1.0)], 'entry 0 (image id 1): "bbox" must be 4'),
    ([dict(image_id=1, bbox=[0, 0, 5, 5])], 'entry 0 must have "image_id", "bbox"'),
    ([dict(image_id='a.jpg', bbox=[0, 0, 5, 5], score=1.0)], "image_id 'a.jpg' is not an int"),
    (dict(annotations=[]), 'expected a list of detections in COCO results format'),
])
def test_bad_detection_files_are_named(tmp_path, content, message):
    path = tmp_path / 'dets.json'
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match='person box file .*dets.json') as error:
        load_person_box_file(str(path), [1, 2], [1])
    assert message in str(error.value)


def test_the_dataset_names_a_missing_detection_file(shared_data, tmp_path):
    with pytest.raises(FileNotFoundError, match="person_boxes='no/such.json': no such file"):
        coco_sample(
            shared_data,
            osp.join(shared_data, 'coco', 'test_coco.json'),
            person_boxes='no/such.json')


def test_the_api_runs_the_keypoint_branch_on_given_boxes(shared_data):
    torch.manual_seed(0)
    model = init_model(TINY_POSE_CONFIG, None)
    image = osp.join(shared_data, 'coco', '000000000785.jpg')
    boxes = np.array([[10, 20, 110, 220, 0.8], [50, 60, 150, 260, 0.6]], dtype=np.float32)
    result = inference_keypoints(model, image, person_boxes=boxes)
    # No rescoring or OKS-NMS in the tiny config: the given boxes and scores come back.
    np.testing.assert_allclose(result['bboxes'], boxes[:, :4], atol=1e-3)
    np.testing.assert_allclose(result['scores'], boxes[:, 4])
    assert result['keypoints'].shape == (2, 17, 2)
    # Every keypoint lies in its person's expanded box.
    rois = model.roi_head.codec.expand_rois(torch.as_tensor(boxes[:, :4])).numpy()
    assert np.all(result['keypoints'] >= rois[:, None, :2] - 0.5)
    assert np.all(result['keypoints'] <= rois[:, None, 2:])
    none = inference_keypoints(model, [image], person_boxes=[np.zeros((0, 4))])[0]
    assert len(none['bboxes']) == 0 and none['keypoints'].shape == (0, 17, 2)
    with pytest.raises(ValueError, match=r'box 0 \[10.0, 20.0, 5.0, 220.0\] is empty'):
        inference_keypoints(model, image, person_boxes=[[10, 20, 5, 220]])
    with pytest.raises(ValueError, match='2 arrays for 1 images'):
        inference_keypoints(model, [image], person_boxes=[boxes, boxes])


def detection_file_of_the_ground_truth(tmp_path, ann_file, xyxy):
    """The annotation file's person boxes as a detection file, in [x, y, w, h] or written as
    x1, y1, x2, y2 (the usual mistake with a detector's raw output)."""
    with open(ann_file) as f:
        coco = json.load(f)
    dets = []
    for ann in coco['annotations']:
        x, y, w, h = ann['bbox']
        box = [x, y, x + w, y + h] if xyxy else [x, y, w, h]
        dets.append(dict(image_id=ann['image_id'], category_id=1, bbox=box, score=1.0))
    path = tmp_path / ('xyxy.json' if xyxy else 'xywh.json')
    path.write_text(json.dumps(dets))
    sizes = {im['id']: (im['width'], im['height']) for im in coco['images']}
    return str(path), sizes


@pytest.mark.parametrize('ann_file', ['coco/test_coco.json', 'coco_train88/train88.json'])
def test_a_detection_file_in_x1_y1_x2_y2_is_refused_unless_said_so(tmp_path, shared_data,
                                                                   ann_file):
    ann_file = osp.join(shared_data, ann_file)
    xywh, sizes = detection_file_of_the_ground_truth(tmp_path, ann_file, xyxy=False)
    xyxy, _ = detection_file_of_the_ground_truth(tmp_path, ann_file, xyxy=True)
    ids = list(sizes)
    # COCO results format on real, crowded images: no false alarm.
    reference, _ = load_person_box_file(xywh, ids, [1], image_sizes=sizes)
    with pytest.raises(
            ValueError,
            match=r'boxes reach past their image when read as '
            r'\[x, y, w, h\].*looks like x1, y1, x2, y2'):
        load_person_box_file(xyxy, ids, [1], image_sizes=sizes)
    taken, _ = load_person_box_file(xyxy, ids, [1], image_sizes=sizes, box_format='xyxy')
    for image_id in ids:
        np.testing.assert_allclose(taken[image_id][0], reference[image_id][0], atol=1e-3)
