"""The synthetic COCO person-keypoint set is valid COCO and reproducible."""
import json
import os.path as osp

import numpy as np
from pycocotools.coco import COCO

from hrpose.datasets.synthetic import make_synthetic_coco, render_synthetic_image


def test_rendering_is_seeded():
    img_a, anns_a = render_synthetic_image(np.random.default_rng(3))
    img_b, anns_b = render_synthetic_image(np.random.default_rng(3))
    assert np.array_equal(img_a, img_b)
    assert anns_a == anns_b


def test_annotations_are_consistent(tmp_path):
    ann_files = make_synthetic_coco(str(tmp_path), splits=dict(train=6), image_size=(128, 160))
    coco = COCO(ann_files['train'])
    assert len(coco.getImgIds()) == 6
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) >= 6
    for ann in anns:
        kpts = np.array(ann['keypoints']).reshape(17, 3)
        visible = kpts[:, 2] > 0
        assert ann['num_keypoints'] == visible.sum()
        x, y, w, h = ann['bbox']
        assert w > 0 and h > 0 and 0 < ann['area'] <= w * h
        # Visible keypoints lie in the image and (the figure is drawn around them) in the box.
        assert np.all(kpts[visible, 0] >= x - 1) and np.all(kpts[visible, 0] <= x + w + 1)
        assert np.all(kpts[visible, 1] >= y - 1) and np.all(kpts[visible, 1] <= y + h + 1)
        assert np.all(kpts[~visible, :2] == 0)
    for img in coco.loadImgs(coco.getImgIds()):
        assert osp.isfile(osp.join(tmp_path, 'train', img['file_name']))


def test_second_call_keeps_the_existing_set(tmp_path):
    ann_files = make_synthetic_coco(str(tmp_path), splits=dict(train=2), image_size=(64, 80))
    mtime = osp.getmtime(ann_files['train'])
    make_synthetic_coco(str(tmp_path), splits=dict(train=2), image_size=(64, 80))
    assert osp.getmtime(ann_files['train']) == mtime
    with open(ann_files['train']) as f:
        assert json.load(f)['categories'][0]['keypoints'][0] == 'nose'
