"""Given person boxes for the keypoint branch: ground truth, or a detection file in COCO
results format, the protocols top-down methods report keypoint AP under."""
import json
import os
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.fileio import get_local_path

# The ``person_boxes`` setting that takes the annotation file's own person boxes.
GROUND_TRUTH = 'gt'

PersonBoxes = Tuple[np.ndarray, np.ndarray]  # (N, 4) x1, y1, x2, y2 and (N,) scores
# How a detection file writes its boxes: COCO results format [x, y, w, h], or x1, y1, x2, y2.
BOX_FORMATS = ('xywh', 'xyxy')


def describe_person_boxes(source: str,
                          score_thr: float = 0.0,
                          max_persons_per_img: Optional[int] = None) -> str:
    """How a table names the boxes its numbers were computed on."""
    if source == GROUND_TRUTH:
        return 'ground-truth person boxes'
    limits = [f'score >= {score_thr:g}'] if score_thr > 0 else []
    if max_persons_per_img is not None:
        limits.append(f'at most {max_persons_per_img} per image')
    return f'person boxes of {source}' + (f' ({", ".join(limits)})' if limits else '')


def load_person_box_file(path: str,
                         image_ids: Iterable[int],
                         category_ids: Iterable[int],
                         score_thr: float = 0.0,
                         max_persons_per_img: Optional[int] = None,
                         image_sizes: Optional[Dict[int, Tuple[int, int]]] = None,
                         box_format: str = 'xywh') -> Tuple[Dict[int, PersonBoxes], dict]:
    """Person detections per image from a COCO results-format json.

    The file is a list of ``{"image_id": int, "bbox": [x, y, w, h], "score": float}`` (and
    optionally ``"category_id"``: entries of other categories than ``category_ids`` are left
    out, so a multi-class detection file works). Boxes scoring below ``score_thr`` are left
    out, and at most ``max_persons_per_img`` of the best of each image are kept, as top-down
    pipelines filter their detector's output.

    Args:
        path: the detection file.
        image_ids: the ids of the images of the annotation file; a detection on any other
            image is an error (the file belongs to another split or dataset).
        category_ids: the person category ids of the annotation file.
        score_thr: lowest score kept.
        max_persons_per_img: cap on boxes per image (best first); None keeps all.
        image_sizes: ``{image_id: (width, height)}``; with them a file whose boxes mostly
            reach past their images as [x, y, w, h] but fit as x1, y1, x2, y2 (the usual
            mistake with a detector's raw output) is refused, naming an example.
        box_format: ``'xywh'`` (COCO results format) or ``'xyxy'`` (x1, y1, x2, y2, taken
            as such).

    Returns:
        tuple: ``{image_id: (boxes (N, 4) float32 x1 y1 x2 y2, scores (N,) float32)}`` with
        an entry for every image (N may be 0, best first), and counts: ``entries``,
        ``kept``, ``other_category``, ``below_thr``, ``over_cap``, ``empty_box`` and
        ``images_without_box``.
    """
    return load_person_box_file_entries(
        read_detection_file(path), path, image_ids, category_ids, score_thr, max_persons_per_img,
        image_sizes, box_format)


def read_detection_file(path: str) -> list:
    """The list of detections of a COCO results-format json."""
    with get_local_path(path) as local_path:
        try:
            with open(local_path) as f:
                entries = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f'person box file {path} is not valid JSON: {e}') from e
    if not isinstance(entries, list):
        raise ValueError(f'person box file {path}: expected a list of detections in COCO '
                         'results format ([{"image_id", "bbox": [x, y, w, h], "score"}, ...]), '
                         f'got a {type(entries).__name__}')
    return entries


