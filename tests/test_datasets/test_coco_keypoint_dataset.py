"""CocoKeypointDataset on the real COCO and CrowdPose samples, and its error messages."""
import json
import os.path as osp

import numpy as np
import pytest

from hrpose.datasets import CocoKeypointDataset, load_keypoint_metainfo
from tests.helpers import COCO_METAINFO, CROWDPOSE_METAINFO

pytestmark = pytest.mark.usefixtures('hrpose_scope')


def coco_dataset(shared_data, ann_file=None, metainfo=COCO_METAINFO, **kwargs):
    return CocoKeypointDataset(
        data_root=osp.join(shared_data, 'coco'),
        ann_file=ann_file or 'test_coco.json',
        data_prefix=dict(img=''),
        metainfo=metainfo,
        pipeline=[],
        **kwargs)


def test_coco_sample_loads_keypoints_in_continuous_coordinates(shared_data):
    dataset = coco_dataset(shared_data)
    assert len(dataset) == 4
    assert dataset.metainfo['num_keypoints'] == 17
    info = next(d for d in (dataset[i] for i in range(4)) if d['img_id'] == 785)
    person = info['instances'][0]
    assert person['keypoints'].shape == (17, 2)
    assert person['keypoints_visible'].shape == (17, )
    # COCO pixel index (367, 81) of the nose becomes the pixel centre (367.5, 81.5).
    np.testing.assert_allclose(person['keypoints'][0], [367.5, 81.5])
    np.testing.assert_allclose(
        person['bbox'], [280.79, 44.73, 280.79 + 218.7, 44.73 + 346.68], rtol=1e-5)
    assert info['flip_indices'] == [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
    total = sum(len(dataset[i]['instances']) for i in range(4))
    assert total == 14


def test_crowdpose_sample_loads_through_its_own_metainfo(shared_data):
    dataset = CocoKeypointDataset(
        data_root=osp.join(shared_data, 'crowdpose'),
        ann_file='test_crowdpose.json',
        data_prefix=dict(img=''),
        metainfo=CROWDPOSE_METAINFO,
        pipeline=[])
    assert dataset.metainfo['num_keypoints'] == 14
    for i in range(len(dataset)):
        for inst in dataset[i]['instances']:
            assert inst['keypoints'].shape == (14, 2)


def test_wrong_keypoint_length_names_the_annotation(shared_data, tmp_path):
    with open(osp.join(shared_data, 'coco', 'test_coco.json')) as f:
        coco = json.load(f)
    coco['annotations'][3]['keypoints'] = coco['annotations'][3]['keypoints'][:-3]
    bad_id, image_id = coco['annotations'][3]['id'], coco['annotations'][3]['image_id']
    ann_file = tmp_path / 'bad.json'
    ann_file.write_text(json.dumps(coco))
    with pytest.raises(ValueError) as err:
        coco_dataset(shared_data, ann_file=str(ann_file))
    message = str(err.value)
    assert f'annotation id {bad_id}' in message and f'image id {image_id}' in message
    assert 'bad.json' in message and '48 values, expected 3 x K = 51' in message


def test_crowdpose_json_with_coco_metainfo_is_refused(shared_data):
    with pytest.raises(ValueError, match='expected 3 x K = 51'):
        CocoKeypointDataset(
            data_root=osp.join(shared_data, 'crowdpose'),
            ann_file='test_crowdpose.json',
            data_prefix=dict(img=''),
            metainfo=COCO_METAINFO,
            pipeline=[])


def test_malformed_json_names_the_file(tmp_path, shared_data):
    ann_file = tmp_path / 'broken.json'
    ann_file.write_text('{"images": [')
    with pytest.raises(ValueError, match='broken.json is not valid JSON'):
        coco_dataset(shared_data, ann_file=str(ann_file))


@pytest.mark.parametrize('change, message', [
    (dict(sigmas=[0.1] * 16), 'metainfo.sigmas has 16 entries'),
    (dict(flip_indices=list(range(16))), 'metainfo.flip_indices has 16 entries'),
    (dict(flip_indices=[0] * 17), 'flip_indices must be a permutation'),
    (dict(skeleton=[[0, 17]]), 'skeleton link'),
])
def test_inconsistent_metainfo_is_refused(change, message):
    meta = load_keypoint_metainfo(dict(COCO_METAINFO))
    meta.update(change)
    with pytest.raises(ValueError, match=message):
        load_keypoint_metainfo(meta)


def test_missing_metainfo_keys_are_named():
    with pytest.raises(KeyError, match="flip_indices"):
        load_keypoint_metainfo(dict(keypoint_names=['a'], sigmas=[0.1]))
