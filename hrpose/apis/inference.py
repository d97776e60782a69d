"""Two-line use: ``model = init_model(config, checkpoint)``; ``inference_keypoints(model, img)``.

Results come back in image pixel coordinates as COCO writes them: the centre of the first
pixel is x = 0 (hrpose's internal coordinates, where pixel i spans [i, i+1), are shifted by
-0.5 on the way out).
"""
import copy
import os
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model

from hrpose.datasets.coco_keypoint import load_keypoint_metainfo
from hrpose.datasets.transforms.keypoint_transforms import set_given_persons
from hrpose.engine import check_weight_shapes, unsafe_checkpoint_loading
from hrpose.models.precision import COMPILE_MODES, check_precision
from hrpose.registry import MODELS
from hrpose.structures import continuous_to_coco
from hrpose.utils.config_files import load_config
from hrpose.utils.setup_env import register_all_modules

# Transforms that read annotations: inference has none.
_ANNOTATION_TRANSFORMS = ('LoadKeypointAnnotations', 'LoadAnnotations', 'mmdet.LoadAnnotations')
# A path (str or os.PathLike), an (H, W) / (H, W, 3) BGR uint8 array, or a PIL image.
ImageInput = Union[str, os.PathLike, np.ndarray]
ACCEPTED_INPUTS = ('an image path (str or pathlib.Path), a PIL image, or a uint8 numpy array '
                   '(H, W) grey or (H, W, 3) BGR as cv2.imread gives it')


def _is_pil_image(image) -> bool:
    try:
        from PIL import Image
    except ImportError:  # Pillow comes with torchvision; without it no PIL input exists
        return False
    return isinstance(image, Image.Image)


def is_single_image(images) -> bool:
    return isinstance(images, (str, os.PathLike, np.ndarray)) or _is_pil_image(images)


def as_model_input(image, index: int) -> Union[str, np.ndarray]:
    """A path as ``str``, or an (H, W, 3) BGR uint8 array, from what a user passes.

    Raises:
        TypeError or ValueError: saying what is accepted (``index`` names the input).
    """
    if isinstance(image, (str, os.PathLike)):
        return os.fspath(image)
    if _is_pil_image(image):
        return np.ascontiguousarray(np.asarray(image.convert('RGB'))[..., ::-1])
    if not isinstance(image, np.ndarray):
        raise TypeError(f'image {index} is a {type(image).__name__}; hrpose takes '
                        f'{ACCEPTED_INPUTS}')
    if image.dtype != np.uint8:
        value_range = (f' with values in [{image.min():g}, {image.max():g}]'
                       if image.size and np.issubdtype(image.dtype, np.number) else '')
        raise ValueError(f'image {index} is a {image.dtype} array{value_range}; hrpose takes '
                         f'{ACCEPTED_INPUTS} (values 0-255: convert with e.g. '
                         '(image * 255).round().astype(np.uint8) for floats in [0, 1])')
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'image {index} has shape {image.shape}; hrpose takes '
                         f'{ACCEPTED_INPUTS} (drop an alpha channel with image[..., :3])')
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f'image {index} is empty (shape {image.shape})')
    return image


def resolve_config(config: Union[str, Config]) -> Config:
    """A Config from a Config, a config file path, or a config name such as
    ``'hrpose_hrnet-w32_hrfpn_1x_coco'`` (see :func:`hrpose.utils.config_files.find_config`)."""
    if isinstance(config, Config):
        return copy.deepcopy(config)
    return load_config(config)


BACKENDS = ('pytorch', 'onnxruntime')


def checkpoint_backend(checkpoint: Optional[str], backend: Optional[str] = None) -> str:
    """'onnxruntime' for an ``.onnx`` file, else 'pytorch'; ``backend`` when given (checked
    against the file)."""
    is_onnx = checkpoint is not None and os.fspath(checkpoint).endswith('.onnx')
    if backend is None:
        return 'onnxruntime' if is_onnx else 'pytorch'
    if backend not in BACKENDS:
        raise ValueError(f'backend must be one of {BACKENDS}, got {backend!r}')
    if (backend == 'onnxruntime') != is_onnx:
        wanted = 'an .onnx file (tools/deployment/export_onnx.py)' if backend == 'onnxruntime' \
            else 'a .pth checkpoint'
        raise ValueError(f'backend {backend!r} takes {wanted}, got {checkpoint}')
    return backend


