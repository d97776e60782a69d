"""One validation of COCO-style person keypoint files, for every reader: the dataset, the
metric's ``ann_file`` (pycocotools reads it directly) and the analysis tools.

A file that would load but corrupt the numbers is refused with a message naming the file
and the image or annotation id; a field that pycocotools reads but that can be derived is
made to agree with what it is derived from, with one warning per kind:

- ``num_keypoints`` is set to the number of labelled keypoints (visibility > 0):
  pycocotools ignores persons whose ``num_keypoints`` is 0 and never looks at the flags;
- an ``area`` that is missing or not positive is taken as 0.53 x the box area (CrowdPose's
  rule): pycocotools divides the OKS by it.
"""
import contextlib
import io
import json
import warnings
from collections import Counter
from typing import List, Optional, Sequence, Tuple

import numpy as np

# CrowdPose's official evaluation takes 0.53 x the box area as the object's area in the OKS:
# its json has no segmentation areas, and 0.53 is the ratio of segmentation to box areas of
# COCO persons. hrpose uses it wherever an area is missing.
BOX_AREA_RATIO = 0.53


class AnnotationWarning(UserWarning):
    """Annotations that were used with a correction or left out; the message says which."""


def _first(values, count: int = 3) -> str:
    return ', '.join(repr(v) for v in list(values)[:count])


def read_annotation_json(ann_file: str, local_path: Optional[str] = None) -> dict:
    """The json of ``ann_file`` (read from ``local_path`` when given); a malformed file is
    reported with its name and the position of the error."""
    try:
        with open(local_path or ann_file) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f'annotation file {ann_file} is not valid JSON: {e}') from e


def check_coco_structure(dataset: dict, ann_file: str, classes: Sequence[str]) -> None:
    """Refuse a COCO json that would load but corrupt the numbers silently.

    It must have images; image ids must be integers and unique (pycocotools keeps the last
    image of a repeated id and gives it the persons of both), annotation ids unique, and
    some annotation must be of a category the metainfo names (otherwise every person is
    skipped and the metrics come out -1).

    Raises:
        ValueError: naming the file and the offending ids or categories.
    """
    images = dataset.get('images') or []
    if not images:
        raise ValueError(f'{ann_file}: "images" is empty or missing: there is nothing to train '
                         'on or evaluate')
    bad_ids = [
        im.get('id') for im in images
        if not isinstance(im.get('id'), int) or isinstance(im.get('id'), bool)
    ]
    if bad_ids:
        raise ValueError(f'{ann_file}: image ids must be integers, as in COCO; got '
                         f'{len(bad_ids)} other(s): {_first(bad_ids)}')
    repeated = [i for i, n in Counter(im['id'] for im in images).items() if n > 1]
    if repeated:
        raise ValueError(f'{ann_file}: {len(repeated)} image id(s) appear more than once in '
                         f'"images" (e.g. {_first(repeated)}); each image needs its own id')
    annotations = dataset.get('annotations', [])
    repeated = [i for i, n in Counter(a.get('id') for a in annotations).items() if n > 1]
    if repeated:
        raise ValueError(f'{ann_file}: {len(repeated)} annotation id(s) appear more than once '
                         f'(e.g. {_first(repeated)}); each annotation needs its own id')
    wanted = person_category_ids(dataset, classes)
    found = sum(1 for a in annotations if a.get('category_id') in wanted)
    if not found:
        names = [c.get('name') for c in dataset.get('categories', [])]
        raise ValueError(
            f'{ann_file}: no person annotations found: the dataset reads categories named '
            f'{list(classes)}; the file has {len(annotations)} annotation(s) and the '
            f'categories {names}')


def person_category_ids(dataset: dict, classes: Sequence[str]) -> set:
    """Ids of the json's categories whose names are in ``classes``."""
    return {c['id'] for c in dataset.get('categories', []) if c.get('name') in classes}


def person_keypoints(ann: dict, num_keypoints: int, where: str) -> np.ndarray:
    """The checked box and keypoints of one person annotation.

    Args:
        ann: the annotation dict (``bbox``, ``keypoints``).
        num_keypoints: K of the metainfo.
        where: the annotation's description for messages (file, annotation and image id).

    Returns:
        np.ndarray: (K, 3) float32 keypoints (x, y, visibility), zeros when the annotation
        has none.

    Raises:
        ValueError: a missing or non-finite box, a keypoint list of another length than
        3 x K, or a non-finite keypoint.
    """
    if 'bbox' not in ann:
        raise ValueError(f'{where}: no `bbox`; every person annotation needs one, '
                         '[x, y, width, height] in pixels (COCO format)')
    box = np.asarray(ann['bbox'], dtype=np.float64).reshape(-1)
    if len(box) != 4 or not np.all(np.isfinite(box)):
        raise ValueError(f'{where}: `bbox` {ann["bbox"]} must be 4 finite numbers '
                         '[x, y, width, height]; it holds a non-finite number or another count')
    raw = ann.get('keypoints')
    if raw is None:
        return np.zeros((num_keypoints, 3), dtype=np.float32)
    if len(raw) != 3 * num_keypoints:
        raise ValueError(f'{where}: `keypoints` has {len(raw)} values, expected 3 x K = '
                         f'{3 * num_keypoints} (K={num_keypoints} from the dataset metainfo)')
    keypoints = np.asarray(raw, dtype=np.float32).reshape(num_keypoints, 3)
    if not np.all(np.isfinite(keypoints)):
        bad = int(np.flatnonzero(~np.isfinite(keypoints).all(axis=1))[0])
        raise ValueError(f'{where}: `keypoints` holds a non-finite number (keypoint {bad}: '
                         f'{raw[3 * bad:3 * bad + 3]})')
    return keypoints


