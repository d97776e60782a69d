"""The whole coordinate chain with a perfect model: keypoint AP 1.0 and sub-pixel errors.

The box branch's output is replaced by the ground-truth boxes and the keypoint head's output
by mmpose's targets of the ground-truth keypoints (tests/reference/mmpose_codecs.py, not the
codec's own encoding, so that an error shared by hrpose's encode and decode cannot cancel;
UDP's combined maps, which have no transcription, use the codec's; for the flip pass: what a
perfect head sees on the mirrored batch, mirrored keypoints with left and right swapped).
The RoI-to-heatmap transform itself is checked against mmcv's RoIAlign in
test_roi_alignment.py. Everything else
is the real path: the dataset (+0.5), resizing, padding of a batch of two images of
different sizes, RoI expansion, decoding, the flip test, rescaling to the original image,
the metric (-0.5) and COCOeval. A half-pixel error anywhere in that chain moves every
keypoint by half a pixel, which the mean signed error below catches.
"""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from hrpose.datasets import load_keypoint_metainfo
from hrpose.evaluation import CocoKeypointMetric
from hrpose.registry import DATASETS, KEYPOINT_CODECS, MODELS
from tests.helpers import COCO_METAINFO, CROWDPOSE_METAINFO, TINY_POSE_CONFIG, codec_config
from tests.reference import mmpose_codecs

CODECS = ('MSRAHeatmap', 'DARKHeatmap', 'UDPHeatmap', 'UDPCombinedHeatmap')
SAMPLES = {
    'coco': ('coco', 'test_coco.json', COCO_METAINFO, 17),
    'crowdpose': ('crowdpose', 'test_crowdpose.json', CROWDPOSE_METAINFO, 14),
}

REFERENCE_TARGETS = {
    'MSRAHeatmap': mmpose_codecs.msra_targets,
    'DARKHeatmap': mmpose_codecs.dark_targets,
    'UDPHeatmap': mmpose_codecs.udp_targets,
}


def perfect_heatmaps(codec_name: str, codec, keypoints, visible, rois) -> torch.Tensor:
    """What a perfect head outputs for (R, K, 2) image keypoints in (R, 4) RoIs: mmpose's
    targets at the keypoints' heatmap coordinates (R, K, H, W)."""
    reference = REFERENCE_TARGETS.get(codec_name)
    if reference is None:
        return codec.encode(keypoints, visible, rois)[0]
    coords = codec.to_heatmap_coords(keypoints.float(), rois.float())
    maps = []
    for c, v in zip(coords.double().numpy(), visible.float().numpy()):
        targets, weights = reference(c, v, codec.heatmap_size, codec.sigma)
        maps.append(torch.from_numpy(targets * weights[:, None, None]))
    return torch.stack(maps) if maps else codec.encode(keypoints, visible, rois)[0]


