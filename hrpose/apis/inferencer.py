"""``KeypointInferencer``: images in; predictions, drawings and JSON out."""
import glob
import json
import os
import os.path as osp
from collections import Counter
from typing import Dict, List, Optional, Sequence, Union

import mmcv
import numpy as np
from mmengine.utils import ProgressBar

from hrpose.datasets.person_boxes import person_boxes_for_images
from hrpose.datasets.transforms import LoadCheckedImage
from hrpose.structures import coco_to_continuous
from hrpose.utils.outputs import prepare_output_dir
from hrpose.visualization import KeypointLocalVisualizer

from .inference import ImageInput, as_model_input, inference_keypoints, init_model, is_single_image

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def list_images(folder: str) -> List[str]:
    """Image files directly in ``folder``, sorted by name."""
    files = [
        f for f in sorted(glob.glob(osp.join(folder, '*'))) if f.lower().endswith(IMAGE_EXTENSIONS)
    ]
    if not files:
        raise FileNotFoundError(f'no images ({", ".join(IMAGE_EXTENSIONS)}) in {folder}')
    return files


def output_names(inputs: Sequence[ImageInput]) -> List[str]:
    """One distinct output name per input: the file name without its extension, with the
    extension kept (``photo_jpg``, ``photo_png``) where two inputs share a stem, and numbered
    where even that repeats (the same name in two folders); arrays are ``image_<index>``."""
    names = [
        osp.splitext(osp.basename(str(x)))[0] if isinstance(x, str) else f'image_{i}'
        for i, x in enumerate(inputs)
    ]
    stems = Counter(names)
    names = [
        osp.basename(x).replace('.', '_') if isinstance(x, str) and stems[name] > 1 else name
        for x, name in zip(inputs, names)
    ]
    totals, seen = Counter(names), Counter()
    unique = []
    for name in names:
        seen[name] += 1
        unique.append(f'{name}_{seen[name]}' if totals[name] > 1 else name)
    return unique


def refuse_overwriting_inputs(inputs: Sequence[ImageInput], outputs: Sequence[str]) -> None:
    """No output file may be one of the input files (``--out-dir`` inside the input folder
    with the same names would overwrite the images being read).

    Raises:
        ValueError: naming the file.
    """
    sources = {osp.realpath(x) for x in inputs if isinstance(x, str)}
    for path in outputs:
        if osp.realpath(path) in sources:
            raise ValueError(f'the output {path} would overwrite the input {path}: choose '
                             'another output folder')


def read_image(path: str) -> np.ndarray:
    """(H, W, 3) BGR image of a file; an error naming the file and the problem (missing,
    empty, truncated, undecodable)."""
    return LoadCheckedImage()(dict(img_path=path))['img']


def instances_to_json(prediction: Dict[str, np.ndarray], score_thr: float = 0.0) -> List[dict]:
    """JSON-ready persons: ``bbox`` [x1, y1, x2, y2], ``score``, ``keypoints`` [[x, y], ...]
    in pixel coordinates, ``keypoint_scores`` (and ``track_id`` and ``predicted`` when the
    prediction carries ``track_ids``); persons below ``score_thr`` left out."""
    persons = []
    for i in np.flatnonzero(prediction['scores'] >= score_thr):
        person = dict(
            bbox=[round(float(v), 2) for v in prediction['bboxes'][i]],
            score=round(float(prediction['scores'][i]), 4),
            keypoints=[[round(float(x), 2), round(float(y), 2)]
                       for x, y in prediction['keypoints'][i]],
            keypoint_scores=[round(float(s), 4) for s in prediction['keypoint_scores'][i]])
        if 'track_ids' in prediction:  # tracked video frames (hrpose.apis.tracking)
            person['track_id'] = int(prediction['track_ids'][i])
            # True: no detection, the track's motion bridged a missed frame
            person['predicted'] = bool(prediction.get('predicted', np.zeros(i + 1, bool))[i])
        persons.append(person)
    return persons


