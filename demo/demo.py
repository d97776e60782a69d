"""Draw every person's skeleton on images, a folder of images, or a video; write JSON too.

    python demo/demo.py INPUT CONFIG CHECKPOINT [--out-dir outputs] [--device cpu]
        [--score-thr 0.3] [--kpt-thr 0.3] [--batch-size 1] [--cfg-options key=value ...]

INPUT is an image, a folder of images, or a video (.mp4, .avi, .mov, .mkv). Outputs:
    image/folder: OUT_DIR/vis/<name>.jpg and OUT_DIR/predictions/<name>.json per image
    video:        OUT_DIR/<name>.mp4 (every frame drawn) and OUT_DIR/<name>.json (per frame)
Keypoints are written in pixel coordinates (the first pixel's centre is 0), with scores.
"""
import argparse
import json
import os.path as osp

import cv2
import numpy as np
from mmengine.config import DictAction
from mmengine.utils import ProgressBar

from hrpose.apis import KeypointInferencer, inference_keypoints
from hrpose.apis.inferencer import refuse_overwriting_inputs
from hrpose.apis.tracking import PoseTracker
from hrpose.utils import register_all_modules
from hrpose.utils.cli import positive_int
from hrpose.utils.outputs import check_output_file, prepare_output_dir
from hrpose.utils.registry_errors import explain_unknown_types

VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.webm')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='hrpose demo on images or a video')
    parser.add_argument('input', help='image file, folder of images, or video file')
    parser.add_argument('config', help='config file or config name')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out-dir', default='outputs', help='where drawings and JSON go')
    parser.add_argument('--device', default='cpu', help="'cpu', 'cuda', 'cuda:1', ...")
    parser.add_argument(
        '--score-thr',
        type=float,
        default=0.3,
        help='persons below this score are neither drawn nor written')
    parser.add_argument(
        '--kpt-thr', type=float, default=0.3, help='keypoints below this score are not drawn')
    parser.add_argument(
        '--batch-size', type=positive_int, default=1, help='images/frames per pass')
    parser.add_argument(
        '--skip-bad-images',
        action='store_true',
        help='in a folder, go on past images that cannot be read and list them '
        'at the end (default: stop at the first, naming it)')
    parser.add_argument(
        '--person-boxes',
        metavar='DETS.json',
        help='run the keypoint branch on these person boxes instead of the detector\'s own: '
        'a detection file in COCO results format (bbox [x, y, w, h], score) whose entries '
        'name the images by "file_name" or by "image_id" (the number in COCO file names); '
        'images without an entry get no persons')
    parser.add_argument(
        '--person-box-score-thr',
        type=float,
        default=0.0,
        help='with --person-boxes: leave out boxes scoring below this')
    parser.add_argument(
        '--track',
        action='store_true',
        help='video: give each person a stable id across frames (drawn, and `track_id` in '
        'the JSON); the settings are the config\'s `tracking` dict')
    parser.add_argument(
        '--smooth',
        action='store_true',
        help='with --track: smooth each track\'s keypoints (One Euro filter; its '
        'min_cutoff, beta, d_cutoff from `tracking.smoothing` in the config)')
    parser.add_argument(
        '--unsafe-load',
        action='store_true',
        help='load a checkpoint with types outside the allow-list')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. model.test_cfg.rcnn.flip_test=True')
    return parser.parse_args()


