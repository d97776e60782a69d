"""Persons tracked across video frames with stable ids, and their keypoints smoothed.

:class:`PoseTracker` works on any sequence of per-frame results (``bboxes`` (N, 4),
``scores`` (N,), ``keypoints`` (N, K, 2), ``keypoint_scores`` (N, K), as
:func:`~hrpose.apis.inference_keypoints` returns them):

- each frame's persons are associated with the live tracks by the Hungarian algorithm
  (``scipy.optimize.linear_sum_assignment``) on a similarity that mixes the OKS of the two
  poses (the dataset's sigmas) and the IoU of the two boxes, against each track's last pose
  moved on by the track's velocity (a constant-velocity model of the box centre, in pixels
  per second, so a missed frame or a variable frame rate does not leave the track behind);
- two score thresholds as ByteTrack does (Zhang et al., ECCV 2022): confident persons are
  associated first, then the low-score ones may keep the remaining tracks alive, but never
  start one;
- a track that finds no person for ``track_buffer`` frames ends; a new id is given only to an
  unmatched confident person with at least ``min_keypoints`` visible keypoints;
- a track the detector misses for at most ``max_predicted_frames`` frames is bridged online:
  its predicted person (the last pose moved by the velocity) is output with
  ``predicted=True``, as a Kalman-filter tracker outputs its prediction, so a person missed in
  one frame does not flicker out of the video;
- optionally each track's keypoints go through the One Euro filter (Casiez, Roussel and
  Vogel, CHI 2012), which smooths a still keypoint strongly and a fast one little, with the
  time between frames taken from the timestamps (or the frame rate).

:class:`GreedyIoUTracker` is the plain rule of mmpose 0.x's ``get_track_id``, kept as the
baseline the benchmark and tests compare with.
"""
import math
from typing import Dict, List, Optional, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU (N, M) of boxes (N, 4) and (M, 4), x1 y1 x2 y2."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None] - inter, 1e-9)


def pose_oks(kpts_a: np.ndarray, visible_a: np.ndarray, kpts_b: np.ndarray, visible_b: np.ndarray,
             areas_b: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """OKS (N, M) of poses (N, K, 2) with poses (M, K, 2), over the keypoints visible in
    both (0 where none is), the scale being the area of ``b``'s boxes."""
    squared = ((kpts_a[:, None] - kpts_b[None])**2).sum(-1)  # (N, M, K)
    terms = np.exp(-squared / (2 * np.maximum(areas_b, 1.0)[None, :, None] * (2 * sigmas)**2))
    both = visible_a[:, None] & visible_b[None]
    count = both.sum(-1)
    return np.where(count > 0, (terms * both).sum(-1) / np.maximum(count, 1), 0.0)


class OneEuroFilter:
    """The One Euro filter of one signal (any shape), frame-rate aware.

    Per sample: the derivative is low-passed with cutoff ``d_cutoff``; the signal is
    low-passed with cutoff ``min_cutoff + beta * |derivative|``; each low pass has the
    smoothing factor ``alpha = 1 / (1 + tau / dt)`` with ``tau = 1 / (2 pi cutoff)``.

    Args:
        min_cutoff: the cutoff (Hz) of a still signal: lower, smoother and laggier.
        beta: how fast the cutoff grows with speed: higher, less lag on fast moves.
        d_cutoff: the cutoff (Hz) of the derivative.
    """

    def __init__(self, min_cutoff: float = 0.3, beta: float = 0.12, d_cutoff: float = 0.2):
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError(f'One Euro filter: min_cutoff ({min_cutoff}) and d_cutoff '
                             f'({d_cutoff}) must be positive and beta ({beta}) not negative')
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self._value = self._derivative = None

    @staticmethod
    def _alpha(cutoff, dt: float):
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, value: np.ndarray, dt: float) -> np.ndarray:
        value = np.asarray(value, dtype=np.float64)
        if self._value is None or dt <= 0:
            self._value, self._derivative = value.copy(), np.zeros_like(value)
            return value
        derivative = (value - self._value) / dt
        a_d = self._alpha(self.d_cutoff, dt)
        self._derivative = a_d * derivative + (1 - a_d) * self._derivative
        cutoff = self.min_cutoff + self.beta * np.abs(self._derivative)
        a = self._alpha(cutoff, dt)
        self._value = a * value + (1 - a) * self._value
        return self._value.copy()


