"""Videos through the model: every frame inferred, drawn into an mp4 and recorded as JSON,
and with ``track`` the persons followed by :class:`~hrpose.apis.tracking.PoseTracker`."""
import json
import os.path as osp
from typing import Optional

import cv2
import numpy as np
from mmengine.utils import ProgressBar

from hrpose.apis.inference import inference_keypoints
from hrpose.apis.tracking import PoseTracker
from hrpose.utils.outputs import check_output_file, prepare_output_dir

VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.webm')


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


def infer_video(inferencer,
                path: str,
                out_dir: Optional[str] = None,
                batch_size: int = 1,
                track: bool = False,
                smooth: bool = False,
                progress: bool = True) -> dict:
    """Infer every frame of a video with a :class:`~hrpose.apis.KeypointInferencer`.

    Args:
        inferencer: the inferencer (model, drawing, score threshold).
        path: the video file.
        out_dir: where ``<name>.mp4`` (every frame drawn) and ``<name>.json`` go; None
            writes nothing.
        batch_size: frames per forward pass.
        track: give each person a stable id (``track_id`` in the JSON, drawn).
        smooth: with ``track``, smooth each track's keypoints (One Euro filter).
        progress: show a progress bar.

    Returns:
        dict: ``json`` (the video's record: ``video``, ``fps``, ``num_frames``, ``frames``
        and, with ``track``, ``tracks``) and ``video`` (the mp4 written, or None).
    """
    from hrpose.apis.inferencer import refuse_overwriting_inputs
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise ValueError(f'{path}: cannot be opened as a video')
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
        predictions = inference_keypoints(inferencer.model, frames, batch_size=batch_size)
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
            records.append(inferencer.to_json(prediction, frame=len(records)))
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
        raise ValueError(f'{path}: no frame could be read')
    record = dict(video=osp.basename(path), fps=fps, num_frames=len(records), frames=records)
    if tracker is not None:
        record['tracks'] = tracker.tracks()
    if writer is not None:
        if not osp.isfile(video_out) or osp.getsize(video_out) == 0:
            raise OSError(f'{video_out}: the video writer wrote nothing')
        with open(json_out, 'w') as f:
            json.dump(record, f)
    return dict(json=record, video=video_out)