def init_model(config: Union[str, Config],
               checkpoint: Optional[str] = None,
               device: str = 'cpu',
               cfg_options: Optional[dict] = None,
               unsafe_load: bool = False,
               backend: Optional[str] = None,
               precision: str = 'fp32',
               fp16: bool = False,
               compile_mode: Optional[str] = None,
               channels_last: bool = False) -> nn.Module:
    """Build a detector from a config and load its weights, ready for inference.

    Args:
        config: a config file, a config name, or a Config.
        checkpoint: weights to load (a local ``.pth``), or an ONNX file exported by
            ``tools/deployment/export_onnx.py``; None keeps random weights.
        device: 'cpu', 'cuda', 'cuda:1', ... (ONNX: 'cuda' takes ONNX Runtime's CUDA
            provider).
        cfg_options: config overrides, e.g. ``{'model.test_cfg.rcnn.flip_test': True}``.
        unsafe_load: allow a checkpoint with types outside the allow-list (trusted files only).
        backend: 'pytorch' or 'onnxruntime' (default: from the checkpoint's suffix).
        precision: 'fp32', 'fp16' or 'bf16': the convolutions and linear layers under
            autocast, RoIAlign and all decoding in float32 (:mod:`hrpose.models.precision`).
            On CPUs bfloat16 is the one with fast kernels.
        fp16: shorthand for ``precision='fp16'``.
        compile_mode: compile the backbone, neck and RPN convolutions with
            ``torch.compile`` in this mode ('default', 'max-autotune', or 'reduce-overhead':
            CUDA graphs on GPUs, one per padded input size); None runs eagerly.
        channels_last: convolutions in channels-last memory order (the same results).

    Returns:
        nn.Module: the model in eval mode, with ``cfg`` (the config) and ``dataset_meta``
        (keypoint names, skeleton, flip indices, sigmas, colours) attached. An ONNX file
        gives an ``OnnxKeypointDetector``, which the inference API, the inferencer and
        the tools take as they take the PyTorch model.
    """
    cfg = resolve_config(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    register_all_modules(init_default_scope=False)
    init_default_scope(cfg.get('default_scope', 'hrpose'))
    onnx = checkpoint_backend(checkpoint, backend) == 'onnxruntime'
    set_inference_settings(cfg, 'fp16' if fp16 else precision, compile_mode, channels_last, onnx)
    if onnx:
        return init_onnx_model(cfg, os.fspath(checkpoint), device)
    # The checkpoint (or nothing) provides the weights: never fetch ImageNet ones here.
    if cfg.model.get('backbone', {}).get('init_cfg') is not None:
        cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)

    dataset_meta = None
    if checkpoint is not None:
        with unsafe_checkpoint_loading(unsafe_load):
            loaded = _load_checkpoint(checkpoint, map_location='cpu')
        state_dict = loaded.get('state_dict', loaded)
        check_weight_shapes(model, state_dict, checkpoint)
        _load_checkpoint_to_model(model, loaded)
        dataset_meta = loaded.get('meta', {}).get('dataset_meta')
    # The config's metainfo is authoritative; the checkpoint's is the fallback.
    dataset_meta = config_dataset_meta(cfg) or dataset_meta
    if dataset_meta is None:
        raise ValueError('no keypoint metainfo: the config has no '
                         'test_dataloader.dataset.metainfo and the checkpoint no dataset_meta')
    model.dataset_meta = dataset_meta
    model.cfg = cfg
    return model.to(device).eval()