def load_person_box_file_entries(entries: list,
                                 path: str,
                                 image_ids: Iterable[int],
                                 category_ids: Iterable[int],
                                 score_thr: float = 0.0,
                                 max_persons_per_img: Optional[int] = None,
                                 image_sizes: Optional[Dict[int, Tuple[int, int]]] = None,
                                 box_format: str = 'xywh'):
    """:func:`load_person_box_file` on the already read ``entries`` of ``path``."""
    if box_format not in BOX_FORMATS:
        raise ValueError(f'person box format {box_format!r}: expected one of {BOX_FORMATS}')
    if max_persons_per_img is not None and int(max_persons_per_img) < 1:
        raise ValueError(
            f'person boxes: max_persons_per_img must be at least 1, got {max_persons_per_img}')
    image_ids = set(int(i) for i in image_ids)
    category_ids = set(int(i) for i in category_ids)
    counts = dict.fromkeys(
        ('kept', 'other_category', 'below_thr', 'over_cap', 'empty_box', 'images_without_box'), 0)
    counts['entries'] = len(entries)
    per_image: Dict[int, list] = {img_id: [] for img_id in image_ids}
    unknown_ids = []
    for index, entry in enumerate(entries):
        where = f'person box file {path}: entry {index}'
        if not isinstance(entry, dict) or not {'image_id', 'bbox', 'score'} <= set(entry):
            raise ValueError(f'{where} must have "image_id", "bbox" ([x, y, w, h]) and "score"'
                             f', got {entry!r:.200}')
        if 'category_id' in entry and int(entry['category_id']) not in category_ids:
            counts['other_category'] += 1
            continue
        image_id = entry['image_id']
        if not isinstance(image_id, int) or isinstance(image_id, bool):
            raise ValueError(f'{where}: image_id {image_id!r} is not an integer')
        box = np.asarray(entry['bbox'], dtype=np.float64)
        score = float(entry['score'])
        if box.shape != (4, ) or not np.all(np.isfinite(box)) or not np.isfinite(score):
            raise ValueError(f'{where} (image id {image_id}): "bbox" must be 4 finite numbers '
                             f'[x, y, w, h] and "score" finite, got {entry["bbox"]!r}, '
                             f'{entry["score"]!r}')
        if image_id not in image_ids:
            unknown_ids.append(image_id)
            continue
        if box_format == 'xyxy':
            box = np.concatenate([box[:2], box[2:] - box[:2]])
        if score < score_thr:
            counts['below_thr'] += 1
            continue
        if box[2] <= 0 or box[3] <= 0:
            counts['empty_box'] += 1
            continue
        per_image[image_id].append((score, box))
    if unknown_ids:
        unique = sorted(set(unknown_ids))
        raise ValueError(
            f'person box file {path}: {len(unknown_ids)} detection(s) on {len(unique)} image '
            f'id(s) that the annotation file does not have (e.g. {unique[:5]}): the file '
            'belongs to another split or dataset')
    if image_sizes is not None and box_format == 'xywh':
        check_boxes_are_xywh(per_image, image_sizes, path)
    boxes_per_image: Dict[int, PersonBoxes] = {}
    for image_id, found in per_image.items():
        # Best first; a stable sort keeps the file's order among equal scores.
        found.sort(key=lambda item: -item[0])
        if max_persons_per_img is not None and len(found) > max_persons_per_img:
            counts['over_cap'] += len(found) - max_persons_per_img
            found = found[:max_persons_per_img]
        boxes = np.array([box for _, box in found], dtype=np.float64).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]  # x, y, w, h -> x1, y1, x2, y2
        scores = np.array([score for score, _ in found], dtype=np.float32)
        boxes_per_image[image_id] = (boxes.astype(np.float32), scores)
        counts['kept'] += len(found)
        counts['images_without_box'] += int(len(found) == 0)
    return boxes_per_image, counts


def check_boxes_are_xywh(per_image: Dict[int, list],
                         image_sizes: Dict[int, Tuple[int, int]],
                         path: str,
                         tolerance: float = 0.1) -> None:
    """Refuse boxes that look like x1, y1, x2, y2: most of them reach more than
    ``tolerance`` of the image size past its right or bottom edge when read as
    [x, y, w, h], and more of them fit when read as x1, y1, x2, y2."""
    past_as_xywh, past_as_xyxy, total, example = 0, 0, 0, None
    for image_id, found in per_image.items():
        width, height = image_sizes[image_id]
        limit = np.array([width, height]) * (1 + tolerance)
        for _, box in found:
            total += 1
            if np.any(box[:2] + box[2:] > limit):
                past_as_xywh += 1
                example = example or (image_id, box.tolist(), width, height)
            past_as_xyxy += int(np.any(box[2:] > limit) or np.any(box[2:] <= box[:2]))
    if total and past_as_xywh > total / 2 and past_as_xyxy < past_as_xywh:
        image_id, box, width, height = example
        raise ValueError(
            f'person box file {path}: {past_as_xywh} of {total} boxes reach past their image '
            f'when read as [x, y, w, h] (e.g. image id {image_id}, {width}x{height}: bbox '
            f'{box}), {past_as_xyxy} when read as x1, y1, x2, y2: the file looks like x1, y1, '
            'x2, y2. COCO results format is [x, y, w, h]: convert the file, or take it as it '
            "is with person_box_format='xyxy' (tools/test.py --person-box-format xyxy)")


def image_key(path: str) -> Tuple[str, Optional[int]]:
    """The two ways a detection entry can name an image file: its base name, and the integer
    of its name without extension (COCO names its images by id: ``000000000785.jpg``)."""
    name = os.path.basename(path)
    stem = os.path.splitext(name)[0]
    return name, int(stem) if stem.isdigit() else None


def person_boxes_for_images(path: str,
                            image_paths: Sequence[str],
                            score_thr: float = 0.0,
                            max_persons_per_img: Optional[int] = None) -> List[np.ndarray]:
    """Person boxes of each image file from a detection file, for the demo.

    Entries name their image by ``file_name`` (base name), or by ``image_id``, which is then
    the number in the image's file name (COCO's naming). Entries of another category than
    1 (COCO's person) are left out when ``category_id`` is given.

    Returns:
        list[np.ndarray]: per image, (N, 5) float32 x1, y1, x2, y2, score, best first
        (N may be 0: no person is predicted on that image).
    """
    entries = read_detection_file(path)
    keys = [image_key(p) for p in image_paths]
    by_name = {name: i for i, (name, _) in enumerate(keys)}
    by_id = {number: i for i, (_, number) in enumerate(keys) if number is not None}
    ids = list(range(len(image_paths)))
    remapped = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ValueError(f'person box file {path}: entry {index} is not an object')
        if 'file_name' in entry:
            target = by_name.get(os.path.basename(str(entry['file_name'])))
        else:
            target = by_id.get(entry.get('image_id'))
        if target is not None:
            remapped.append({**entry, 'image_id': target})
    if entries and not remapped:
        raise ValueError(f'person box file {path}: none of its {len(entries)} detections names '
                         f'one of the {len(image_paths)} input images (by "file_name", or by '
                         '"image_id" equal to the number in the file name)')
    boxes, _ = load_person_box_file_entries(remapped, path, ids, [1], score_thr,
                                            max_persons_per_img)
    return [np.concatenate([boxes[i][0], boxes[i][1][:, None]], axis=1) for i in ids]
