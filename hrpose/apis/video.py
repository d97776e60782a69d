"""Videos through the model: every frame inferred, drawn into an mp4 and recorded as JSON,
and with ``track`` the persons followed by :class:`~hrpose.apis.tracking.PoseTracker`."""
import json
import os
import os.path as osp
from typing import Dict, Optional

import cv2
import numpy as np
from mmengine.utils import ProgressBar

from hrpose.apis.inference import inference_keypoints
from hrpose.apis.tracking import PoseTracker
from hrpose.datasets.person_boxes import load_person_box_file_entries, read_detection_file
from hrpose.utils.outputs import check_output_file, prepare_output_dir

VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.ts')


def is_video(path) -> bool:
    return isinstance(path, str) and path.lower().endswith(VIDEO_EXTENSIONS)


def build_tracker(inferencer, fps: float, smooth: bool) -> PoseTracker:
    """A PoseTracker with the config's ``tracking`` settings and the dataset's sigmas."""
    settings = dict(inferencer.model.cfg.get('tracking', None) or {})
    smoothing = settings.pop('smoothing', None)
    if smooth and smoothing is None:
        smoothing = {}  # the One Euro filter's defaults
    return PoseTracker(
        inferencer.dataset_meta['sigmas'],
        fps=fps,
        smoothing=smoothing if smooth else None,
        **settings)


def draw_track_ids(image: np.ndarray, prediction: dict, score_thr: float) -> np.ndarray:
    """Each tracked person's id above its box, in a colour of its own ("id 3 (pred.)" for a
    person the tracker's motion bridged)."""
    predicted = prediction.get('predicted', np.zeros(len(prediction['track_ids']), bool))
    for box, score, track_id, bridged in zip(prediction['bboxes'], prediction['scores'],
                                             prediction['track_ids'], predicted):
        if score < score_thr or track_id < 0:
            continue
        hue = (int(track_id) * 47) % 180  # well apart for neighbouring ids
        colour = cv2.cvtColor(np.uint8([[[hue, 230, 255]]]), cv2.COLOR_HSV2BGR)[0, 0].tolist()
        x, y = int(box[0]), max(int(box[1]) - 8, 16)
        label = f'id {int(track_id)}' + (' (pred.)' if bridged else '')
        cv2.putText(image, label, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.8, colour, 2, cv2.LINE_AA)
    return image


def person_boxes_for_frames(path: str, score_thr: float = 0.0) -> Dict[int, np.ndarray]:
    """Person boxes per frame of a video from a detection file in COCO results format
    whose ``image_id`` is the frame's index (0 for the first frame).

    Returns:
        dict: frame index -> (N, 5) float32 x1, y1, x2, y2, score, best first; frames
        without an entry are left out (they get no persons).
    """
    entries = read_detection_file(path)
    # entries without an image_id are refused by the loader, naming them
    frames = {e['image_id'] for e in entries if isinstance(e, dict) and 'image_id' in e}
    bad = sorted((f for f in frames if not isinstance(f, int) or isinstance(f, bool) or f < 0),
                 key=repr)
    if bad:
        raise ValueError(f'person box file {path}: for a video, "image_id" is the frame index '
                         f'(0, 1, ...); got {bad[0]!r}')
    boxes, _ = load_person_box_file_entries(entries, path, frames, [1], score_thr)
    return {f: np.concatenate([b, s[:, None]], axis=1) for f, (b, s) in boxes.items() if len(b)}


