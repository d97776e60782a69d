"""COCO-style person keypoint dataset: boxes, labels, keypoints and their visibility."""
import json
import os.path as osp
import warnings
from typing import List, Optional, Union

import numpy as np
from mmdet.datasets import CocoDataset
from mmdet.datasets.api_wrappers import COCO
from mmengine.config import Config
from mmengine.logging import print_log

from hrpose.datasets.annotation_checks import (AnnotationWarning, check_coco_structure,
                                               person_keypoints)
from hrpose.datasets.person_boxes import GROUND_TRUTH, describe_person_boxes, load_person_box_file
from hrpose.datasets.samplers import seeded_generators
from hrpose.registry import DATASETS
from hrpose.structures import coco_to_continuous
from hrpose.utils.config_files import resolve_config_path

# Keys a keypoint metainfo must have, each a list with one entry per keypoint.
_PER_KEYPOINT_KEYS = ('keypoint_names', 'flip_indices', 'sigmas')


def load_keypoint_metainfo(metainfo: Optional[dict]) -> dict:
    """Resolve ``metainfo=dict(from_file=...)`` and check the per-keypoint lists.

    Args:
        metainfo: a metainfo dict, or ``dict(from_file='configs/.../coco_person.py')`` naming
            a config file that defines ``metainfo`` (relative paths are tried from the
            working directory, then from the folder holding hrpose's ``configs/``).

    Returns:
        dict: the metainfo with ``num_keypoints`` added.
    """
    metainfo = dict(metainfo or {})
    if 'from_file' in metainfo:
        path = metainfo.pop('from_file')
        path = resolve_config_path(path)
        if not osp.isfile(path):
            raise FileNotFoundError(f'metainfo from_file={path!r}: no such file')
        loaded = Config.fromfile(path)
        if 'metainfo' not in loaded:
            raise KeyError(f'{path} must define a dict named `metainfo`')
        metainfo = {**loaded.metainfo.to_dict(), **metainfo}
    missing = [k for k in _PER_KEYPOINT_KEYS if k not in metainfo]
    if missing:
        raise KeyError(f'the dataset metainfo lacks {missing}: give it in the config, e.g. '
                       "metainfo=dict(from_file='configs/_base_/datasets/metainfo/"
                       "coco_person.py')")
    num_keypoints = len(metainfo['keypoint_names'])
    for key in _PER_KEYPOINT_KEYS + ('keypoint_colors', ):
        if key in metainfo and len(metainfo[key]) != num_keypoints:
            raise ValueError(f'metainfo.{key} has {len(metainfo[key])} entries but there are '
                             f'{num_keypoints} keypoint_names')
    flip_indices = list(metainfo['flip_indices'])
    if sorted(flip_indices) != list(range(num_keypoints)):
        raise ValueError(f'metainfo.flip_indices must be a permutation of 0..{num_keypoints - 1}'
                         f', got {flip_indices}')
    for link in metainfo.get('skeleton', []):
        if not all(0 <= int(i) < num_keypoints for i in link):
            raise ValueError(f'metainfo.skeleton link {link} names a keypoint outside '
                             f'0..{num_keypoints - 1}')
    metainfo['num_keypoints'] = num_keypoints
    return metainfo


