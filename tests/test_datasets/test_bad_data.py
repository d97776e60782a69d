"""Bad images and annotations end in an error that names the image, or a logged skip."""
import json
import logging
import os.path as osp
import shutil
import warnings

import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger

from hrpose.datasets import AnnotationWarning, CocoKeypointDataset
from hrpose.datasets.transforms import BadImageError, LoadCheckedImage
from hrpose.datasets.transforms.loading import find_truncation
from hrpose.registry import TRANSFORMS
from tests.helpers import COCO_METAINFO

IMAGE = '000000000785.jpg'  # image id 785, 640x425, one person with 17 keypoints

pytestmark = pytest.mark.usefixtures('hrpose_scope')


def write_dataset(tmp_path,
                  shared_data,
                  edit_image=None,
                  edit_annotation=None,
                  image_bytes=None,
                  pipeline=None,
                  **kwargs):
    """A one-image copy of the COCO sample in ``tmp_path``, edited as asked."""
    with open(osp.join(shared_data, 'coco', 'test_coco.json')) as f:
        coco = json.load(f)
    coco['images'] = [im for im in coco['images'] if im['file_name'] == IMAGE]
    coco['annotations'] = [a for a in coco['annotations'] if a['image_id'] == 785]
    if edit_image:
        edit_image(coco['images'][0])
    if edit_annotation:
        edit_annotation(coco['annotations'][0])
    (tmp_path / 'ann.json').write_text(json.dumps(coco))
    if image_bytes is None:
        shutil.copy(osp.join(shared_data, 'coco', IMAGE), tmp_path / IMAGE)
    else:
        (tmp_path / IMAGE).write_bytes(image_bytes)
    return CocoKeypointDataset(
        data_root=str(tmp_path),
        ann_file='ann.json',
        data_prefix=dict(img=''),
        metainfo=COCO_METAINFO,
        pipeline=pipeline or [dict(type='LoadCheckedImage')],
        **kwargs)


def jpeg_bytes(shared_data):
    with open(osp.join(shared_data, 'coco', IMAGE), 'rb') as f:
        return f.read()


def test_config_name_builds_the_checking_loader():
    assert TRANSFORMS.get('LoadCheckedImage') is LoadCheckedImage


def test_whole_image_loads_at_its_annotated_size(tmp_path, shared_data):
    results = write_dataset(tmp_path, shared_data)[0]
    assert results['img'].shape == (425, 640, 3)


