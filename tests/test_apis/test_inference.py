"""init_model, inference_keypoints and KeypointInferencer on the CPU with the tiny config."""
import glob
import json
import os.path as osp
import pathlib

import mmcv
import numpy as np
import pytest
import torch

from hrpose.apis import (KeypointInferencer, inference_keypoints, init_model, list_images,
                         resolve_config)
from tests.helpers import TINY_POSE_CONFIG

K = 17


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    # Random weights: every RPN proposal scores about 0.5, so persons are always found.
    return init_model(TINY_POSE_CONFIG, None, device='cpu')


@pytest.fixture(scope='module')
def images(synthetic_root):
    return sorted(glob.glob(osp.join(synthetic_root, 'val', '*.jpg')))


def check_prediction(prediction, height, width):
    n = len(prediction['scores'])
    assert n > 0
    assert prediction['bboxes'].shape == (n, 4)
    assert prediction['keypoints'].shape == (n, K, 2)
    assert prediction['keypoint_scores'].shape == (n, K)
    assert all(isinstance(v, np.ndarray) for v in prediction.values())
    # Boxes are clipped to the original image, not the resized one the model saw.
    assert prediction['bboxes'][:, 2].max() <= width and prediction['bboxes'][:, 3].max() <= height


def test_init_model_attaches_config_and_keypoint_metainfo(model):
    assert not model.training
    assert len(model.dataset_meta['keypoint_names']) == K
    assert model.dataset_meta['flip_indices'][1] == 2
    assert model.cfg.model.type == 'KeypointTwoStageDetector'


def test_config_names_resolve_to_files():
    assert resolve_config('hrpose_hrnet-w32_hrfpn_1x_coco').model.type == \
        'KeypointTwoStageDetector'
    with pytest.raises(FileNotFoundError, match='no_such_config'):
        resolve_config('no_such_config')


def test_path_array_and_batch_give_the_same_persons(model, images):
    single = inference_keypoints(model, images[0])
    height, width = mmcv.imread(images[0]).shape[:2]
    check_prediction(single, height, width)
    batch = inference_keypoints(model, [mmcv.imread(images[0]), images[1]], batch_size=2)
    assert isinstance(batch, list) and len(batch) == 2
    np.testing.assert_allclose(batch[0]['keypoints'], single['keypoints'], atol=1e-3)
    np.testing.assert_allclose(batch[0]['scores'], single['scores'], atol=1e-5)


def test_datasamples_can_be_returned(model, images):
    samples = inference_keypoints(model, images[:1], return_datasamples=True)
    assert samples[0].pred_instances.keypoints.shape[1:] == (K, 2)


def test_weights_are_loaded_from_a_checkpoint(model, tmp_path, images):
    path = str(tmp_path / 'weights.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    loaded = init_model(TINY_POSE_CONFIG, path)
    a, b = inference_keypoints(model, images[0]), inference_keypoints(loaded, images[0])
    np.testing.assert_allclose(a['keypoints'], b['keypoints'], atol=1e-4)


def test_inferencer_draws_keypoints_and_writes_json(tmp_path, synthetic_root, images):
    torch.manual_seed(0)
    inferencer = KeypointInferencer(
        TINY_POSE_CONFIG, None, score_thr=0.0, kpt_thr=-1e9, batch_size=2)
    folder = osp.join(synthetic_root, 'val')
    out_dir = str(tmp_path / 'out')
    result = inferencer(folder, out_dir=out_dir)
    names = [osp.splitext(osp.basename(p))[0] for p in list_images(folder)]
    assert len(result['json']) == len(names) == len(result['visualization'])

    for name, image_path, drawn, prediction in zip(names, images, result['visualization'],
                                                   result['predictions']):
        with open(osp.join(out_dir, 'predictions', f'{name}.json')) as f:
            record = json.load(f)
        assert record['keypoint_names'][0] == 'nose'
        assert len(record['instances']) == len(prediction['scores'])
        person = record['instances'][0]
        assert set(person) == {'bbox', 'score', 'keypoints', 'keypoint_scores'}
        assert len(person['keypoints']) == K and len(person['keypoint_scores']) == K
        assert osp.isfile(osp.join(out_dir, 'vis', f'{name}.jpg'))

        original = mmcv.imread(image_path)
        assert drawn.shape == original.shape
        height, width = original.shape[:2]
        differs = []
        for x, y in prediction['keypoints'].reshape(-1, 2):
            col, row = int(round(x)), int(round(y))
            if 0 <= col < width and 0 <= row < height:
                differs.append(
                    np.abs(drawn[row, col].astype(int) - original[row, col].astype(int)).max() > 0)
        assert differs and all(differs)


def same_persons(a, b):
    for key in ('bboxes', 'scores', 'keypoints', 'keypoint_scores'):
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-4, err_msg=key)


