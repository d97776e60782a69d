"""A synthetic video's ground truth for tracking: stick figures with known identities that
walk, cross each other, leave and re-enter the frame and are hidden for a few frames, and
the noisy, incomplete detections a pose model would give of them."""
from typing import Dict, List

import numpy as np

# A frontal figure of height 1, hip centre at the origin, y down (COCO keypoint order).
_TEMPLATE = np.array([
    [0.0, -0.84],
    [0.03, -0.87],
    [-0.03, -0.87],
    [0.06, -0.85],
    [-0.06, -0.85],  # head
    [0.11, -0.72],
    [-0.11, -0.72],
    [0.14, -0.48],
    [-0.14, -0.48],  # shoulders, elbows
    [0.15, -0.25],
    [-0.15, -0.25],
    [0.08, 0.0],
    [-0.08, 0.0],  # wrists, hips
    [0.09, 0.26],
    [-0.09, 0.26],
    [0.09, 0.5],
    [-0.09, 0.5]  # knees, ankles
])
# (keypoint, +1 / -1): which way each limb keypoint swings with the walking phase
_SWING = {7: -1, 9: -1, 8: 1, 10: 1, 13: 1, 15: 1, 14: -1, 16: -1}


def walker_pose(height: float, foot_x: float, foot_y: float, phase: float) -> np.ndarray:
    """(17, 2) keypoints of a walking figure of ``height`` pixels whose ankles are at
    ``foot_y``, centred on ``foot_x``, at walking ``phase`` (radians)."""
    pose = _TEMPLATE.copy()
    for k, sign in _SWING.items():
        reach = 0.12 if k in (9, 10, 15, 16) else 0.06
        pose[k, 0] += sign * reach * np.sin(phase)
    pose = pose * height
    pose[:, 0] += foot_x
    pose[:, 1] += foot_y - 0.5 * height
    return pose


def synthetic_tracks(num_frames: int = 150,
                     width: int = 1280,
                     height: int = 720,
                     fps: float = 25.0) -> List[Dict[str, np.ndarray]]:
    """Ground truth of each frame: ``ids`` (M,), ``bboxes`` (M, 4), ``keypoints`` (M, 17, 2)
    and ``hidden`` (M,) (True while a person is occluded: in the ground truth, not in the
    detections).

    Persons: 0 walks left to right across the whole clip; 1, smaller (further away), walks
    the other way and crosses 0; 2 leaves at the right edge, stays out for 20 frames and
    comes back; 3 paces on the spot and is hidden for 7 frames in the middle.
    """
    frames = []
    for f in range(num_frames):
        t = f / fps
        people = []
        people.append((0, 300, 100 + 6 * f, 650, 4 * t))
        people.append((1, 210, width - 130 - 7 * f, 560, 4.5 * t))
        x2 = 900 + 5 * f if f < 80 else 1300 - 5 * (f - 100)
        if f < 80 or f >= 100:
            people.append((2, 260, x2, 620, 3.5 * t))
        people.append((3, 240, 300 + 40 * np.sin(0.8 * t), 600, 2 * t))
        ids, boxes, poses, hidden = [], [], [], []
        for pid, h, x, y, phase in people:
            pose = walker_pose(h, x, y, phase)
            if pose[:, 0].mean() < 0 or pose[:, 0].mean() > width:
                continue  # out of the frame
            ids.append(pid)
            poses.append(pose)
            boxes.append(np.concatenate([pose.min(axis=0), pose.max(axis=0)]))
            hidden.append(pid == 3 and 60 <= f < 67)
        frames.append(
            dict(
                ids=np.asarray(ids, dtype=np.int64),
                bboxes=np.asarray(boxes).reshape(-1, 4),
                keypoints=np.asarray(poses).reshape(-1, 17, 2),
                hidden=np.asarray(hidden, dtype=bool)))
    return frames


def noisy_detections(frames: List[Dict[str, np.ndarray]],
                     seed: int = 0,
                     noise: float = 0.02,
                     drop: float = 0.1) -> List[Dict[str, np.ndarray]]:
    """The detections of a pose model on ``frames``: keypoints moved by Gaussian noise of
    ``noise`` x the person scale sqrt(box area), ``drop`` of the persons missed at random
    (and the hidden ones always), scores in [0.5, 1), the persons in a shuffled order."""
    rng = np.random.default_rng(seed)
    detections = []
    for frame in frames:
        keep = ~frame['hidden'] & (rng.random(len(frame['ids'])) >= drop)
        boxes = frame['bboxes'][keep]
        scale = np.sqrt(np.prod(boxes[:, 2:] - boxes[:, :2], axis=1))
        kpts = frame['keypoints'][keep] + rng.normal(
            0, 1, (int(keep.sum()), 17, 2)) * noise * scale[:, None, None]
        order = rng.permutation(len(boxes))
        detections.append(
            dict(
                bboxes=np.concatenate([kpts.min(axis=1), kpts.max(axis=1)], axis=1)[order],
                scores=rng.uniform(0.5, 1.0, len(boxes)),
                keypoints=kpts[order],
                keypoint_scores=np.full((len(boxes), 17), 0.9),
                gt_ids=frame['ids'][keep][order]))
    return detections