class _Track:
    """One person's track: its last observed box (4,), keypoints (K, 2), visibility (K,),
    scores and time, and the velocity (2,) of its keypoints' centre (of its box's centre
    when no keypoint is seen twice) in pixels per second."""

    def __init__(self, track_id: int, frame: int, time: float, box, score, keypoints,
                 keypoint_scores, visible, smoothing):
        self.id, self.first, self.last = track_id, frame, frame
        self.length, self.box, self.keypoints, self.visible = 1, box, keypoints, visible
        self.score, self.keypoint_scores, self.time = score, keypoint_scores, time
        self.velocity = np.zeros(2)
        self.filter = OneEuroFilter(**smoothing) if smoothing is not None else None

    def shift(self, time: float) -> np.ndarray:
        """(2,) how far the constant-velocity model moves the person by ``time``."""
        return self.velocity * (time - self.time)


class PoseTracker:
    """Stable ids for the persons of consecutive frames (see the module).

    Args:
        sigmas: (K,) OKS sigmas of the dataset.
        high_score_thr: persons at or above it are associated first and may start tracks.
        low_score_thr: persons below it are left out; those between the two thresholds may
            only keep existing tracks alive.
        match_thr: the least similarity of an association.
        oks_weight: similarity = ``oks_weight * OKS + (1 - oks_weight) * IoU``.
        track_buffer: frames a track may go without a person before it ends.
        min_keypoints: visible keypoints a person needs to start a track.
        kpt_thr: a keypoint is visible above this score.
        smoothing: ``dict(min_cutoff=..., beta=..., d_cutoff=...)`` for the One Euro filter
            of each track's keypoints, or None (no smoothing).
        fps: the frame rate used when :meth:`update` is given no timestamp.
        velocity_momentum: weight of the newest measurement in each track's running
            velocity (0: no motion model, the last pose is matched where it was).
        max_predicted_frames: a track missed for at most this many frames in a row is output
            as its predicted person (``predicted`` True); 0: never.
    """

    def __init__(self,
                 sigmas: Sequence[float],
                 high_score_thr: float = 0.5,
                 low_score_thr: float = 0.1,
                 match_thr: float = 0.2,
                 oks_weight: float = 0.5,
                 track_buffer: int = 30,
                 min_keypoints: int = 3,
                 kpt_thr: float = 0.3,
                 smoothing: Optional[dict] = None,
                 fps: float = 25.0,
                 velocity_momentum: float = 0.3,
                 max_predicted_frames: int = 2) -> None:
        if not 0 <= low_score_thr <= high_score_thr:
            raise ValueError(f'tracking: need 0 <= low_score_thr ({low_score_thr}) <= '
                             f'high_score_thr ({high_score_thr})')
        if not 0 <= oks_weight <= 1 or track_buffer < 0 or fps <= 0:
            raise ValueError('tracking: oks_weight must lie in [0, 1], track_buffer be >= 0 '
                             f'and fps > 0; got {oks_weight}, {track_buffer}, {fps}')
        if not 0 <= velocity_momentum <= 1 or not 0 <= max_predicted_frames <= track_buffer:
            raise ValueError('tracking: velocity_momentum must lie in [0, 1] and '
                             'max_predicted_frames in [0, track_buffer]; got '
                             f'{velocity_momentum}, {max_predicted_frames}')
        self.sigmas = np.asarray(sigmas, dtype=np.float64)
        self.high_score_thr, self.low_score_thr = high_score_thr, low_score_thr
        self.match_thr, self.oks_weight = match_thr, oks_weight
        self.track_buffer, self.min_keypoints, self.kpt_thr = track_buffer, min_keypoints, kpt_thr
        self.smoothing = dict(smoothing) if smoothing is not None else None
        if self.smoothing is not None:
            OneEuroFilter(**self.smoothing)  # a bad setting fails here, not at frame 1
        self.fps = fps
        self.velocity_momentum, self.max_predicted_frames = velocity_momentum, max_predicted_frames
        self.frame = -1
        self._time = None
        self._next_id = 0
        self.live: List[_Track] = []
        self.ended: List[_Track] = []

    def _similarity(self, tracks: List[_Track], boxes, keypoints, visible) -> np.ndarray:
        """(N, T) similarity of the N persons with the T tracks: the better of the track's
        last pose where it was and moved on by its velocity (a person may stop, turn, or
        come back where it left)."""
        if not tracks or not len(boxes):
            return np.zeros((len(boxes), len(tracks)))
        track_visible = np.stack([t.visible for t in tracks])
        best = np.zeros((len(boxes), len(tracks)))
        still = np.zeros((len(tracks), 2))
        moving = np.stack([t.shift(self._time) for t in tracks])
        for shifts in (still, moving):
            track_boxes = np.stack([t.box for t in tracks]) + np.tile(shifts, 2)
            areas = np.prod(np.clip(track_boxes[:, 2:] - track_boxes[:, :2], 0, None), axis=1)
            track_keypoints = np.stack([t.keypoints for t in tracks]) + shifts[:, None]
            oks = pose_oks(keypoints, visible, track_keypoints, track_visible, areas, self.sigmas)
            best = np.maximum(
                best, self.oks_weight * oks + (1 - self.oks_weight) * box_iou(boxes, track_boxes))
        return best

    def _associate(self, indices, tracks, boxes, keypoints, visible):
        """Hungarian matches (detection index, track) above ``match_thr``; the leftovers."""
        similarity = self._similarity(tracks, boxes[indices], keypoints[indices], visible[indices])
        matches = []
        if similarity.size:
            rows, cols = linear_sum_assignment(-similarity)
            matches = [(indices[r], tracks[c]) for r, c in zip(rows, cols)
                       if similarity[r, c] >= self.match_thr]
        used_d = {d for d, _ in matches}
        used_t = {id(t) for _, t in matches}
        return (matches, [i for i in indices
                          if i not in used_d], [t for t in tracks if id(t) not in used_t])

    def update(self, result: Dict[str, np.ndarray], timestamp: Optional[float] = None) -> dict:
        """Track one frame's persons.

        Args:
            result: ``bboxes`` (N, 4), ``scores`` (N,), ``keypoints`` (N, K, 2),
                ``keypoint_scores`` (N, K).
            timestamp: the frame's time in seconds (default: the previous one + 1 / fps).

        Returns:
            dict: ``result`` with ``track_ids`` (N,) int (-1: not tracked, a low-score person
            matching no track or one with too few keypoints to start one), ``predicted``
            (N,) bool (False for the N given persons) and, with smoothing, the tracked
            persons' ``keypoints`` smoothed; then the P bridged tracks' predicted persons
            appended to every array (``predicted`` True, their track's last scores), so each
            array has N + P rows.
        """
        self.frame += 1
        boxes = np.asarray(result['bboxes'], dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(result['scores'], dtype=np.float64).reshape(-1)
        keypoints = np.asarray(result['keypoints'], dtype=np.float64)
        keypoints = keypoints.reshape(0, len(self.sigmas), 2) if keypoints.size == 0 else \
            keypoints.reshape(len(boxes), -1, 2)
        if keypoints.shape[1] != len(self.sigmas):
            raise ValueError(f'tracking: the poses have K={keypoints.shape[1]} keypoints but '
                             f'the tracker has {len(self.sigmas)} sigmas')
        kpt_scores = np.asarray(
            result['keypoint_scores'], dtype=np.float64).reshape(keypoints.shape[:2])
        visible = kpt_scores > self.kpt_thr
        previous, self._time = self._time, (
            timestamp if timestamp is not None else
            ((self._time if self._time is not None else -1.0 / self.fps) + 1.0 / self.fps))
        dt = (self._time - previous) if previous is not None else 0.0
        if previous is not None and dt <= 0:
            raise ValueError(f'tracking: frame {self.frame} has timestamp {self._time}, not '
                             f'after the previous one ({previous})')

        confident = [i for i in np.argsort(-scores) if scores[i] >= self.high_score_thr]
        low = [
            i for i in np.argsort(-scores) if self.low_score_thr <= scores[i] < self.high_score_thr
        ]
        matches, unmatched, remaining = self._associate(confident, self.live, boxes, keypoints,
                                                        visible)
        low_matches, _, missed = self._associate(low, remaining, boxes, keypoints, visible)
        track_ids = np.full(len(boxes), -1, dtype=np.int64)
        smoothed = keypoints.copy()
        for index, track in matches + low_matches:
            self._extend(track, index, boxes, scores, keypoints, kpt_scores, visible, smoothed, dt)
            track_ids[index] = track.id
        for index in unmatched:
            if visible[index].sum() >= self.min_keypoints:
                track = _Track(self._next_id, self.frame, self._time, boxes[index], scores[index],
                               keypoints[index], kpt_scores[index], visible[index], self.smoothing)
                self._next_id += 1
                if track.filter is not None:
                    smoothed[index] = track.filter(keypoints[index], 0.0)
                self.live.append(track)
                track_ids[index] = track.id
        bridged = [
            t for t in missed if t.length > 1 and self.frame - t.last <= self.max_predicted_frames
        ]
        for track in list(self.live):
            if self.frame - track.last > self.track_buffer:
                self.live.remove(track)
                self.ended.append(track)
        out = dict(result, track_ids=track_ids, predicted=np.zeros(len(boxes), dtype=bool))
        if self.smoothing is not None:
            out['keypoints'] = smoothed.astype(np.float32)
        return self._append_predictions(out, bridged) if bridged else out

    def _append_predictions(self, out: dict, tracks: List[_Track]) -> dict:
        """``out`` with the predicted persons of ``tracks`` appended to each array."""
        shifts = np.stack([t.shift(self._time) for t in tracks])
        rows = dict(
            bboxes=np.stack([t.box for t in tracks]) + np.tile(shifts, 2),
            scores=np.array([t.score for t in tracks]),
            keypoints=np.stack([t.keypoints for t in tracks]) + shifts[:, None],
            keypoint_scores=np.stack([t.keypoint_scores for t in tracks]),
            track_ids=np.array([t.id for t in tracks], dtype=np.int64),
            predicted=np.ones(len(tracks), dtype=bool))
        return append_persons(out, rows)

    def _extend(self, track, index, boxes, scores, keypoints, kpt_scores, visible, smoothed,
                dt) -> None:
        both = visible[index] & track.visible
        elapsed = self._time - track.time
        if elapsed > 0 and self.velocity_momentum > 0:
            # The centre of the keypoints seen in both poses: far less noisy than a box
            # centre, which two extreme keypoints make; the box centre where none is.
            if both.any():
                moved = (keypoints[index][both] - track.keypoints[both]).mean(axis=0)
            else:
                moved = (boxes[index][:2] + boxes[index][2:] - track.box[:2] - track.box[2:]) / 2
            moved = moved / elapsed
            m = self.velocity_momentum if track.length > 1 else 1.0
            track.velocity = m * moved + (1 - m) * track.velocity
        # A track's pose keeps a keypoint it saw last time when that keypoint is hidden now,
        # moved on with the person.
        track.keypoints = np.where(visible[index][:, None], keypoints[index],
                                   track.keypoints + track.shift(self._time))
        track.visible = visible[index] | track.visible
        track.box, track.last, track.length = boxes[index], self.frame, track.length + 1
        track.score, track.keypoint_scores, track.time = (scores[index], kpt_scores[index],
                                                          self._time)
        if track.filter is not None:
            smoothed[index] = track.filter(keypoints[index], dt)

    def tracks(self) -> List[dict]:
        """Every track so far: ``id``, ``first_frame``, ``last_frame``, ``length`` (frames
        with a person)."""
        return [
            dict(id=t.id, first_frame=t.first, last_frame=t.last, length=t.length)
            for t in sorted(self.ended + self.live, key=lambda t: t.id)
        ]


def append_persons(frame: Dict[str, np.ndarray], rows: Dict[str, np.ndarray]) -> dict:
    """``frame`` with P more persons: each array of ``rows`` (P rows) appended to the
    frame's array of that key (read in the new rows' shape, so an empty (0,) array takes
    (0, K, 2) keypoints); every other per-person array of the frame (labels, flags) is
    padded with -1 (False for a bool array)."""
    num_given = len(np.asarray(frame['scores']).reshape(-1))
    num_new = len(next(iter(rows.values())))
    out = dict(frame)
    for key, new in rows.items():
        given = np.asarray(frame[key]).reshape((num_given, ) + new.shape[1:])
        out[key] = np.concatenate([given, new.astype(given.dtype)])
    for key, value in frame.items():
        if key not in rows and isinstance(value, np.ndarray) and value.shape[:1] == (num_given, ):
            fill = False if value.dtype == bool else -1
            out[key] = np.concatenate([value, np.full((num_new, ) + value.shape[1:], fill)])
    return out


class GreedyIoUTracker:
    """mmpose 0.x's ``get_track_id`` rule: each person, best score first, takes the id of
    the previous frame's person it overlaps most (IoU above ``iou_thr``) that no one has
    taken yet, else a new id. No memory beyond one frame, no poses."""

    def __init__(self, iou_thr: float = 0.3) -> None:
        self.iou_thr = iou_thr
        self._boxes = np.zeros((0, 4))
        self._ids = np.zeros(0, dtype=np.int64)
        self._next_id = 0

    def update(self, result: Dict[str, np.ndarray], timestamp: Optional[float] = None) -> dict:
        boxes = np.asarray(result['bboxes'], dtype=np.float64).reshape(-1, 4)
        order = np.argsort(-np.asarray(result['scores']).reshape(-1))
        ious = box_iou(boxes, self._boxes)
        taken, ids = set(), np.full(len(boxes), -1, dtype=np.int64)
        for i in order:
            best = -1
            for j in np.argsort(-ious[i]) if ious.shape[1] else []:
                if ious[i, j] > self.iou_thr and j not in taken:
                    best = j
                    break
            if best >= 0:
                taken.add(best)
                ids[i] = self._ids[best]
            else:
                ids[i] = self._next_id
                self._next_id += 1
        self._boxes, self._ids = boxes, ids
        return dict(result, track_ids=ids)


def interpolate_track_gaps(frames: List[Dict[str, np.ndarray]],
                           max_gap: int = 10) -> List[Dict[str, np.ndarray]]:
    """Fill the short gaps of each track of a finished sequence, as offline trackers do
    (ByteTrack's linear interpolation of its MOT17 results): a track missing in at most
    ``max_gap`` consecutive frames between two frames where it is seen gets, in each
    missing frame, the box, keypoints and scores interpolated linearly between the two.

    Args:
        frames: per frame, :meth:`PoseTracker.update`'s output (``bboxes``, ``scores``,
            ``keypoints``, ``keypoint_scores``, ``track_ids``).
        max_gap: the longest gap filled, in frames.

    Returns:
        list[dict]: the frames with the filled-in persons appended and ``interpolated``
        (N,) bool (True for them) in every frame.
    """
    seen: Dict[int, List[tuple]] = {}
    for f, frame in enumerate(frames):
        for i, track_id in enumerate(frame['track_ids']):
            if track_id >= 0:
                seen.setdefault(int(track_id), []).append((f, i))
    added: Dict[int, List[tuple]] = {}
    for track_id, hits in seen.items():
        for (f0, i0), (f1, i1) in zip(hits, hits[1:]):
            if 1 < f1 - f0 <= max_gap + 1:
                for f in range(f0 + 1, f1):
                    w = (f - f0) / (f1 - f0)
                    a, b = frames[f0], frames[f1]
                    mix = {
                        key: (1 - w) * np.asarray(a[key][i0], dtype=np.float64) +
                        w * np.asarray(b[key][i1], dtype=np.float64)
                        for key in ('bboxes', 'keypoints')
                    }
                    mix['scores'] = min(float(a['scores'][i0]), float(b['scores'][i1]))
                    mix['keypoint_scores'] = np.minimum(a['keypoint_scores'][i0],
                                                        b['keypoint_scores'][i1])
                    added.setdefault(f, []).append((track_id, mix))
    out = []
    for f, frame in enumerate(frames):
        frame = dict(frame, interpolated=np.zeros(len(frame['track_ids']), dtype=bool))
        extra = added.get(f, [])
        if extra:
            frame = append_persons(
                frame,
                dict(
                    track_ids=np.array([t for t, _ in extra], dtype=np.int64),
                    interpolated=np.ones(len(extra), dtype=bool),
                    **{
                        key: np.array([m[key] for _, m in extra])
                        for key in ('bboxes', 'keypoints', 'scores', 'keypoint_scores')
                    }))
        out.append(frame)
    return out