class KeypointInferencer:
    """The high-level interface, in the manner of mmpose's ``MMPoseInferencer``.

    Example::

        inferencer = KeypointInferencer('hrpose_hrnet-w32_hrfpn_1x_coco', 'w32.pth')
        result = inferencer('photos/', out_dir='outputs/')   # drawn images + JSON per image

    Args:
        model: config file or config name (see :func:`hrpose.utils.config_files.find_config`).
        weights: checkpoint file, or an ONNX file of ``tools/deployment/export_onnx.py``
            (run in ONNX Runtime); None keeps random weights (only useful in tests).
        device: 'cpu', 'cuda', ...
        batch_size: images per forward pass.
        score_thr: persons below this score are neither drawn nor written.
        kpt_thr: keypoints below this score are not drawn (they are still written).
        cfg_options: config overrides.
        unsafe_load: allow a checkpoint with types outside the allow-list.
        backend: 'pytorch' or 'onnxruntime' (default: from the weights' suffix).
        precision, fp16, compile_mode, channels_last: half precision, ``torch.compile`` and
            the memory order, see :func:`init_model`.
    """

    def __init__(self,
                 model: str,
                 weights: Optional[str] = None,
                 device: str = 'cpu',
                 batch_size: int = 1,
                 score_thr: float = 0.3,
                 kpt_thr: float = 0.3,
                 cfg_options: Optional[dict] = None,
                 unsafe_load: bool = False,
                 backend: Optional[str] = None,
                 precision: str = 'fp32',
                 fp16: bool = False,
                 compile_mode: Optional[str] = None,
                 channels_last: bool = False) -> None:
        self.model = init_model(
            model,
            weights,
            device=device,
            cfg_options=cfg_options,
            unsafe_load=unsafe_load,
            backend=backend,
            precision=precision,
            fp16=fp16,
            compile_mode=compile_mode,
            channels_last=channels_last)
        self.batch_size = batch_size
        self.score_thr = score_thr
        self.visualizer = KeypointLocalVisualizer(
            name=f'hrpose_inferencer_{id(self)}', kpt_thr=kpt_thr, line_width=2)
        self.visualizer.dataset_meta = self.model.dataset_meta

    @property
    def dataset_meta(self) -> dict:
        return self.model.dataset_meta

    def draw(self, image: np.ndarray, prediction: Dict[str, np.ndarray]) -> np.ndarray:
        """(H, W, 3) BGR drawing of the persons above ``score_thr`` on a BGR image."""
        from mmengine.structures import InstanceData
        keep = prediction['scores'] >= self.score_thr
        instances = InstanceData(
            bboxes=prediction['bboxes'][keep],
            scores=prediction['scores'][keep],
            labels=np.zeros(int(keep.sum()), dtype=np.int64),
            keypoints=coco_to_continuous(prediction['keypoints'][keep]),
            keypoint_scores=prediction['keypoint_scores'][keep])
        drawn = self.visualizer._draw_instances(image[..., ::-1].copy(), instances,
                                                self.dataset_meta.get('classes'),
                                                self.dataset_meta.get('palette'))
        return np.ascontiguousarray(drawn[..., ::-1])

    def to_json(self, prediction: Dict[str, np.ndarray], **fields) -> dict:
        """The JSON record of one image: ``fields`` (e.g. its name) and its persons."""
        return dict(
            **fields,
            keypoint_names=list(self.dataset_meta['keypoint_names']),
            instances=instances_to_json(prediction, self.score_thr))

    def __call__(self,
                 inputs: Union[ImageInput, Sequence[ImageInput]],
                 out_dir: Optional[str] = None,
                 draw: bool = True,
                 progress: bool = True,
                 skip_bad_images: bool = False,
                 person_boxes=None,
                 person_box_score_thr: float = 0.0,
                 track: bool = False,
                 smooth: bool = False) -> dict:
        """Run on images or a video and optionally write the drawings and JSON.

        Args:
            inputs: an image path, a folder of images, an image (see
                :func:`~hrpose.apis.inference_keypoints`), or a list of them; or a video
                file (``.mp4``, ``.avi``, ...), which :func:`~hrpose.apis.video.infer_video`
                runs (``out_dir/<name>.mp4`` and ``.json``; its result instead of the one
                below).
            out_dir: when given, ``out_dir/vis/<name>.jpg`` and ``out_dir/predictions/<name>
                .json`` are written per image (see :func:`output_names`); an output that
                would overwrite an input is refused.
            draw: draw the predictions (returned as ``visualization``).
            progress: show a progress bar over the images.
            skip_bad_images: go on past an image file that cannot be read (missing, empty,
                truncated, undecodable) and list it in ``skipped``; False: raise.
            person_boxes: None (the detector finds the persons); per input an (N, 4) or
                (N, 5) array of boxes (see :func:`~hrpose.apis.inference_keypoints`); or a
                detection file in COCO results format whose entries name the image files
                by ``file_name`` or by ``image_id`` (the number in COCO's file names); for
                a video, per frame an array, or a file whose ``image_id`` is the frame
                index.
            person_box_score_thr: with a detection file, boxes scoring below it are left out.
            track: a video's persons get stable ids (:class:`~hrpose.apis.PoseTracker`,
                the config's ``tracking`` settings).
            smooth: with ``track``, each track's keypoints are smoothed (One Euro filter).

        Returns:
            dict: ``predictions`` (per image, arrays as from ``inference_keypoints``),
            ``json`` (per image, the JSON records) and ``visualization`` (per image, a BGR
            drawing; empty when ``draw`` is False) and ``skipped`` ((path, reason) of each
            image left out).
        """
        from hrpose.apis.video import VIDEO_EXTENSIONS, infer_video, is_video
        if smooth and not track:
            raise ValueError('smooth smooths the keypoints of tracks: give track=True too')
        if isinstance(inputs, os.PathLike):
            inputs = os.fspath(inputs)
        if is_video(inputs):
            return infer_video(self, inputs, out_dir, self.batch_size, track, smooth, progress,
                               person_boxes, person_box_score_thr)
        if track or smooth:
            raise ValueError('track and smooth follow persons through a video; the input is '
                             f'not one ({", ".join(VIDEO_EXTENSIONS)})')
        if isinstance(inputs, str) and osp.isdir(inputs):
            inputs = list_images(inputs)
        elif is_single_image(inputs):
            inputs = [inputs]
        inputs = [as_model_input(image, i) for i, image in enumerate(inputs)]
        names = output_names(inputs)
        boxes_per_input = [None] * len(inputs)
        if isinstance(person_boxes, (str, os.PathLike)):
            if not all(isinstance(image, str) for image in inputs):
                raise ValueError('a person box file names images by file: give image paths')
            boxes_per_input = person_boxes_for_images(
                os.fspath(person_boxes), inputs, person_box_score_thr)
        elif person_boxes is not None:
            boxes_per_input = list(person_boxes)
            if len(boxes_per_input) != len(inputs):
                raise ValueError(f'person_boxes: {len(boxes_per_input)} arrays for '
                                 f'{len(inputs)} images; give one per image')
        if out_dir:
            for folder in ('vis', 'predictions'):  # now, not after the first batch
                prepare_output_dir(osp.join(out_dir, folder), 'out_dir')
            refuse_overwriting_inputs(inputs, [
                p for name in names for p in (osp.join(out_dir, 'vis', f'{name}.jpg'),
                                              osp.join(out_dir, 'predictions', f'{name}.json'))
            ])
        result = dict(predictions=[], json=[], visualization=[], skipped=[])
        bar = ProgressBar(len(inputs)) if progress and len(inputs) > 1 else None
        for start in range(0, len(inputs), self.batch_size):
            batch, batch_names, batch_boxes = [], [], []
            for image, name, boxes in zip(inputs[start:start + self.batch_size],
                                          names[start:start + self.batch_size],
                                          boxes_per_input[start:start + self.batch_size]):
                try:
                    array = read_image(image) if isinstance(image, str) else image
                except (OSError, ValueError) as error:
                    if not skip_bad_images:
                        raise
                    result['skipped'].append((image, str(error)))
                    if bar is not None:
                        bar.update()
                    continue
                batch.append((image, array))
                batch_names.append(name)
                batch_boxes.append(boxes)
            if not batch:
                continue
            predictions = inference_keypoints(
                self.model, [array for _, array in batch],
                batch_size=self.batch_size,
                person_boxes=None if person_boxes is None else batch_boxes)
            for (image, array), name, prediction in zip(batch, batch_names, predictions):
                record = self.to_json(
                    prediction, image=name if not isinstance(image, str) else image)
                result['predictions'].append(prediction)
                result['json'].append(record)
                if draw or out_dir:
                    drawn = self.draw(array, prediction)
                    if draw:
                        result['visualization'].append(drawn)
                if out_dir:
                    mmcv.imwrite(drawn, osp.join(out_dir, 'vis', f'{name}.jpg'))
                    with open(osp.join(out_dir, 'predictions', f'{name}.json'), 'w') as f:
                        json.dump(record, f)
                if bar is not None:
                    bar.update()
        return result