def test_pathlib_paths_and_pil_images_give_what_the_path_gives(model, images):
    from PIL import Image
    reference = inference_keypoints(model, images[0])
    same_persons(inference_keypoints(model, pathlib.Path(images[0])), reference)
    same_persons(inference_keypoints(model, Image.open(images[0])), reference)


def test_a_grey_array_is_read_as_a_three_channel_grey_image(model, images):
    grey = mmcv.imread(images[0], flag='grayscale')
    assert grey.ndim == 2
    same_persons(
        inference_keypoints(model, grey),
        inference_keypoints(model, np.repeat(grey[..., None], 3, axis=2)))


@pytest.mark.parametrize('bad, error, message', [
    (np.zeros((64, 48, 3), np.float32), ValueError, r'float32 array with values in \[0, 0\]'),
    (np.zeros((64, 48, 3), np.uint16), ValueError, 'uint16 array'),
    (np.zeros((0, 0, 3), np.uint8), ValueError, 'is empty'),
    (np.zeros((64, 48, 4), np.uint8), ValueError, r'shape \(64, 48, 4\).*alpha'),
    (b'bytes of an image', TypeError, 'is a bytes'),
])
def test_inputs_it_would_get_wrong_are_refused_saying_what_is_accepted(model, bad, error, message):
    with pytest.raises(error, match=message) as info:
        inference_keypoints(model, [bad])
    assert 'uint8 numpy array' in str(info.value) or 'is empty' in str(info.value)


def test_batch_size_must_be_positive(model, images):
    with pytest.raises(ValueError, match='batch_size must be a positive integer, got 0'):
        inference_keypoints(model, images, batch_size=0)


@pytest.mark.parametrize('height, width', [(40, 4000), (4000, 40), (1, 1)])
def test_very_wide_tall_or_tiny_images_are_padded_up_to_what_hrfpn_pools(model, height, width):
    """4000x40 resized to the tiny config's 320x256 is 320x3 (padded: 320x32): HRFPN pools
    its stride-4 level by 16, which needs 64 input pixels on each side. The batch is padded
    up to that (right and bottom), so the image is predicted like any other."""
    assert model.min_input_size == 64
    image = np.random.RandomState(0).randint(0, 256, (height, width, 3)).astype(np.uint8)
    prediction = inference_keypoints(model, image)
    check_prediction(prediction, height, width)


def test_the_padding_to_the_smallest_input_leaves_a_large_image_unchanged(model, images):
    """Only inputs below the limit are padded: the features of a normal batch are the same."""
    batch = torch.zeros(1, 3, 64, 96)
    with torch.no_grad():
        direct = model.neck(model.backbone(batch))
        through = model.extract_feat(batch)
    for a, b in zip(direct, through):
        assert torch.equal(a, b)
    with torch.no_grad():
        padded = model.extract_feat(torch.zeros(1, 3, 32, 96))
    assert padded[0].shape[-2:] == (16, 24)  # the stride-4 level of a 64x96 input