def describe_annotation(ann_file: str, ann: dict, images: dict) -> str:
    image = images.get(ann.get('image_id'), {})
    return (f'{ann_file}: annotation id {ann.get("id")} of image id {ann.get("image_id")} '
            f'({image.get("file_name", "?")})')


def checked_ground_truth(dataset: dict,
                         ann_file: str,
                         classes: Sequence[str],
                         num_keypoints: int,
                         use_area: bool = True) -> Tuple[dict, List[str]]:
    """The json made safe for pycocotools' keypoint and box evaluation.

    Checks the structure (:func:`check_coco_structure`) and every person annotation
    (:func:`person_keypoints`), sets each ``num_keypoints`` to its labelled keypoints, each
    missing or non-positive ``area`` (every area unless ``use_area``) to 0.53 x the box
    area, and refuses a set with no person to score: all of them crowd regions or without
    a labelled keypoint (COCOeval would print -1 for every metric).

    Args:
        dataset: the loaded json, changed in place.
        ann_file: its name, for messages.
        classes: the person category names of the metainfo.
        num_keypoints: K of the metainfo.
        use_area: keep the json's positive areas (False: CrowdPose, 0.53 x box everywhere).

    Returns:
        tuple: the json, and one line per kind of correction made (for a warning).
    """
    check_coco_structure(dataset, ann_file, classes)
    images = {im['id']: im for im in dataset['images']}
    wanted = person_category_ids(dataset, classes)
    recounted, areas, scorable = [], [], 0
    for ann in dataset.get('annotations', []):
        if ann.get('category_id') not in wanted:
            continue
        where = describe_annotation(ann_file, ann, images)
        if ann.get('image_id') not in images:
            raise ValueError(f'{where}: the image id is not in "images"')
        labelled = int((person_keypoints(ann, num_keypoints, where)[:, 2] > 0).sum())
        if ann.get('num_keypoints') != labelled:
            recounted.append(f'{where}: num_keypoints={ann.get("num_keypoints")}, {labelled} '
                             'labelled')
            ann['num_keypoints'] = labelled
        area = ann.get('area')
        if not use_area or not isinstance(area, (int, float)) or not area > 0:
            if use_area:
                areas.append(f'{where}: area={area!r}')
            ann['area'] = float(ann['bbox'][2] * ann['bbox'][3]) * BOX_AREA_RATIO
        scorable += int(labelled > 0 and not ann.get('iscrowd', 0))
    if not scorable:
        raise ValueError(f'{ann_file}: no person to score: every person annotation is a crowd '
                         'region (iscrowd=1) or has no labelled keypoint, so COCOeval would '
                         'give -1 for every keypoint metric')
    corrections = []
    if recounted:
        corrections.append(f'{len(recounted)} annotation(s) have a `num_keypoints` that differs '
                           'from the number of labelled keypoints (v > 0); it is set to that '
                           f'number, which pycocotools reads (first: {recounted[0]})')
    if areas:
        corrections.append(f'{len(areas)} annotation(s) have no positive `area`: their OKS area '
                           f'is {BOX_AREA_RATIO} x the box area, as CrowdPose evaluates '
                           f'(first: {areas[0]})')
    return dataset, corrections


def warn_corrections(corrections: List[str]) -> None:
    for line in corrections:
        warnings.warn(line, AnnotationWarning)


def load_checked_coco(ann_file: str,
                      classes: Sequence[str],
                      num_keypoints: int,
                      use_area: bool = True,
                      local_path: Optional[str] = None):
    """pycocotools' ``COCO`` of ``ann_file`` after :func:`checked_ground_truth`, its
    corrections warned once each (:class:`AnnotationWarning`)."""
    from pycocotools.coco import COCO
    dataset, corrections = checked_ground_truth(
        read_annotation_json(ann_file, local_path), ann_file, classes, num_keypoints, use_area)
    warn_corrections(corrections)
    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        coco.createIndex()
    return coco