def build_oracle(codec: str, num_keypoints: int, flip_test: bool, scale=(1333, 800)):
    """The tiny model whose box and keypoint outputs are the ground truth's.

    Returns the model and its state: ``state['ground_truth']`` must be set to a function of
    an image's meta that gives its persons in original-image coordinates (``bboxes``
    (N, 4), ``keypoints`` (N, K, 2) continuous, ``visible`` (N, K)).
    """
    init_default_scope('hrpose')
    cfg = Config.fromfile(TINY_POSE_CONFIG)
    head = cfg.model.roi_head.keypoint_head
    head.codec = codec_config(codec, head.codec)
    cfg.model.roi_head.keypoint_head.num_keypoints = num_keypoints
    cfg.model.test_cfg.rcnn.flip_test = flip_test
    for transform in cfg.test_dataloader.dataset.pipeline:
        if transform['type'] == 'KeypointResize':
            transform['scale'] = scale
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    model.cfg = cfg
    roi_head = model.roi_head
    codec_obj = roi_head.codec
    state = dict(ground_truth=None, batch=None, passes=0)

    def predict_bbox(x, batch_img_metas, rpn_results_list, rcnn_test_cfg, rescale=False):
        results, batch = [], []
        for meta in batch_img_metas:
            gt = state['ground_truth'](meta)
            w_scale, h_scale = meta['scale_factor']
            scale_xy = torch.tensor([w_scale, h_scale], dtype=torch.float32)
            # Into the resized image the model sees, as the pipeline scales the image.
            batch.append(
                dict(
                    keypoints=gt['keypoints'] * scale_xy,
                    visible=gt['visible'],
                    flip_indices=meta['flip_indices'],
                    batch_width=meta['batch_input_shape'][1]))
            res = InstanceData()
            res.bboxes = gt['bboxes'] * scale_xy.repeat(2)
            # Distinct scores, persons with labelled keypoints above all others: a person
            # without any has all-zero target heatmaps, so its decoded pose is arbitrary (a
            # false positive for COCOeval when it falls outside the person's doubled box).
            labelled = (gt['visible'] > 0).any(dim=1)
            scores = torch.zeros(len(labelled))
            scores[labelled] = torch.linspace(1.0, 0.5, int(labelled.sum()))
            scores[~labelled] = torch.linspace(0.3, 0.1, int((~labelled).sum()))
            res.scores = scores
            res.labels = torch.zeros(len(labelled), dtype=torch.long)
            results.append(res)
        state['batch'] = batch
        state['passes'] = 0
        return results

    def keypoint_forward(x, rois_per_img):
        # First call of a batch: the image; second (flip test): the mirrored batch.
        flipped = state['passes'] == 1
        state['passes'] += 1
        maps = []
        for rois, gt in zip(rois_per_img, state['batch']):
            keypoints, visible = gt['keypoints'], gt['visible']
            if flipped:
                keypoints = keypoints[:, gt['flip_indices']].clone()
                visible = visible[:, gt['flip_indices']]
                keypoints[..., 0] = gt['batch_width'] - keypoints[..., 0]
            maps.append(perfect_heatmaps(codec, codec_obj, keypoints, visible, rois))
        return torch.cat(maps)

    def extract_feat(batch_inputs):
        # Features are not read by the oracle: a cheap stand-in that keeps the batch size.
        return tuple(batch_inputs.new_zeros(len(batch_inputs), 1, 1, 1) for _ in range(5))

    def rpn_predict(x, batch_data_samples, rescale=False):
        return [InstanceData(bboxes=torch.zeros(0, 4)) for _ in batch_data_samples]

    model.extract_feat = extract_feat
    model.rpn_head.predict = rpn_predict
    roi_head.predict_bbox = predict_bbox
    roi_head._keypoint_forward = keypoint_forward
    return model, state


def reachable_ground_truth(ann_file: str, codec, out_file: str) -> str:
    """A copy of the annotations without the labelled keypoints that lie outside their
    person's expanded RoI: no top-down head can place a keypoint outside its RoI (the
    CrowdPose sample has such knees below a box cut short), and the oracle tests the chain
    of coordinates, not the annotations."""
    with open(ann_file) as f:
        data = json.load(f)
    for ann in data['annotations']:
        x, y, w, h = ann['bbox']
        roi = codec.expand_rois(torch.tensor([[x, y, x + w, y + h]]))[0].tolist()
        keypoints = ann.get('keypoints', [])
        for k in range(0, len(keypoints), 3):
            px, py = keypoints[k] + 0.5, keypoints[k + 1] + 0.5
            if keypoints[k + 2] > 0 and not (roi[0] <= px < roi[2] and roi[1] <= py < roi[3]):
                keypoints[k:k + 3] = [0, 0, 0]
        if keypoints:
            ann['num_keypoints'] = sum(v > 0 for v in keypoints[2::3])
    with open(out_file, 'w') as f:
        json.dump(data, f)
    return out_file


