"""Draw every person's skeleton on images, a folder of images, or a video; write JSON too.

    python demo/demo.py INPUT CONFIG CHECKPOINT [--out-dir outputs] [--device cpu]
        [--score-thr 0.3] [--kpt-thr 0.3] [--batch-size 1] [--cfg-options key=value ...]
        [--precision fp32|fp16|bf16 | --fp16] [--compile [MODE]] [--backend pytorch|onnxruntime]

INPUT is an image, a folder of images, or a video (.mp4, .avi, .mov, .mkv, .webm, .ts).
Outputs:
    image/folder: OUT_DIR/vis/<name>.jpg and OUT_DIR/predictions/<name>.json per image
    video:        OUT_DIR/<name>.mp4 (every frame drawn) and OUT_DIR/<name>.json (per frame)
Keypoints are written in pixel coordinates (the first pixel's centre is 0), with scores.
"""
import argparse
import os.path as osp

from mmengine.config import DictAction

from hrpose.apis import KeypointInferencer
from hrpose.apis.video import VIDEO_EXTENSIONS
from hrpose.utils import register_all_modules
from hrpose.utils.cli import add_inference_options, inference_options, positive_int
from hrpose.utils.registry_errors import explain_unknown_types


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='hrpose demo on images or a video')
    parser.add_argument('input', help='image file, folder of images, or video file')
    parser.add_argument('config', help='config file or config name')
    parser.add_argument('checkpoint', help='checkpoint file, or an exported .onnx file')
    add_inference_options(parser)
    parser.add_argument(
        '--backend',
        choices=('pytorch', 'onnxruntime'),
        default=None,
        help='run the PyTorch model or an ONNX file in ONNX Runtime (default: from the '
        "checkpoint's suffix, .onnx: onnxruntime)")
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
        'for a video, "image_id" is the frame index (0 for the first); images and frames '
        'without an entry get no persons')
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


def main() -> None:
    args = parse_args()
    register_all_modules()
    if not osp.exists(args.input):
        raise FileNotFoundError(f'input {args.input} does not exist')
    precision, compile_mode, channels_last = inference_options(args)
    with explain_unknown_types():
        inferencer = KeypointInferencer(
            args.config,
            args.checkpoint,
            device=args.device,
            batch_size=args.batch_size,
            score_thr=args.score_thr,
            kpt_thr=args.kpt_thr,
            cfg_options=args.cfg_options,
            unsafe_load=args.unsafe_load,
            backend=args.backend,
            precision=precision,
            compile_mode=compile_mode,
            channels_last=channels_last)
    if (args.track or args.smooth) and not args.input.lower().endswith(VIDEO_EXTENSIONS):
        raise SystemExit('--track and --smooth follow persons through a video; '
                         f'{args.input} is not one ({", ".join(VIDEO_EXTENSIONS)})')
    if args.smooth and not args.track:
        raise SystemExit('--smooth smooths the keypoints of tracks: give --track too')
    if args.input.lower().endswith(VIDEO_EXTENSIONS):
        result = inferencer(
            args.input,
            out_dir=args.out_dir,
            track=args.track,
            smooth=args.smooth,
            person_boxes=args.person_boxes,
            person_box_score_thr=args.person_box_score_thr)
        print(f'\n{result["json"]["num_frames"]} frames drawn into {result["video"]}')
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