def infer_video(inferencer,
                path: str,
                out_dir: Optional[str] = None,
                batch_size: int = 1,
                track: bool = False,
                smooth: bool = False,
                progress: bool = True,
                person_boxes=None,
                person_box_score_thr: float = 0.0) -> dict:
    """Infer every frame of a video with a :class:`~hrpose.apis.KeypointInferencer`.

    Frames come from OpenCV's reader, with their container timestamps (a variable frame
    rate is followed; where a timestamp is missing or does not advance, the previous one +
    1 / fps is taken). A stream whose frame size changes part-way is delivered by OpenCV's
    FFmpeg reader at its first size (later frames rescaled), so every result of a video is
    in the pixels of ``frame_size``.

    Args:
        inferencer: the inferencer (model, drawing, score threshold).
        path: the video file.
        out_dir: where ``<name>.mp4`` (every frame drawn) and ``<name>.json`` go; None
            writes nothing.
        batch_size: frames per forward pass.
        track: give each person a stable id (``track_id`` in the JSON, drawn).
        smooth: with ``track``, smooth each track's keypoints (One Euro filter).
        progress: show a progress bar.
        person_boxes: None (the detector finds the persons), a detection file whose
            ``image_id`` is the frame index (see :func:`person_boxes_for_frames`), or a
            list of per-frame (N, 4) / (N, 5) arrays; the keypoint branch then runs on these
            boxes (a frame without any gets no persons).
        person_box_score_thr: with a detection file, boxes scoring below it are left out.

    Returns:
        dict: ``json`` (the video's record: ``video``, ``fps``, ``frame_size`` [width,
        height], ``num_frames``, ``frames`` (each with ``frame``, ``time`` in seconds and
        its persons) and, with ``track``, ``tracks``) and ``video`` (the mp4 written, or
        None).
    """
    from hrpose.apis.inferencer import refuse_overwriting_inputs
    if isinstance(person_boxes, (str, os.PathLike)):
        boxes_of_frame = person_boxes_for_frames(os.fspath(person_boxes), person_box_score_thr)
    elif person_boxes is not None:
        boxes_of_frame = dict(enumerate(person_boxes))
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise ValueError(f'{path}: cannot be opened as a video (missing, empty, or a '
                         'container or codec this OpenCV cannot read)')
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    num_frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    name = osp.splitext(osp.basename(path))[0]
    writer = video_out = json_out = None
    if out_dir is not None:
        prepare_output_dir(out_dir, '--out-dir')
        video_out = osp.join(out_dir, f'{name}.mp4')
        json_out = check_output_file(osp.join(out_dir, f'{name}.json'), 'the video JSON')
        refuse_overwriting_inputs([path], [video_out, json_out])
        # Opened before the first frame is inferred: a writer that cannot open would
        # otherwise drop every frame without a word.
        writer = cv2.VideoWriter(video_out, cv2.VideoWriter_fourcc(*'mp4v'), fps, size)
        if not writer.isOpened():
            capture.release()
            raise OSError(f'{video_out}: OpenCV cannot open an mp4v video writer there (a '
                          'folder in the way, no permission, or an OpenCV without that encoder)')
    records = []
    bar = ProgressBar(num_frames) if progress and num_frames > 0 else None
    tracker = build_tracker(inferencer, fps, smooth) if track else None

    def flush(frames, timestamps):
        given = None
        if person_boxes is not None:
            given = [
                boxes_of_frame.get(len(records) + i, np.zeros((0, 5), np.float32))
                for i in range(len(frames))
            ]
        predictions = inference_keypoints(
            inferencer.model, frames, batch_size=batch_size, person_boxes=given)
        for frame, prediction, timestamp in zip(frames, predictions, timestamps):
            if tracker is not None:
                prediction = tracker.update(prediction, timestamp)
            if frame.shape[1::-1] != size:
                raise ValueError(f'{path}: frame {len(records)} is {frame.shape[1]}x'
                                 f'{frame.shape[0]} but the video is {size[0]}x{size[1]}; '
                                 'a video whose frame size changes cannot be written as one')
            if writer is not None:
                drawn = inferencer.draw(frame, prediction)
                if tracker is not None:
                    drawn = draw_track_ids(drawn, prediction, inferencer.score_thr)
                writer.write(drawn)
            records.append(
                inferencer.to_json(prediction, frame=len(records), time=round(timestamp, 6)))
            if bar is not None:
                bar.update()

    frames, timestamps, last_time = [], [], None
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            # The container's timestamp, for a variable frame rate; the frame count / fps
            # where it gives none or one that does not advance.
            time = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            expected = (last_time + 1.0 / fps) if last_time is not None else 0.0
            last_time = time if last_time is None or time > last_time else expected
            frames.append(frame)
            timestamps.append(last_time)
            if len(frames) == batch_size:
                flush(frames, timestamps)
                frames, timestamps = [], []
        if frames:
            flush(frames, timestamps)
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    if not records:
        raise ValueError(f'{path}: no frame could be read (an empty video, or a codec this '
                         'OpenCV cannot decode)')
    if person_boxes is not None and boxes_of_frame and max(boxes_of_frame) >= len(records):
        raise ValueError(f'person boxes name frame {max(boxes_of_frame)} but {path} has '
                         f'{len(records)} frames (frames count from 0)')
    record = dict(
        video=osp.basename(path),
        fps=fps,
        frame_size=list(size),
        num_frames=len(records),
        frames=records)
    if tracker is not None:
        record['tracks'] = tracker.tracks()
    if writer is not None:
        if not osp.isfile(video_out) or osp.getsize(video_out) == 0:
            raise OSError(f'{video_out}: the video writer wrote nothing')
        with open(json_out, 'w') as f:
            json.dump(record, f)
    return dict(json=record, video=video_out)