def sample_dataset(shared_data, sample, ann_file, scale, **dataset_options):
    """The sample's test set, resized to ``scale``; ``dataset_options`` go to the dataset
    (e.g. ``person_boxes``)."""
    folder, _, metainfo, _ = SAMPLES[sample]
    return DATASETS.build(
        dict(
            type='CocoKeypointDataset',
            data_root=osp.join(shared_data, folder),
            ann_file=ann_file,
            data_prefix=dict(img=''),
            metainfo=dict(metainfo),
            test_mode=True,
            **dataset_options,
            pipeline=[
                dict(type='LoadCheckedImage'),
                dict(type='KeypointResize', scale=scale, keep_ratio=True),
                dict(type='LoadKeypointAnnotations'),
                dict(
                    type='PackKeypointDetInputs',
                    meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
            ]))


def oracle_predictions(shared_data, sample, codec, flip_test, scale, tmp_path):
    """Run the oracle on the sample images in batches of two; returns the metric's results,
    the keypoint results json it wrote and the annotation file it evaluated against."""
    folder, ann_name, _, num_keypoints = SAMPLES[sample]
    model, state = build_oracle(codec, num_keypoints, flip_test, scale)
    ann_file = reachable_ground_truth(
        osp.join(shared_data, folder, ann_name), model.roi_head.codec, str(tmp_path / ann_name))
    dataset = sample_dataset(shared_data, sample, ann_file, scale)
    metric = CocoKeypointMetric(
        ann_file=ann_file,
        outfile_prefix=str(tmp_path / 'oracle'),
        iou_types=('keypoints', 'bbox'))
    metric.dataset_meta = dataset.metainfo
    shapes = set()
    for start in range(0, len(dataset), 2):
        batch = pseudo_collate([dataset[i] for i in range(start, min(start + 2, len(dataset)))])
        data = model.data_preprocessor(batch, False)
        # The ground truth as the dataset gives it (original image, +0.5 applied).
        by_image = {}
        for data_sample in data['data_samples']:
            gt = data_sample.gt_instances
            bboxes = gt.bboxes.tensor if hasattr(gt.bboxes, 'tensor') else gt.bboxes
            by_image[data_sample.metainfo['img_id']] = dict(
                bboxes=bboxes, keypoints=gt.keypoints, visible=gt.keypoints_visible)
            shapes.add(tuple(data_sample.metainfo['img_shape']))
        state['ground_truth'] = lambda meta: by_image[meta['img_id']]
        with torch.no_grad():
            results = model.predict(data['inputs'], data['data_samples'])
        metric.process({}, [r.to_dict() for r in results])
    assert len(shapes) > 1  # images of different sizes share a padded batch
    metrics = metric.evaluate(len(dataset))
    with open(tmp_path / 'oracle.keypoints.json') as f:
        return metrics, json.load(f), ann_file


def keypoint_errors(dets, ann_file, codec):
    """Signed errors (N, 2) of every labelled keypoint of the detected persons in
    original-image pixels, and the size (N, 2) of one heatmap pixel of that person's RoI."""
    with open(ann_file) as f:
        anns = json.load(f)['annotations']
    by_image = {}
    for ann in anns:
        if ann.get('num_keypoints', 0) > 0:
            by_image.setdefault(ann['image_id'], []).append(ann)
    errors, pixel_sizes = [], []
    W, H = codec.heatmap_size
    for det in dets:
        if max(det['keypoints'][2::3]) < 0.5:
            continue  # a person without labelled keypoints: all-zero heatmaps
        pred = np.asarray(det['keypoints']).reshape(-1, 3)[:, :2]
        # The person whose box the detection was given: its nearest pose.
        best = min(
            by_image[det['image_id']],
            key=lambda a: np.abs(np.asarray(a['keypoints']).reshape(-1, 3)[:, :2] - pred).sum())
        gt = np.asarray(best['keypoints'], dtype=np.float64).reshape(-1, 3)
        labelled = gt[:, 2] > 0
        errors.append(pred[labelled] - gt[labelled, :2])
        x, y, w, h = best['bbox']
        roi = codec.expand_rois(torch.tensor([[x, y, x + w, y + h]]))[0].numpy()
        size = (roi[2:] - roi[:2]) / np.array([W, H])
        pixel_sizes.append(np.broadcast_to(size, (int(labelled.sum()), 2)))
    return np.concatenate(errors), np.concatenate(pixel_sizes)


def check_errors(codec_name, errors, pixel_sizes):
    """Sub-pixel and unbiased for DARK and UDP; MSRA within its quantisation bound."""
    assert len(errors) > 40
    in_heatmap_pixels = np.abs(errors) / pixel_sizes
    if codec_name == 'MSRAHeatmap':
        # The nearest pixel centre, then a quarter pixel: at most half a heatmap pixel.
        assert in_heatmap_pixels.max() <= 0.5 + 0.01, in_heatmap_pixels.max()
    else:
        # Exact but near the RoI's border (DARK's blur reaches past it, and within 2
        # pixels there is no refinement; UDP's edge-padded differences; the combined maps'
        # offsets, blurred as mmpose does with a mirrored border, are no longer a ramp
        # there): under a heatmap pixel there, two for the combined maps.
        bound = 2.0 if codec_name == 'UDPCombinedHeatmap' else 1.0
        assert in_heatmap_pixels.max() < bound, in_heatmap_pixels.max()
        # A half-pixel shift anywhere in the chain would make the mean error 0.5.
        bias = np.abs(errors.mean(axis=0)).max()
        assert bias < 0.05, f'mean signed error {errors.mean(axis=0)} px'
        assert np.median(np.abs(errors)) < 0.05


@pytest.mark.parametrize('sample', list(SAMPLES))
@pytest.mark.parametrize('codec', CODECS)
@pytest.mark.parametrize('flip_test', [False, True])
@pytest.mark.parametrize('scale', [(400, 267), (1333, 800)])
def test_oracle_gives_ap_1_and_sub_pixel_errors(shared_data, tmp_path, sample, codec, flip_test,
                                                scale):
    metrics, dets, ann_file = oracle_predictions(shared_data, sample, codec, flip_test, scale,
                                                 tmp_path)
    assert metrics['coco/kpt_AP'] == pytest.approx(1.0)
    assert metrics['coco/bbox_mAP'] == pytest.approx(1.0)
    codec_obj = KEYPOINT_CODECS.build(dict(type=codec))
    check_errors(codec, *keypoint_errors(dets, ann_file, codec_obj))


@pytest.mark.parametrize('codec', ['MSRAHeatmap', 'UDPHeatmap'])
@pytest.mark.parametrize('flip_test', [False, True])
def test_oracle_through_the_inference_api(shared_data, tmp_path, codec, flip_test):
    """inference_keypoints on image files and arrays: poses in the original image's pixel
    coordinates (COCO's convention) within the same bounds."""
    import cv2

    from hrpose.apis import inference_keypoints
    folder, ann_name, metainfo, num_keypoints = SAMPLES['coco']
    model, state = build_oracle(codec, num_keypoints, flip_test, scale=(400, 267))
    model.dataset_meta = load_keypoint_metainfo(dict(metainfo))
    ann_file = reachable_ground_truth(
        osp.join(shared_data, folder, ann_name), model.roi_head.codec, str(tmp_path / ann_name))
    with open(ann_file) as f:
        data = json.load(f)
    images = [osp.join(shared_data, folder, image['file_name']) for image in data['images']]
    ground_truth = []
    for image in data['images']:
        anns = [
            a for a in data['annotations']
            if a['image_id'] == image['id'] and not a.get('iscrowd', 0)
        ]
        boxes = torch.tensor([a['bbox'] for a in anns], dtype=torch.float32)
        boxes[:, 2:] += boxes[:, :2]
        kpts = torch.tensor([a['keypoints'] for a in anns],
                            dtype=torch.float32).reshape(len(anns), -1, 3)
        # COCO pixel indices to continuous coordinates, as the dataset converts them.
        ground_truth.append(
            dict(bboxes=boxes, keypoints=kpts[..., :2] + 0.5, visible=(kpts[..., 2] > 0).float()))
    # The API numbers the images of a call 0, 1, ...
    state['ground_truth'] = lambda meta: ground_truth[meta['img_id']]
    for inputs in (images, [cv2.imread(path) for path in images]):
        results = inference_keypoints(model, inputs, batch_size=2)
        dets = []
        for image, result in zip(data['images'], results):
            for keypoints, kpt_scores in zip(result['keypoints'], result['keypoint_scores']):
                dets.append(
                    dict(
                        image_id=image['id'],
                        keypoints=np.concatenate([keypoints, kpt_scores[:, None]],
                                                 axis=1).reshape(-1).tolist()))
        check_errors(codec, *keypoint_errors(dets, ann_file, model.roi_head.codec))