def set_inference_settings(cfg: Config,
                           precision: str = 'fp32',
                           compile_mode: Optional[str] = None,
                           channels_last: bool = False,
                           onnx: bool = False) -> None:
    """Put the non-default inference settings into ``cfg.model`` (``inference_precision``,
    ``compile_image_part``, ``channels_last`` of ``KeypointTwoStageDetector``).

    Raises:
        ValueError: naming the setting, for an unknown value, a config of another model
            type, or an ONNX file (which runs as it was exported, in float32).
    """
    settings, named = {}, []
    if check_precision(precision, 'precision') != 'fp32':
        settings['inference_precision'] = precision
        named.append(f'precision={precision!r}')
    if compile_mode is not None:
        if compile_mode not in COMPILE_MODES:
            raise ValueError(f'compile_mode={compile_mode!r}: expected one of {COMPILE_MODES} '
                             'or None')
        settings['compile_image_part'] = compile_mode
        named.append(f'compile_mode={compile_mode!r}')
    if channels_last:
        settings['channels_last'] = True
        named.append('channels_last=True')
    if not settings:
        return
    if onnx:
        raise ValueError(f'{", ".join(named)}: PyTorch settings; an ONNX file runs as it was '
                         'exported, in float32')
    if cfg.model.get('type') != 'KeypointTwoStageDetector':
        raise ValueError(f"{', '.join(named)} needs model.type='KeypointTwoStageDetector', "
                         f'this config has {cfg.model.get("type")!r}')
    cfg.model.update(settings)


def config_dataset_meta(cfg: Config) -> Optional[dict]:
    """The keypoint metainfo of the config's test dataset, or None when it names none."""
    dataset_cfg = cfg.get('test_dataloader', {}).get('dataset', {})
    if dataset_cfg.get('metainfo') is None:
        return None
    return load_keypoint_metainfo(dataset_cfg.metainfo)


def init_onnx_model(cfg: Config, onnx_file: str, device: str = 'cpu') -> nn.Module:
    """An ``OnnxKeypointDetector`` for ``onnx_file`` with ``cfg``'s preprocessing and pose
    settings; its metainfo is the config's (else the file's), K checked against the file."""
    from hrpose.deploy import onnx_model_config
    if not os.path.isfile(onnx_file):
        raise FileNotFoundError(f'ONNX file {onnx_file} does not exist')
    model_cfg = onnx_model_config(cfg, onnx_file)
    if device.startswith('cuda'):
        model_cfg['providers'] = ['CUDAExecutionProvider', 'CPUExecutionProvider']
    model = MODELS.build(model_cfg)
    dataset_meta = config_dataset_meta(cfg) or model.metadata.get('dataset_meta') or None
    if dataset_meta is None:
        raise ValueError(f'no keypoint metainfo: the config has no '
                         f'test_dataloader.dataset.metainfo and {onnx_file} none either')
    model.check_keypoint_count(dataset_meta, 'the config')
    model.dataset_meta = dataset_meta
    model.cfg = cfg
    return model.eval()


def build_test_pipeline(cfg: Config, from_array: bool) -> Compose:
    """The config's test pipeline without annotation loading; for arrays, the image comes
    from ``results['img']`` instead of a file."""
    pipeline = copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
    pipeline = [t for t in pipeline if t['type'] not in _ANNOTATION_TRANSFORMS]
    if from_array:
        if pipeline[0]['type'] not in ('LoadCheckedImage', 'LoadImageFromFile'):
            raise ValueError(f'the test pipeline must start with LoadCheckedImage, got '
                             f'{pipeline[0]["type"]}')
        pipeline[0] = dict(type='mmdet.LoadImageFromNDArray')
    return Compose(pipeline)


def _prepare(model: nn.Module,
             image: ImageInput,
             index: int,
             pipelines: dict,
             person_boxes: Optional[np.ndarray] = None) -> dict:
    meta = model.dataset_meta
    from_array = isinstance(image, np.ndarray)
    if from_array not in pipelines:
        pipelines[from_array] = build_test_pipeline(model.cfg, from_array)
    results = dict(
        img_id=index,
        flip_indices=list(meta['flip_indices']),
        keypoint_sigmas=list(meta['sigmas']))
    if from_array:
        results['img'] = image
    else:
        results['img_path'] = image
    packed = pipelines[from_array](results)
    if person_boxes is not None:
        set_given_persons(packed['data_samples'], person_boxes[:, :4], person_boxes[:, 4],
                          'person boxes given to the inference API')
    return packed