def build_tracker(inferencer: KeypointInferencer, fps: float, smooth: bool) -> PoseTracker:
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
    """Each tracked person's id above its box, in a colour of its own."""
    for box, score, track_id in zip(prediction['bboxes'], prediction['scores'],
                                    prediction['track_ids']):
        if score < score_thr or track_id < 0:
            continue
        hue = (int(track_id) * 47) % 180  # well apart for neighbouring ids
        colour = cv2.cvtColor(np.uint8([[[hue, 230, 255]]]), cv2.COLOR_HSV2BGR)[0, 0].tolist()
        x, y = int(box[0]), max(int(box[1]) - 8, 16)
        cv2.putText(image, f'id {int(track_id)}', (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.8, colour, 2,
                    cv2.LINE_AA)
    return image


def run_video(inferencer: KeypointInferencer,
              path: str,
              out_dir: str,
              batch_size: int,
              track: bool = False,
              smooth: bool = False) -> str:
    """Draw every frame of a video into ``out_dir/<name>.mp4``; JSON per frame alongside
    (with ``track``: persons' ``track_id`` and the list of ``tracks``)."""
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise ValueError(f'{path}: cannot be opened as a video')
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    num_frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    name = osp.splitext(osp.basename(path))[0]
    prepare_output_dir(out_dir, '--out-dir')
    video_out = osp.join(out_dir, f'{name}.mp4')
    json_out = check_output_file(osp.join(out_dir, f'{name}.json'), 'the video JSON')
    refuse_overwriting_inputs([path], [video_out, json_out])
    # Opened before the first frame is inferred: a writer that cannot open would otherwise
    # drop every frame without a word.
    writer = cv2.VideoWriter(video_out, cv2.VideoWriter_fourcc(*'mp4v'), fps, size)
    if not writer.isOpened():
        capture.release()
        raise OSError(f'{video_out}: OpenCV cannot open an mp4v video writer there (a folder '
                      'in the way, no permission, or an OpenCV without that encoder)')
    records = []
    bar = ProgressBar(num_frames) if num_frames > 0 else None
    tracker = build_tracker(inferencer, fps, smooth) if track else None

    def flush(frames, timestamps):
        predictions = inference_keypoints(inferencer.model, frames, batch_size=batch_size)
        for frame, prediction, timestamp in zip(frames, predictions, timestamps):
            if tracker is not None:
                prediction = tracker.update(prediction, timestamp)
            drawn = inferencer.draw(frame, prediction)
            if tracker is not None:
                drawn = draw_track_ids(drawn, prediction, inferencer.score_thr)
            if drawn.shape[1::-1] != size:
                raise ValueError(f'{path}: frame {len(records)} is {drawn.shape[1]}x'
                                 f'{drawn.shape[0]} but the video is {size[0]}x{size[1]}; '
                                 'a video whose frame size changes cannot be written as one')
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
        writer.release()
    if not records:
        raise ValueError(f'{path}: no frame could be read')
    if not osp.isfile(video_out) or osp.getsize(video_out) == 0:
        raise OSError(f'{video_out}: the video writer wrote nothing')
    with open(json_out, 'w') as f:
        video = dict(video=osp.basename(path), fps=fps, num_frames=len(records), frames=records)
        if tracker is not None:
            video['tracks'] = tracker.tracks()
        json.dump(video, f)
    print(f'\n{len(records)} frames drawn into {video_out}')
    return video_out


def main() -> None:
    args = parse_args()
    register_all_modules()
    if not osp.exists(args.input):
        raise FileNotFoundError(f'input {args.input} does not exist')
    with explain_unknown_types():
        inferencer = KeypointInferencer(
            args.config,
            args.checkpoint,
            device=args.device,
            batch_size=args.batch_size,
            score_thr=args.score_thr,
            kpt_thr=args.kpt_thr,
            cfg_options=args.cfg_options,
            unsafe_load=args.unsafe_load)
    if (args.track or args.smooth) and not args.input.lower().endswith(VIDEO_EXTENSIONS):
        raise SystemExit('--track and --smooth follow persons through a video; '
                         f'{args.input} is not one ({", ".join(VIDEO_EXTENSIONS)})')
    if args.smooth and not args.track:
        raise SystemExit('--smooth smooths the keypoints of tracks: give --track too')
    if args.input.lower().endswith(VIDEO_EXTENSIONS):
        if args.person_boxes is not None:
            raise SystemExit('--person-boxes names images by file: it applies to images and '
                             'folders of images, not to videos')
        run_video(inferencer, args.input, args.out_dir, args.batch_size, args.track, args.smooth)
    else:
        result = inferencer(
            args.input,
            out_dir=args.out_dir,
            draw=False,
            skip_bad_images=args.skip_bad_images,
            person_boxes=args.person_boxes,
            person_box_score_thr=args.person_box_score_thr)
        print(f'\n{len(result["json"])} image(s) drawn into {osp.join(args.out_dir, "vis")}, '
              f'JSON in {osp.join(args.out_dir, "predictions")}')
        if result['skipped']:
            print(f'{len(result["skipped"])} image(s) skipped:')
            for path, reason in result['skipped']:
                print(f'  {reason}')


if __name__ == '__main__':
    main()
