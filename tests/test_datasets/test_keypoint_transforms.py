"""Keypoint-aware flip and resize keep keypoints exact and swap left and right."""
import copy

import numpy as np
import pytest
from mmdet.structures.bbox import HorizontalBoxes

from hrpose.datasets.transforms import KeypointRandomFlip, KeypointResize, PackKeypointDetInputs

FLIP_INDICES = [0, 2, 1, 4, 3]  # nose, left/right eye, left/right ear


def make_results(seed=0):
    rng = np.random.default_rng(seed)
    keypoints = rng.uniform(0, 100, size=(2, 5, 2)).astype(np.float32)
    visible = np.array([[1, 1, 0, 1, 1], [1, 0, 1, 1, 0]], dtype=np.float32)
    keypoints[visible == 0] = 0
    return dict(
        img=rng.integers(0, 255, size=(120, 160, 3), dtype=np.uint8),
        img_shape=(120, 160),
        gt_bboxes=HorizontalBoxes(
            np.array([[10, 10, 60, 90], [50, 20, 150, 110]], dtype=np.float32)),
        gt_bboxes_labels=np.array([0, 0]),
        gt_ignore_flags=np.array([False, False]),
        gt_keypoints=keypoints,
        gt_keypoints_visible=visible,
        flip_indices=FLIP_INDICES)


def flip(results):
    return KeypointRandomFlip(prob=1.0, direction='horizontal')(copy.deepcopy(results))


def test_flip_mirrors_x_and_swaps_left_and_right():
    results = make_results()
    flipped = flip(results)
    kpts, vis = results['gt_keypoints'], results['gt_keypoints_visible']
    # Flipped keypoint 1 (left eye) is the mirrored right eye (index 2) of the original.
    for i, j in enumerate(FLIP_INDICES):
        np.testing.assert_array_equal(flipped['gt_keypoints_visible'][:, i], vis[:, j])
        labelled = vis[:, j] > 0
        np.testing.assert_allclose(flipped['gt_keypoints'][labelled, i, 0],
                                   160 - kpts[labelled, j, 0])
        np.testing.assert_allclose(flipped['gt_keypoints'][labelled, i, 1], kpts[labelled, j, 1])
    # Unlabelled keypoints stay at 0.
    assert np.all(flipped['gt_keypoints'][flipped['gt_keypoints_visible'] == 0] == 0)


def test_flip_twice_is_the_identity():
    results = make_results()
    twice = flip(flip(results))
    np.testing.assert_allclose(twice['gt_keypoints'], results['gt_keypoints'], atol=1e-5)
    np.testing.assert_array_equal(twice['gt_keypoints_visible'], results['gt_keypoints_visible'])
    np.testing.assert_array_equal(twice['img'], results['img'])


def test_flip_keeps_keypoints_inside_their_flipped_boxes():
    results = make_results()
    results['gt_keypoints'][0] = [[20, 20], [30, 30], [0, 0], [40, 40], [55, 80]]
    flipped = flip(results)
    box = flipped['gt_bboxes'].tensor.numpy()[0]
    pts = flipped['gt_keypoints'][0][flipped['gt_keypoints_visible'][0] > 0]
    assert np.all((pts[:, 0] >= box[0]) & (pts[:, 0] <= box[2]))


def test_resize_scales_keypoints_like_the_image():
    results = make_results()
    resized = KeypointResize(scale=(320, 180), keep_ratio=False)(copy.deepcopy(results))
    assert resized['img'].shape[:2] == (180, 320)
    np.testing.assert_allclose(
        resized['gt_keypoints'], results['gt_keypoints'] * [2.0, 1.5], rtol=1e-6)
    np.testing.assert_array_equal(resized['gt_keypoints_visible'], results['gt_keypoints_visible'])


def test_resize_then_flip_matches_flip_then_resize():
    results = make_results()
    resize = KeypointResize(scale=(240, 180), keep_ratio=True)
    a = flip(resize(copy.deepcopy(results)))
    b = resize(flip(results))
    np.testing.assert_allclose(a['gt_keypoints'], b['gt_keypoints'], atol=1e-4)


def test_flip_without_flip_indices_is_a_clear_error():
    results = make_results()
    del results['flip_indices']
    with pytest.raises(KeyError, match='flip_indices'):
        flip(results)


def test_pack_puts_keypoints_into_gt_instances():
    results = make_results()
    results['gt_ignore_flags'] = np.array([False, True])
    packed = PackKeypointDetInputs()(results)
    gt = packed['data_samples'].gt_instances
    assert tuple(gt.keypoints.shape) == (1, 5, 2)
    assert tuple(gt.keypoints_visible.shape) == (1, 5)
    assert tuple(packed['data_samples'].ignored_instances.keypoints.shape) == (1, 5, 2)


def test_multi_scale_resize_scales_keypoints_through_keypoint_resize():
    from mmengine.registry import init_default_scope

    from hrpose.registry import TRANSFORMS
    init_default_scope('hrpose')
    transform = TRANSFORMS.build(
        dict(
            type='RandomChoiceResize',
            scales=[(320, 240), (480, 360)],
            keep_ratio=True,
            resize_type='KeypointResize'))
    results = make_results()
    for seed in range(4):
        np.random.seed(seed)
        out = transform(copy.deepcopy(results))
        w_scale, h_scale = out['scale_factor']
        assert out['img'].shape[1] in (320, 480)
        np.testing.assert_allclose(
            out['gt_keypoints'], results['gt_keypoints'] * [w_scale, h_scale], rtol=1e-6)


@pytest.mark.parametrize('mode', ['cutout', 'hide_and_seek'])
def test_information_dropping_changes_only_person_boxes(mode):
    from hrpose.datasets.transforms import PersonInformationDropping
    np.random.seed(0)
    results = make_results()
    out = PersonInformationDropping(prob=1.0, mode=mode, hide_prob=0.5)(copy.deepcopy(results))
    changed = np.any(out['img'] != results['img'], axis=-1)
    inside = np.zeros_like(changed)
    for x1, y1, x2, y2 in results['gt_bboxes'].tensor.numpy().astype(int):
        inside[y1:y2, x1:x2] = True
    assert changed.any()
    assert not changed[~inside].any()
    np.testing.assert_array_equal(out['gt_keypoints'], results['gt_keypoints'])
    np.testing.assert_array_equal(out['gt_keypoints_visible'], results['gt_keypoints_visible'])


def test_information_dropping_with_zero_probability_is_the_identity():
    from hrpose.datasets.transforms import PersonInformationDropping
    results = make_results()
    out = PersonInformationDropping(prob=0.0)(copy.deepcopy(results))
    np.testing.assert_array_equal(out['img'], results['img'])