def as_person_boxes(boxes, index: int) -> np.ndarray:
    """An (N, 5) float32 array x1, y1, x2, y2, score from (N, 4) or (N, 5) boxes in image
    pixels (score 1 where none is given)."""
    array = np.asarray(boxes, dtype=np.float32)
    if array.size == 0:
        return np.zeros((0, 5), dtype=np.float32)
    if array.ndim != 2 or array.shape[1] not in (4, 5):
        raise ValueError(f'person_boxes of image {index} has shape {array.shape}; expected '
                         '(N, 4) x1, y1, x2, y2 or (N, 5) with a score, in image pixels')
    if not np.all(np.isfinite(array)):
        raise ValueError(f'person_boxes of image {index} holds a non-finite number')
    if np.any(array[:, 2] <= array[:, 0]) or np.any(array[:, 3] <= array[:, 1]):
        bad = int(np.flatnonzero((array[:, 2] <= array[:, 0]) | (array[:, 3] <= array[:, 1]))[0])
        raise ValueError(f'person_boxes of image {index}: box {bad} {array[bad, :4].tolist()} '
                         'is empty; boxes are x1, y1, x2, y2 with x2 > x1 and y2 > y1')
    if array.shape[1] == 4:
        array = np.concatenate([array, np.ones((len(array), 1), np.float32)], axis=1)
    return array


def predictions_to_arrays(pred_instances) -> Dict[str, np.ndarray]:
    """Plain arrays from a data sample's ``pred_instances``: ``bboxes`` (N, 4) x1 y1 x2 y2,
    ``scores`` (N,), ``keypoints`` (N, K, 2) in pixel coordinates (first pixel's centre at
    0), ``keypoint_scores`` (N, K)."""
    instances = pred_instances.cpu()
    return dict(
        bboxes=instances.bboxes.numpy().astype(np.float32),
        scores=instances.scores.numpy().astype(np.float32),
        keypoints=continuous_to_coco(instances.keypoints).numpy().astype(np.float32),
        keypoint_scores=instances.keypoint_scores.numpy().astype(np.float32))


@torch.no_grad()
def inference_keypoints(model: nn.Module,
                        images: Union[ImageInput, Sequence[ImageInput]],
                        batch_size: int = 1,
                        return_datasamples: bool = False,
                        person_boxes=None) -> Union[Dict, List]:
    """Detect every person and their keypoints (or, with ``person_boxes``, the keypoints of
    the persons in the given boxes).

    Args:
        model: from :func:`init_model`.
        images: an image path (str or ``pathlib.Path``), a PIL image, an (H, W) grey or
            (H, W, 3) BGR uint8 array (as ``cv2.imread`` gives it), or a list of them;
            anything else is refused with a message saying what is accepted.
        batch_size: images per forward pass.
        return_datasamples: return mmdet ``DetDataSample`` objects instead of arrays.
        person_boxes: None (the detector finds the persons), or the persons' boxes: for one
            image an (N, 4) x1, y1, x2, y2 or (N, 5) (with a score) array in image pixels, as
            the returned ``bboxes`` are; for a list of images, a list of such arrays. The
            box branch is then skipped: the keypoint branch runs on these boxes, with their
            scores (1 where none are given), then rescoring and OKS-NMS as configured.

    Returns:
        For one image, a dict of arrays (see :func:`predictions_to_arrays`); for a list, a
        list of them in the same order.
    """
    if batch_size < 1:
        raise ValueError(f'batch_size must be a positive integer, got {batch_size}')
    single = is_single_image(images)
    images = [
        as_model_input(image, i) for i, image in enumerate([images] if single else list(images))
    ]
    boxes_per_image = [None] * len(images)
    if person_boxes is not None:
        person_boxes = [person_boxes] if single else list(person_boxes)
        if len(person_boxes) != len(images):
            raise ValueError(f'person_boxes: {len(person_boxes)} arrays for {len(images)} '
                             'images; give one per image')
        boxes_per_image = [as_person_boxes(boxes, i) for i, boxes in enumerate(person_boxes)]
    pipelines: dict = {}
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = [
            _prepare(model, image, start + i, pipelines, boxes_per_image[start + i])
            for i, image in enumerate(images[start:start + batch_size])
        ]
        samples = model.test_step(pseudo_collate(batch))
        outputs += samples if return_datasamples else [
            predictions_to_arrays(s.pred_instances) for s in samples
        ]
    return outputs[0] if single else outputs
