"""The tiny hrpose model: losses (with and without keypoint RoIs) and predictions."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from hrpose.registry import DATASETS, MODELS
from tests.helpers import TINY_POSE_CONFIG, codec_config, synthetic_cfg_options


@pytest.fixture(scope='module')
def cfg(synthetic_root):
    cfg = Config.fromfile(TINY_POSE_CONFIG)
    cfg.merge_from_dict(
        dict(opt.split('=', 1) for opt in synthetic_cfg_options(synthetic_root)[:3]))
    return cfg


@pytest.fixture(scope='module')
def batch(cfg):
    init_default_scope('hrpose')
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    return dict(
        inputs=[dataset[i]['inputs'] for i in range(2)],
        data_samples=[dataset[i]['data_samples'] for i in range(2)])


def build_model(cfg):
    init_default_scope('hrpose')
    torch.manual_seed(0)
    model = MODELS.build(copy.deepcopy(cfg.model))  # tests change their model's test_cfg
    model.init_weights()
    return model


@pytest.mark.parametrize('codec, loss', [
    ('MSRAHeatmap', 'KeypointMSELoss'),
    ('DARKHeatmap', 'KeypointMSELoss'),
    ('UDPHeatmap', 'KeypointMSELoss'),
    ('UDPCombinedHeatmap', 'CombinedTargetMSELoss'),
])
def test_every_codec_trains_and_predicts_k_keypoints(cfg, batch, codec, loss):
    cfg = copy.deepcopy(cfg)
    head = cfg.model.roi_head.keypoint_head
    head.codec = codec_config(codec, head.codec)
    cfg.model.roi_head.keypoint_head.loss_keypoint = dict(type=loss, loss_weight=1000.0)
    model = build_model(cfg).train()
    losses = model(**model.data_preprocessor(copy.deepcopy(batch), True), mode='loss')
    assert torch.isfinite(losses['loss_keypoint']) and losses['loss_keypoint'] > 0
    model.eval()
    with torch.no_grad():
        results = model(**model.data_preprocessor(copy.deepcopy(batch), False), mode='predict')
    pred = results[0].pred_instances
    assert pred.keypoints.shape == (len(pred.bboxes), 17, 2)


@pytest.mark.parametrize('flip_test', [False, True])
def test_keypoint_rois_are_expanded_once_per_image_in_training_and_in_prediction(
        cfg, batch, flip_test, monkeypatch):
    """Pooling, targets, decoding and the OKS-NMS areas all use the RoIs expanded once: a
    change to the expansion cannot reach one of them and miss another."""
    model = build_model(cfg)
    model.roi_head.test_cfg.flip_test = flip_test
    model.roi_head.test_cfg.oks_nms = dict(iou_threshold=0.9)
    codec = model.roi_head.codec
    calls = []
    expand = codec.expand_rois

    def counting(bboxes):
        calls.append(len(bboxes))
        return expand(bboxes)

    monkeypatch.setattr(codec, 'expand_rois', counting)
    model.train()
    model(**model.data_preprocessor(copy.deepcopy(batch), True), mode='loss')
    assert len(calls) == len(batch['inputs'])
    calls.clear()
    model.eval()
    with torch.no_grad():
        results = model(**model.data_preprocessor(copy.deepcopy(batch), False), mode='predict')
    assert len(calls) == len(batch['inputs'])
    assert sum(calls) == sum(len(r.pred_boxes) for r in results) > 0


def test_training_losses_include_a_finite_keypoint_loss(cfg, batch):
    model = build_model(cfg).train()
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    losses = model(**data, mode='loss')
    assert 'loss_keypoint' in losses
    assert torch.isfinite(losses['loss_keypoint']) and losses['loss_keypoint'] > 0
    losses['loss_keypoint'].backward()
    grad = model.roi_head.keypoint_head.final_conv.weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_batch_without_labelled_keypoints_gives_zero_loss_with_a_graph(cfg, batch):
    model = build_model(cfg).train()
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    for sample in data['data_samples']:
        sample.gt_instances.keypoints_visible.zero_()
    loss = model(**data, mode='loss')['loss_keypoint']
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert model.roi_head.keypoint_head.final_conv.weight.grad is not None


def test_predictions_carry_keypoints_in_original_image_coordinates(cfg, batch):
    """Both axes of boxes and keypoints are divided by the resize's own scale factors, and
    every keypoint lies on the expanded RoI of its box (the heatmap's extent), in x and y.
    (The oracle test checks the coordinates themselves against the ground truth.)"""
    cfg = copy.deepcopy(cfg)
    cfg.model.test_cfg.rcnn.score_thr = 0.0  # an untrained model: keep every detection
    model = build_model(cfg).eval()
    data = model.data_preprocessor(copy.deepcopy(batch), False)
    with torch.no_grad():
        original = model.predict(data['inputs'], copy.deepcopy(data['data_samples']), rescale=True)
        resized = model.predict(data['inputs'], copy.deepcopy(data['data_samples']), rescale=False)
    for sample, in_original, in_resized in zip(data['data_samples'], original, resized):
        pred, pred_resized = in_original.pred_instances, in_resized.pred_instances
        n = len(pred.bboxes)
        assert n > 0 and len(pred_resized.bboxes) == n
        assert pred.keypoints.shape == (n, 17, 2)
        assert pred.keypoint_scores.shape == (n, 17)
        w_scale, h_scale = sample.metainfo['scale_factor']
        assert (w_scale, h_scale) != (1.0, 1.0)
        scale = torch.tensor([w_scale, h_scale])
        torch.testing.assert_close(
            pred.keypoints * scale, pred_resized.keypoints, rtol=1e-5, atol=1e-3)
        torch.testing.assert_close(
            pred.bboxes * scale.repeat(2), pred_resized.bboxes, rtol=1e-5, atol=1e-3)
        rois = model.roi_head.codec.expand_rois(pred.bboxes)
        for axis in (0, 1):
            assert torch.all(pred.keypoints[..., axis] >= rois[:, None, axis] - 1.0)
            assert torch.all(pred.keypoints[..., axis] <= rois[:, None, axis + 2] + 1.0)


def test_flip_test_is_mirror_symmetric(cfg):
    """With the flip test, the poses found in a mirrored image are the mirrored poses
    (MSRA; but for maxima in heatmap columns 1 and W - 2: mmpose's rule 1 < x < W - 1 moves
    x at W - 2 and not at its mirror 1)."""
    cfg = copy.deepcopy(cfg)
    cfg.model.test_cfg.rcnn.flip_test = True
    model = build_model(cfg).eval()
    flip_indices = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
    gen = torch.Generator().manual_seed(0)
    image = torch.randn(1, 3, 128, 160, generator=gen)  # no padding: the mirror is exact
    boxes = torch.tensor([[20., 10., 70., 120.], [90., 30., 150., 100.]])
    meta = dict(batch_input_shape=(128, 160), flip_indices=flip_indices)

    def poses(img, bxs):
        from mmengine.structures import InstanceData
        with torch.no_grad():
            x, x_flipped = model.extract_feat(img), model.extract_feat(img.flip(-1))
            res = InstanceData(bboxes=bxs.clone())
            res = model.roi_head.predict_keypoints(x, [res], [meta], x_flipped)[0]
        return res.keypoints, res.keypoint_scores

    keypoints, scores = poses(image, boxes)
    mirrored_boxes = torch.stack([160 - boxes[:, 2], boxes[:, 1], 160 - boxes[:, 0], boxes[:, 3]],
                                 dim=1)
    keypoints_m, scores_m = poses(image.flip(-1), mirrored_boxes)
    unmirrored = keypoints_m[:, flip_indices].clone()
    unmirrored[..., 0] = 160 - unmirrored[..., 0]
    codec = model.roi_head.codec
    columns = codec.to_heatmap_coords(keypoints, codec.expand_rois(boxes))[..., 0].round()
    symmetric = (columns != 1) & (columns != codec.heatmap_size[0] - 2)
    assert symmetric.sum() > 20
    torch.testing.assert_close(unmirrored[symmetric], keypoints[symmetric], atol=1e-3, rtol=0)
    torch.testing.assert_close(scores_m[:, flip_indices], scores, atol=1e-5, rtol=0)


def test_rescoring_and_oks_nms_in_predict(cfg, batch):
    model = build_model(cfg).eval()
    data = model.data_preprocessor(copy.deepcopy(batch), False)
    with torch.no_grad():
        # every detection's pose, before any post-processing
        model.roi_head.test_cfg.update(max_poses_per_img=None)
        plain = model(**copy.deepcopy(data), mode='predict')
        model.roi_head.test_cfg.update(
            rescore=True,
            keypoint_score_thr=0.0,
            oks_nms=dict(iou_threshold=0.5),
            max_poses_per_img=20)
        post = model(**copy.deepcopy(data), mode='predict')
    for before, after in zip(plain, post):
        assert len(before.pred_instances) == len(before.pred_boxes)
        before, after = before.pred_instances, after.pred_instances
        assert 0 < len(after) <= min(20, len(before))
        for box, score, kpt_scores in zip(after.bboxes, after.scores, after.keypoint_scores):
            match = (before.bboxes == box).all(dim=1).nonzero()[0, 0]
            confident = before.keypoint_scores[match][before.keypoint_scores[match] > 0.0]
            expected = before.scores[match] * confident.mean() if len(confident) else 0.0
            assert score.item() == pytest.approx(float(expected), rel=1e-5)


def test_keypoint_rois_hold_a_labelled_keypoint_inside(cfg):
    """A positive proposal trains the keypoint branch only if a labelled keypoint of its
    person falls inside its expanded RoI (Keypoint R-CNN's rule)."""
    from types import SimpleNamespace

    from mmengine.structures import InstanceData
    model = build_model(cfg)
    keypoints = torch.zeros(1, 17, 2)
    visible = torch.zeros(1, 17)
    keypoints[0, 0], keypoints[0, 15] = torch.tensor([50., 50.]), torch.tensor([60., 150.])
    visible[0, 0] = visible[0, 15] = 2
    gt = InstanceData(keypoints=keypoints, keypoints_visible=visible)
    priors = torch.tensor([
        [40., 40., 70., 160.],  # the person: both keypoints inside
        [300., 300., 340., 380.],  # matched to the person, but far from its keypoints
        [45., 130., 75., 170.],  # around the lower keypoint only
    ])
    result = SimpleNamespace(pos_priors=priors, pos_assigned_gt_inds=torch.zeros(3).long())
    selected = model.roi_head.select_keypoint_rois([result], [gt])
    assert len(selected[0]) == 2
    torch.testing.assert_close(selected[0].rois, model.roi_head.codec.expand_rois(priors[[0, 2]]))
    _, weights = model.roi_head.keypoint_head.get_targets(selected)
    assert (weights.sum(dim=1) > 0).all()
    # The targets of the selected RoIs are the codec's encoding of their persons.
    targets, expected_weights = model.roi_head.codec.encode(
        keypoints.expand(2, -1, -1), visible.expand(2, -1), selected[0].rois)
    torch.testing.assert_close(model.roi_head.keypoint_head.get_targets(selected)[0], targets)
    torch.testing.assert_close(weights, expected_weights)


def test_keypoint_rois_reach_roi_align_in_float32_under_half_features(cfg, batch):
    model = build_model(cfg).eval()
    data = model.data_preprocessor(copy.deepcopy(batch), False)
    seen = []
    roi_layer = model.roi_head.keypoint_roi_extractor.roi_layers[0]
    original_forward = roi_layer.forward

    def recording_forward(feats, rois):
        seen.append((feats.dtype, rois.dtype))
        return original_forward(feats, rois)

    roi_layer.forward = recording_forward
    from mmengine.structures import InstanceData
    with torch.no_grad():
        x = tuple(level.half() for level in model.extract_feat(data['inputs']))
        # Coordinates in [1024, 2048): fp16 would put them on a 1-pixel grid.
        boxes = InstanceData(bboxes=torch.tensor([[1030.3, 1100.7, 1090.1, 1230.9]]))
        heatmaps = model.roi_head._keypoint_forward(
            x, [model.roi_head.codec.expand_rois(boxes.bboxes)])
    assert seen == [(torch.float32, torch.float32)]
    assert heatmaps.shape[0] == 1


def test_keypoint_branch_under_bfloat16_autocast_gives_finite_float32_keypoints(cfg, batch):
    from mmengine.structures import InstanceData
    model = build_model(cfg).eval()
    data = model.data_preprocessor(copy.deepcopy(batch), False)
    metas = [sample.metainfo for sample in data['data_samples']]
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        x = model.extract_feat(data['inputs'])
        results = [
            InstanceData(bboxes=torch.tensor([[10., 10., 60., 120.], [70., 20., 90., 60.]]))
            for _ in metas
        ]
        results = model.roi_head.predict_keypoints(x, results, metas)
    for res in results:
        assert res.keypoints.dtype == torch.float32
        assert torch.isfinite(res.keypoints).all() and torch.isfinite(res.keypoint_scores).all()


@pytest.mark.parametrize('key, value, message', [
    ('test_cfg.rcnn.flip_tset', True,
     r"model\.test_cfg\.rcnn\.flip_tset: unknown setting; did you mean 'flip_test'\?"),
    ('test_cfg.rcnn.oks_nms', dict(iou_treshold=0.9),
     r"model\.test_cfg\.rcnn\.oks_nms\.iou_treshold: .*did you mean 'iou_threshold'\?"),
    ('train_cfg.rcnn.max_keypoint_roi_per_img', 8, r"did you mean 'max_keypoint_rois_per_img'\?"),
])
def test_misspelled_settings_are_refused_with_the_close_match(cfg, key, value, message):
    cfg = copy.deepcopy(cfg)
    cfg.merge_from_dict({f'model.{key}': value})
    with pytest.raises(ValueError, match=message):
        build_model(cfg)


def test_box_results_are_the_box_branch_s_whatever_the_pose_post_processing(cfg, batch):
    """The base, rescoring and flip settings give the same box results (the box branch's
    detections as NMS left them, up to max_per_img); only the poses change, at most
    max_poses_per_img of them, best first."""
    predictions = {}
    for name, settings in (('base',
                            {}), ('rescore',
                                  dict(rescore=True, oks_nms=dict(iou_threshold=0.5, soft=False))),
                           ('flip',
                            dict(
                                flip_test=True,
                                rescore=True,
                                oks_nms=dict(iou_threshold=0.9, soft=True)))):
        run_cfg = copy.deepcopy(cfg)
        run_cfg.model.test_cfg.rcnn.update(
            score_thr=0.0, max_per_img=60, max_poses_per_img=7, **settings)
        model = build_model(run_cfg).eval()
        with torch.no_grad():
            predictions[name] = model(
                **model.data_preprocessor(copy.deepcopy(batch), False), mode='predict')
    for samples in predictions.values():
        for sample, base in zip(samples, predictions['base']):
            assert torch.equal(sample.pred_boxes.bboxes, base.pred_boxes.bboxes)
            assert torch.equal(sample.pred_boxes.scores, base.pred_boxes.scores)
            assert len(sample.pred_boxes) == 60  # an untrained model: boxes everywhere
            assert len(sample.pred_instances) <= 7
            scores = sample.pred_instances.scores
            assert torch.equal(scores, scores.sort(descending=True)[0])
    # rescoring changed the poses' scores, not the boxes'
    rescored = predictions['rescore'][0].pred_instances.scores
    assert not torch.isin(rescored, predictions['base'][0].pred_boxes.scores).all()