@pytest.mark.parametrize('case, content, error, message', [
    ('missing', None, FileNotFoundError, 'no such file'),
    ('empty', b'', BadImageError, r'empty \(0 bytes\)'),
    ('truncated', 'half', BadImageError, 'truncated'),
    ('garbage', b'not an image' * 50, BadImageError, 'do not decode'),
])
def test_bad_image_error_names_the_image_and_the_problem(tmp_path, shared_data, case, content,
                                                         error, message):
    if content == 'half':
        data = jpeg_bytes(shared_data)
        content = data[:len(data) // 2]
    dataset = write_dataset(
        tmp_path, shared_data, image_bytes=b'x' if content is None else content)
    if case == 'missing':
        (tmp_path / IMAGE).unlink()
    with pytest.raises(error, match=message) as info:
        dataset[0]
    assert 'image id 785' in str(info.value) and IMAGE in str(info.value)


def test_truncation_is_found_in_jpeg_and_png_but_not_in_whole_files(shared_data):
    import cv2
    data = jpeg_bytes(shared_data)
    assert find_truncation(data) is None
    assert 'JPEG' in find_truncation(data[:-1000])
    png = cv2.imencode('.png', np.zeros((8, 8, 3), np.uint8))[1].tobytes()
    assert find_truncation(png) is None
    assert 'PNG' in find_truncation(png[:-20])


def test_bad_image_can_be_skipped_with_a_logged_warning(tmp_path, shared_data):
    loader = LoadCheckedImage(on_bad_image='skip')
    (tmp_path / 'empty.jpg').write_bytes(b'')
    records = []
    handler = logging.Handler(level=logging.WARNING)
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        assert loader(dict(img_path=str(tmp_path / 'empty.jpg'), img_id=7)) is None
    finally:
        logger.removeHandler(handler)
    messages = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert len(messages) == 1, messages
    assert 'empty.jpg' in messages[0] and 'image id 7' in messages[0]
    assert 'skipped' in messages[0]
    with pytest.raises(ValueError, match='on_bad_image'):
        LoadCheckedImage(on_bad_image='ignore')


def test_training_dataset_draws_another_image_for_a_skipped_one(tmp_path, shared_data):
    dataset = write_dataset(
        tmp_path, shared_data, pipeline=[dict(type='LoadCheckedImage', on_bad_image='skip')])
    # Two entries: the broken image, and the same annotations on a whole copy.
    (tmp_path / 'broken.jpg').write_bytes(b'')
    good, broken = dataset.get_data_info(0), dict(dataset.get_data_info(0))
    broken['img_path'] = str(tmp_path / 'broken.jpg')
    dataset.data_list = [broken, good]
    dataset._serialized = False
    np.random.seed(0)
    assert dataset[0]['img_path'].endswith(IMAGE)


@pytest.mark.parametrize('width, height', [(0, 425), (640, -1)])
def test_zero_size_image_in_the_json_is_refused(tmp_path, shared_data, width, height):

    def edit(image):
        image['width'], image['height'] = width, height

    with pytest.raises(ValueError, match=r'image id 785 .*must be\s+positive'):
        write_dataset(tmp_path, shared_data, edit_image=edit)


def test_wrong_num_keypoints_warns_once_and_the_flags_are_used(tmp_path, shared_data):

    def edit(ann):
        ann['num_keypoints'] = 3  # it has 17 labelled keypoints

    with pytest.warns(
            AnnotationWarning,
            match=r'1 annotation\(s\).*annotation id 442619.*'
            r'num_keypoints=3, 17 labelled') as record:
        dataset = write_dataset(tmp_path, shared_data, edit_annotation=edit)
    assert len([w for w in record if w.category is AnnotationWarning]) == 1
    assert dataset.get_data_info(0)['instances'][0]['keypoints_visible'].sum() == 17


@pytest.mark.parametrize('bbox', [[280.0, 44.0, 0.0, 100.0], [280.0, 44.0, -20.0, -5.0]])
def test_zero_area_and_negative_boxes_are_left_out_with_a_warning(tmp_path, shared_data, bbox):

    def edit(ann):
        ann['bbox'] = bbox

    with pytest.warns(AnnotationWarning, match='under a pixel wide or high.*annotation id 442619'):
        # test_mode: as a training set, one without any person is refused (nothing to learn)
        dataset = write_dataset(
            tmp_path,
            shared_data,
            edit_annotation=edit,
            test_mode=True,
            filter_cfg=dict(filter_empty_gt=False))
    assert dataset.get_data_info(0)['instances'] == []


def test_clean_annotations_give_no_warning(tmp_path, shared_data):
    with warnings.catch_warnings():
        warnings.simplefilter('error', AnnotationWarning)
        write_dataset(tmp_path, shared_data)


def test_keypoints_outside_the_image_and_box_are_kept_and_weighted_out_of_the_heatmap(
        tmp_path, shared_data):
    from hrpose.codecs import MSRAHeatmap

    def edit(ann):
        ann['keypoints'][0:3] = [-50, -40, 2]  # nose: outside the image
        ann['keypoints'][3:6] = [600, 420, 2]  # left eye: in the image, outside the box

    dataset = write_dataset(tmp_path, shared_data, edit_annotation=edit)
    instance = dataset.get_data_info(0)['instances'][0]
    np.testing.assert_allclose(instance['keypoints'][:2], [[-49.5, -39.5], [600.5, 420.5]])
    assert instance['keypoints_visible'][:2].tolist() == [1, 1]

    codec = MSRAHeatmap(heatmap_size=(48, 64), sigma=2.0)
    box = torch.tensor([instance['bbox']], dtype=torch.float32)
    rois = codec.expand_rois(box)
    targets, weights = codec.encode(
        torch.from_numpy(instance['keypoints'])[None],
        torch.from_numpy(instance['keypoints_visible'])[None], rois)
    assert torch.isfinite(targets).all()
    assert weights[0, :2].tolist() == [0.0, 0.0]  # outside the RoI: no target
    assert weights[0, 2:].sum() == 15  # the others still count


# ---------------------------------------------------------------- ground truth that would
# corrupt the metrics without a word


def write_json(tmp_path, shared_data, edit):
    """The whole COCO sample's json, edited by ``edit(coco)``, beside a copy of its images."""
    with open(osp.join(shared_data, 'coco', 'test_coco.json')) as f:
        coco = json.load(f)
    edit(coco)
    (tmp_path / 'ann.json').write_text(json.dumps(coco))
    return CocoKeypointDataset(
        data_root=osp.join(shared_data, 'coco'),
        ann_file=str(tmp_path / 'ann.json'),
        data_prefix=dict(img=''),
        metainfo=COCO_METAINFO,
        pipeline=[])


@pytest.mark.parametrize('field, index', [('keypoints', 9 * 3), ('keypoints', 9 * 3 + 1),
                                          ('bbox', 2)])
def test_non_finite_ground_truth_names_the_annotation(tmp_path, shared_data, field, index):

    def edit(ann):
        ann[field][index] = float('nan')

    with pytest.raises(
            ValueError,
            match=rf'annotation id 442619 of image id 785 .*`{field}`.* '
            'holds a non-finite number'):
        write_dataset(tmp_path, shared_data, edit_annotation=edit)


def test_person_without_bbox_names_the_annotation_and_the_format(tmp_path, shared_data):

    def edit(ann):
        del ann['bbox']

    with pytest.raises(
            ValueError, match=r'annotation id 442619 .*no `bbox`.*\[x, y, width, '
            r'height\]'):
        write_dataset(tmp_path, shared_data, edit_annotation=edit)


def test_repeated_image_ids_are_named(tmp_path, shared_data):

    def edit(coco):
        coco['images'][1]['id'] = coco['images'][0]['id']

    with pytest.raises(ValueError, match=r'ann\.json: 1 image id\(s\) appear more than once'):
        write_json(tmp_path, shared_data, edit)


def test_repeated_annotation_ids_are_named(tmp_path, shared_data):

    def edit(coco):
        coco['annotations'][1]['id'] = coco['annotations'][0]['id']

    with pytest.raises(
            ValueError, match=r'1 annotation id\(s\) appear more than once '
            r'\(e\.g\. \d+\)'):
        write_json(tmp_path, shared_data, edit)


def test_string_image_ids_are_refused(tmp_path, shared_data):

    def edit(coco):
        image_id = coco['images'][0]['id']
        coco['images'][0]['id'] = str(image_id)
        for ann in coco['annotations']:
            if ann['image_id'] == image_id:
                ann['image_id'] = str(image_id)

    with pytest.raises(ValueError, match=r'image ids must be integers.*got 1 other'):
        write_json(tmp_path, shared_data, edit)


@pytest.mark.parametrize('case', ['no annotations', 'other category'])
def test_no_person_annotations_says_which_categories_the_file_has(tmp_path, shared_data, case):

    def edit(coco):
        if case == 'no annotations':
            coco['annotations'] = []
        else:
            coco['categories'][0]['name'] = 'human'

    with pytest.raises(
            ValueError,
            match=r"no person annotations found.*\['person'\].*the "
            r"categories \['(person|human)'\]"):
        write_json(tmp_path, shared_data, edit)
