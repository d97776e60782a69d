"""A synthetic COCO-format person-keypoint dataset, generated in code.

Each image holds a few articulated stick figures (head, torso, two-segment arms and legs)
with the 17 COCO keypoints, at varied scale, pose and overlap, on a cluttered background.
It lets a fresh clone train and evaluate end to end with no download, and gives tests a
dataset whose ground truth is exact.

Figures face the camera, so a person's left keypoints appear on the image's right, as in
COCO; left limbs are drawn in a lighter shade than right limbs.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

COCO_KEYPOINT_NAMES = ('nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder',
                       'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist',
                       'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle',
                       'right_ankle')
# COCO's skeleton, 1-based as in the official annotation files.
COCO_SKELETON = ((16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6,
                                                                                              8),
                 (7, 9), (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7))

# Version of the generator: bump when the drawing changes so that cached sets are redone.
GENERATOR_VERSION = 1


def _figure_keypoints(rng: np.random.Generator, height: float) -> np.ndarray:
    """Keypoints of one figure in a local frame, hip centre at the origin.

    Args:
        rng: random generator.
        height: figure height in pixels (top of head to ankles).

    Returns:
        np.ndarray: (17, 2) keypoints (x, y) in COCO order, y pointing down.
    """
    h = height
    lean = rng.normal(0.0, 0.12)  # torso tilt (radians)
    kpts = np.zeros((17, 2), dtype=np.float64)
    shoulder_centre = np.array([np.sin(lean), -np.cos(lean)]) * 0.3 * h
    across = np.array([np.cos(lean), np.sin(lean)])  # from the figure's right to its left
    kpts[5] = shoulder_centre + across * 0.11 * h  # left shoulder (image right)
    kpts[6] = shoulder_centre - across * 0.11 * h
    kpts[11] = across * 0.075 * h  # left hip
    kpts[12] = -across * 0.075 * h
    head_turn = rng.uniform(-0.015, 0.015) * h
    nose = shoulder_centre + np.array([np.sin(lean), -np.cos(lean)]) * 0.13 * h
    nose[0] += head_turn
    kpts[0] = nose
    kpts[1] = nose + np.array([0.025 * h, -0.025 * h])
    kpts[2] = nose + np.array([-0.025 * h, -0.025 * h])
    kpts[3] = nose + np.array([0.055 * h - head_turn, -0.005 * h])
    kpts[4] = nose + np.array([-0.055 * h - head_turn, -0.005 * h])

    def limb(start: np.ndarray, angle: float, length: float) -> np.ndarray:
        return start + length * np.array([np.sin(angle), np.cos(angle)])

    # Angles from straight down; positive swings towards the image right.
    for side, sign in ((0, 1.0), (1, -1.0)):  # 0: left (image right), 1: right
        upper = sign * rng.uniform(0.1, 1.6)
        lower = upper + sign * rng.uniform(-0.3, 1.8)
        kpts[7 + side] = limb(kpts[5 + side], upper, 0.15 * h)
        kpts[9 + side] = limb(kpts[7 + side], lower, 0.14 * h)
        thigh = sign * rng.uniform(-0.05, 0.45)
        shin = thigh + rng.uniform(-0.35, 0.35)
        kpts[13 + side] = limb(kpts[11 + side], thigh, 0.23 * h)
        kpts[15 + side] = limb(kpts[13 + side], shin, 0.23 * h)
    return kpts


def _draw_figure(canvas: np.ndarray, kpts: np.ndarray, height: float, colour: Tuple[int, int,
                                                                                    int]) -> None:
    """Draw a figure in place: limbs as thick lines, torso as a polygon, head as a disc."""
    thickness = max(2, int(round(0.045 * height)))
    lighter = tuple(int(min(255, c + 70)) for c in colour)
    pts = np.round(kpts).astype(np.int32)
    torso = pts[[5, 6, 12, 11]]
    cv2.fillConvexPoly(canvas, torso, colour, lineType=cv2.LINE_AA)
    for (a, b), shade in (((5, 7), lighter), ((7, 9), lighter), ((11, 13), lighter),
                          ((13, 15), lighter), ((6, 8), colour), ((8, 10), colour),
                          ((12, 14), colour), ((14, 16), colour)):
        cv2.line(canvas, tuple(pts[a]), tuple(pts[b]), shade, thickness, cv2.LINE_AA)
    head_radius = max(2, int(round(0.065 * height)))
    head_centre = tuple(np.round((kpts[3] + kpts[4]) / 2).astype(np.int32))
    cv2.circle(canvas, head_centre, head_radius, colour, -1, cv2.LINE_AA)
    # Face marks, so that eyes and nose have something to be found on.
    for idx, mark in ((0, (40, 40, 200)), (1, (250, 250, 250)), (2, (250, 250, 250))):
        cv2.circle(canvas, tuple(pts[idx]), max(1, thickness // 3), mark, -1, cv2.LINE_AA)


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A smooth random gradient with a few random shapes as clutter, (H, W, 3) uint8."""
    low = rng.uniform(40, 200, size=(3, 3, 3))
    image = cv2.resize(low, (width, height), interpolation=cv2.INTER_CUBIC)
    image = np.clip(image + rng.normal(0, 6, size=image.shape), 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(2, 7))):
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        if rng.random() < 0.5:
            x1 = x0 + int(rng.integers(10, width // 3))
            y1 = y0 + int(rng.integers(10, height // 3))
            cv2.rectangle(image, (x0, y0), (x1, y1), colour, -1)
        else:
            axes = (int(rng.integers(5, width // 6)), int(rng.integers(5, height // 6)))
            cv2.ellipse(image, (x0, y0), axes, float(rng.uniform(0, 180)), 0, 360, colour, -1)
    return image


def render_synthetic_image(
    rng: np.random.Generator,
    image_size: Tuple[int, int] = (256, 320),
    num_persons: Tuple[int, int] = (1, 4),
    height_range: Tuple[float, float] = (0.35, 0.9)
) -> Tuple[np.ndarray, List[Dict]]:
    """Render one image and its person annotations.

    Args:
        rng: random generator.
        image_size: (height, width) in pixels.
        num_persons: inclusive range of figures per image.
        height_range: figure height as a fraction of the image height.

    Returns:
        tuple: the (H, W, 3) uint8 BGR image and a list of COCO annotation dicts without
        ``id`` and ``image_id`` (bbox, area, keypoints, num_keypoints, iscrowd, category_id).
    """
    img_h, img_w = image_size
    image = _background(rng, img_h, img_w)
    annotations = []
    count = int(rng.integers(num_persons[0], num_persons[1] + 1))
    for _ in range(count):
        fig_h = rng.uniform(*height_range) * img_h
        kpts = _figure_keypoints(rng, fig_h)
        # Place the figure so that most of it lies in the image (some may be cut off).
        top = kpts[:, 1].min() - 0.07 * fig_h
        kpts[:, 0] += rng.uniform(0.1, 0.9) * img_w
        kpts[:, 1] += rng.uniform(-top - 0.05 * fig_h, img_h - kpts[:, 1].max() + 0.05 * fig_h)
        colour = tuple(int(c) for c in rng.integers(20, 185, size=3))
        mask = np.zeros((img_h, img_w), dtype=np.uint8)
        _draw_figure(mask, kpts, fig_h, (255, 255, 255))
        _draw_figure(image, kpts, fig_h, colour)
        ys, xs = np.nonzero(mask)
        if len(xs) < 20:
            continue
        x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
        inside = ((kpts[:, 0] >= 0) & (kpts[:, 0] < img_w) & (kpts[:, 1] >= 0) &
                  (kpts[:, 1] < img_h))
        coco_kpts = np.zeros((17, 3), dtype=np.float64)
        coco_kpts[inside, :2] = np.round(kpts[inside], 2)
        coco_kpts[inside, 2] = 2
        annotations.append(
            dict(
                bbox=[float(x0), float(y0), float(x1 - x0),
                      float(y1 - y0)],
                area=float(len(xs)),
                keypoints=coco_kpts.reshape(-1).tolist(),
                num_keypoints=int(inside.sum()),
                iscrowd=0,
                category_id=1))
    return image, annotations


def make_synthetic_coco(out_dir: str,
                        splits: Optional[Dict[str, int]] = None,
                        image_size: Tuple[int, int] = (256, 320),
                        seed: int = 0) -> Dict[str, str]:
    """Write a synthetic COCO person-keypoint dataset to ``out_dir``.

    Layout: ``out_dir/<split>/<id>.jpg`` and ``out_dir/annotations/person_keypoints_<split>.json``.
    A set already generated with the same arguments is left as it is.

    Args:
        out_dir: output folder.
        splits: images per split, default ``{'train': 64, 'val': 16}``.
        image_size: (height, width) of every image.
        seed: seed of the generator; each split draws from its own stream.

    Returns:
        dict: split name -> annotation file path.
    """
    splits = dict(train=64, val=16) if splits is None else splits
    settings = dict(
        version=GENERATOR_VERSION, splits=splits, image_size=list(image_size), seed=seed)
    stamp_path = osp.join(out_dir, 'synthetic_settings.json')
    ann_files = {
        split: osp.join(out_dir, 'annotations', f'person_keypoints_{split}.json')
        for split in splits
    }
    if osp.exists(stamp_path) and all(osp.exists(p) for p in ann_files.values()):
        with open(stamp_path) as f:
            if json.load(f) == settings:
                return ann_files

    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    category = dict(
        id=1,
        name='person',
        supercategory='person',
        keypoints=list(COCO_KEYPOINT_NAMES),
        skeleton=[list(link) for link in COCO_SKELETON])
    next_ann_id = 1
    for split_index, (split, num_images) in enumerate(splits.items()):
        rng = np.random.default_rng([seed, split_index])
        os.makedirs(osp.join(out_dir, split), exist_ok=True)
        images, annotations = [], []
        for image_index in range(num_images):
            image_id = split_index * 1_000_000 + image_index + 1
            file_name = f'{image_id:012d}.jpg'
            image, anns = render_synthetic_image(rng, image_size)
            cv2.imwrite(osp.join(out_dir, split, file_name), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
            images.append(
                dict(id=image_id, file_name=file_name, height=image_size[0], width=image_size[1]))
            for ann in anns:
                annotations.append(dict(ann, id=next_ann_id, image_id=image_id))
                next_ann_id += 1
        with open(ann_files[split], 'w') as f:
            json.dump(dict(images=images, annotations=annotations, categories=[category]), f)
    with open(stamp_path, 'w') as f:
        json.dump(settings, f)
    return ann_files