@DATASETS.register_module()
class CocoKeypointDataset(CocoDataset):
    """Persons with boxes and keypoints from a COCO person-keypoint json.

    Each instance gets ``bbox`` (x1, y1, x2, y2), ``bbox_label``, ``ignore_flag`` (crowd
    annotations are ignored boxes, as in mmdet), ``keypoints`` (K, 2) and
    ``keypoints_visible`` (K,). Keypoints are shifted by +0.5 from COCO's pixel indices to
    hrpose's continuous coordinates (see :mod:`hrpose.codecs`); unlabelled keypoints
    (v = 0) get visibility 0 and coordinates 0. K comes from the metainfo, which must give
    ``keypoint_names``, ``flip_indices`` and ``sigmas`` (OKS).

    Given person boxes (evaluation on boxes that do not come from the detector's own box
    branch, as top-down methods report): with ``person_boxes`` each image also gets
    ``given_boxes`` (N, 4) x1 y1 x2 y2 and ``given_box_scores`` (N,) in original image
    pixels, and ``given_boxes_source`` (the table's wording); the detector then runs its
    keypoint branch on exactly these boxes.

    Args:
        metainfo: keypoint metainfo, typically ``dict(from_file=...)``.
        person_boxes: None (the detector finds the persons), ``'gt'`` (the annotation
            file's boxes of the persons with a labelled keypoint, score 1) or the path of a
            detection file in COCO results format (``image_id``, ``bbox`` [x, y, w, h],
            ``score``).
        person_box_score_thr: detections scoring below it are left out.
        max_persons_per_img: at most this many detections per image, best first.
        person_box_format: ``'xywh'`` (COCO results format; a file whose boxes look like
            x1, y1, x2, y2 is refused) or ``'xyxy'`` (take x1, y1, x2, y2 as they are).
        **kwargs: everything mmdet's ``CocoDataset`` takes.
    """

    METAINFO = dict(classes=('person', ), palette=[(220, 20, 60)])

    def __init__(self,
                 *args,
                 metainfo: Optional[dict] = None,
                 person_boxes: Optional[str] = None,
                 person_box_score_thr: float = 0.0,
                 max_persons_per_img: Optional[int] = None,
                 person_box_format: str = 'xywh',
                 **kwargs) -> None:
        self.person_boxes = person_boxes
        self.person_box_format = person_box_format
        self.person_box_score_thr = float(person_box_score_thr)
        self.max_persons_per_img = max_persons_per_img
        super().__init__(*args, metainfo=load_keypoint_metainfo(metainfo), **kwargs)

    @classmethod
    def _load_metainfo(cls, metainfo: Optional[dict] = None) -> dict:
        """mmengine reads every string in a metainfo as a file name to load (and warns when it
        is not one); plain strings such as ``dataset_name`` are kept aside from that."""
        metainfo = dict(metainfo or {})
        names = {k: metainfo.pop(k) for k in list(metainfo) if isinstance(metainfo[k], str)}
        return {**super()._load_metainfo(metainfo), **names}

    def __getitem__(self, idx: int) -> dict:
        """The sample after the pipeline; an index from a seeded sampler
        (:mod:`hrpose.datasets.samplers`) runs the pipeline's random draws from its own
        seed."""
        seed = getattr(idx, 'augmentation_seed', None)
        if seed is None:
            return super().__getitem__(idx)
        with seeded_generators(seed):
            return super().__getitem__(int(idx))

    def COCOAPI(self, local_path: str) -> COCO:  # mmdet's hook for loading the json
        """pycocotools' index of the json, checked by :func:`check_coco_structure` before any
        annotation is parsed."""
        coco = COCO(local_path)
        check_coco_structure(coco.dataset, self.ann_file, self.metainfo['classes'])
        return coco

    def load_data_list(self) -> List[dict]:
        """Load the json; a malformed file is reported with its name and position.

        Annotations that are corrected or left out are reported in one warning per kind,
        with their number and the first example: boxes under a pixel wide or high (left out,
        as mmdet does) and ``num_keypoints`` that disagrees with the visibility flags (the
        flags are trusted).
        """
        self._corrections = dict(degenerate_box=[], num_keypoints=[])
        try:
            data_list = super().load_data_list()
        except json.JSONDecodeError as e:
            raise ValueError(f'annotation file {self.ann_file} is not valid JSON: {e}') from e
        degenerate, miscounted = (self._corrections['degenerate_box'],
                                  self._corrections['num_keypoints'])
        if degenerate:
            warnings.warn(
                f'{self.ann_file}: left out {len(degenerate)} person annotation(s) whose box '
                f'is under a pixel wide or high (first: {degenerate[0]})', AnnotationWarning)
        if miscounted:
            warnings.warn(
                f'{self.ann_file}: {len(miscounted)} annotation(s) have a `num_keypoints` that '
                f'differs from the number of labelled keypoints (v > 0); the visibility flags '
                f'are used (first: {miscounted[0]})', AnnotationWarning)
        if not self.test_mode:
            self.check_something_to_learn(data_list)
        if self.person_boxes is not None:
            self.load_given_boxes(data_list)
        return data_list

    def check_something_to_learn(self, data_list: List[dict]) -> None:
        """A training set needs a person that is not a crowd region (an error otherwise),
        and for the keypoint branch one with a labelled keypoint (a warning otherwise)."""
        persons = [
            inst for info in data_list for inst in info['instances'] if not inst['ignore_flag']
        ]
        if not persons:
            raise ValueError(f'{self.ann_file}: nothing to learn: every person annotation is a '
                             'crowd region (iscrowd=1) or was left out')
        if not any(inst['keypoints_visible'].any() for inst in persons):
            warnings.warn(
                f'{self.ann_file}: no person has a labelled keypoint: the keypoint branch has '
                'nothing to learn (its loss stays 0)', AnnotationWarning)

    def load_given_boxes(self, data_list: List[dict]) -> None:
        """Give each image the person boxes named by ``person_boxes`` (see the class)."""
        source = str(self.person_boxes)
        description = describe_person_boxes(source, self.person_box_score_thr,
                                            self.max_persons_per_img)
        if source == GROUND_TRUTH:
            for info in data_list:
                # As HRNet's and mmpose's top-down evaluation on ground-truth boxes: persons
                # with a labelled keypoint (the keypoint evaluation ignores the others, so a
                # pose predicted for them could only be a false positive).
                persons = [
                    inst['bbox'] for inst in info['instances']
                    if not inst['ignore_flag'] and inst['keypoints_visible'].any()
                ]
                info['given_boxes'] = np.asarray(persons, dtype=np.float32).reshape(-1, 4)
                info['given_box_scores'] = np.ones(len(persons), dtype=np.float32)
                info['given_boxes_source'] = description
            return
        if not osp.isfile(source) and not source.startswith(('http://', 'https://', 's3://')):
            raise FileNotFoundError(f"person_boxes={source!r}: no such file (give 'gt' or a "
                                    'detection file in COCO results format)')
        boxes_per_image, counts = load_person_box_file(
            source, [info['img_id'] for info in data_list], self.cat_ids,
            self.person_box_score_thr, self.max_persons_per_img,
            {info['img_id']: (info['width'], info['height'])
             for info in data_list}, self.person_box_format)
        for info in data_list:
            info['given_boxes'], info['given_box_scores'] = boxes_per_image[info['img_id']]
            info['given_boxes_source'] = description
        left_out = {
            k: counts[k]
            for k in ('other_category', 'below_thr', 'over_cap', 'empty_box') if counts[k]
        }
        print_log(
            f'{description}: {counts["kept"]} of {counts["entries"]} detections used' +
            (f' (left out: {left_out})' if left_out else '') +
            f'; {counts["images_without_box"]} of {len(data_list)} images have no box, '
            'so no persons are predicted on them',
            logger='current')

    def parse_data_info(self, raw_data_info: dict) -> Union[dict, List[dict]]:
        """One image and its persons; raises ValueError naming the bad annotation."""
        img_info = raw_data_info['raw_img_info']
        ann_info = raw_data_info['raw_ann_info']
        num_keypoints = self.metainfo['num_keypoints']
        if not (img_info.get('width', 0) > 0 and img_info.get('height', 0) > 0):
            raise ValueError(
                f'{self.ann_file}: image id {img_info["img_id"]} ({img_info["file_name"]}) has '
                f'width={img_info.get("width")}, height={img_info.get("height")}; both must be '
                'positive')
        corrections = getattr(self, '_corrections', dict(degenerate_box=[], num_keypoints=[]))

        data_info = dict(
            img_path=osp.join(self.data_prefix.get('img', ''), img_info['file_name']),
            img_id=img_info['img_id'],
            height=img_info['height'],
            width=img_info['width'],
            flip_indices=list(self.metainfo['flip_indices']),
            keypoint_sigmas=list(self.metainfo['sigmas']),
            seg_map_path=None)
        instances = []
        for ann in ann_info:
            if ann.get('ignore', False) or ann['category_id'] not in self.cat_ids:
                continue
            where = (f'{self.ann_file}: annotation id {ann.get("id")} of image id '
                     f'{img_info["img_id"]} ({img_info["file_name"]})')
            keypoints = person_keypoints(ann, num_keypoints, where)
            x, y, w, h = ann['bbox']
            if w < 1 or h < 1:
                # No person to learn from (mmdet leaves such boxes out too). The `area`
                # field plays no part: it is the OKS's, and the metric fills a missing one.
                corrections['degenerate_box'].append(f'{where}: bbox {ann["bbox"]}')
                continue
            visible = (keypoints[:, 2] > 0).astype(np.float32)
            if 'num_keypoints' in ann and int(ann['num_keypoints']) != int(visible.sum()):
                corrections['num_keypoints'].append(
                    f'{where}: num_keypoints={ann["num_keypoints"]}, {int(visible.sum())} '
                    'labelled')
            coords = np.where(visible[:, None] > 0, coco_to_continuous(keypoints[:, :2]), 0.0)
            instances.append(
                dict(
                    bbox=[x, y, x + w, y + h],
                    bbox_label=self.cat2label[ann['category_id']],
                    ignore_flag=int(bool(ann.get('iscrowd', False))),
                    keypoints=coords.astype(np.float32),
                    keypoints_visible=visible))
        data_info['instances'] = instances
        return data_info
