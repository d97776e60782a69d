"""Export a trained hrpose detector to one ONNX file, and the facts the runtime needs.

The graph is traced with torch's TorchScript exporter (``dynamo=False``): it exports
torchvision's ``nms`` and ``roi_align`` to ONNX ``NonMaxSuppression`` and ``RoiAlign``
(opset 16+: ``coordinate_transformation_mode='half_pixel'``, mmcv's ``aligned=True``) and
keeps the image height and width dynamic through the traced shape operations. (The dynamo
exporter turns data-dependent sizes, the boxes left after NMS, into guards it cannot
resolve for this graph.)

The file carries its own description in ONNX metadata (``hrpose_*`` keys): the number of
keypoints, the codec, the person cap, the input size (dynamic or fixed), the preprocessing
(mean, std, channel order, padding), the opset, the config it was exported from and the
dataset metainfo.
"""
import json
import os
import os.path as osp
import warnings
from typing import Optional, Tuple

import torch
import torch.nn as nn

from .exportable import INPUT_NAMES, OUTPUT_NAMES, ExportableKeypointDetector

DEFAULT_OPSET = 17
# RoiAlign's half_pixel mode (mmcv's aligned=True) exists from opset 16.
MIN_OPSET = 16
METADATA_PREFIX = 'hrpose_'
DEPLOY_REQUIREMENTS = 'requirements/deploy.txt'


def import_onnx_packages(need_runtime: bool = True):
    """``(onnx, onnxruntime)`` (``onnxruntime`` None when not needed), or an ImportError
    saying what to install."""
    try:
        import onnx
        runtime = None
        if need_runtime:
            import onnxruntime as runtime
    except ImportError as error:
        raise ImportError(f'{error.name} is not installed: ONNX export and the onnxruntime '
                          f'backend need `pip install -r {DEPLOY_REQUIREMENTS}` (make install '
                          'installs it)') from error
    return onnx, runtime


def example_inputs(detector: nn.Module,
                   input_size: Tuple[int, int]) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inputs of the traced run: a (1, 3, H, W) image of ``input_size`` (H, W), rounded up
    to the padding divisor, with its ``img_shape`` and a unit ``scale_factor``."""
    divisor = int(getattr(detector.data_preprocessor, 'pad_size_divisor', 1) or 1)
    height, width = (max(int(s), detector.min_input_size) for s in input_size)
    height, width = (-(-s // divisor) * divisor for s in (height, width))
    generator = torch.Generator().manual_seed(0)
    image = torch.randn(1, 3, height, width, generator=generator)
    return image, torch.tensor([height, width], dtype=torch.float32), torch.ones(2)


def trace_to_onnx(module: nn.Module,
                  inputs: tuple,
                  out_file: str,
                  opset: int = DEFAULT_OPSET,
                  dynamic: bool = True) -> None:
    """Trace an :class:`ExportableKeypointDetector` (or a subclass) on ``inputs`` into
    ``out_file`` with the TorchScript exporter, the person count always dynamic, the image
    size too with ``dynamic``."""
    dynamic_axes = {name: {0: 'num_persons'} for name in OUTPUT_NAMES}
    if dynamic:
        dynamic_axes['inputs'] = {2: 'height', 3: 'width'}
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    # The tracer warns at every Python-level test of a shape (the codecs' and mmdet's
    # argument checks, the heatmap size): those are constants of the model, not of the image.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
        torch.onnx.export(
            module,
            inputs,
            out_file,
            dynamo=False,
            opset_version=opset,
            input_names=INPUT_NAMES,
            output_names=OUTPUT_NAMES,
            dynamic_axes=dynamic_axes,
            do_constant_folding=True)


def export_onnx(detector: nn.Module,
                out_file: str,
                input_size: Tuple[int, int] = (800, 1344),
                opset: int = DEFAULT_OPSET,
                dynamic: bool = True,
                max_persons: Optional[int] = None,
                dataset_meta: Optional[dict] = None,
                config_text: str = '') -> dict:
    """Trace ``detector`` (a ``KeypointTwoStageDetector``, any device; exported on the CPU)
    into ``out_file``.

    Args:
        input_size: (H, W) of the traced example; with ``dynamic`` any size runs, without
            it the file only takes this size (rounded up to the padding divisor).
        opset: ONNX opset, at least 16.
        max_persons: box detections per image (default: ``test_cfg.rcnn.max_per_img``).
        dataset_meta: the keypoint metainfo to store in the file.
        config_text: the config to store in the file.

    Returns:
        dict: the metadata written into the file (without the config and metainfo).
    """
    onnx, _ = import_onnx_packages(need_runtime=False)
    if opset < MIN_OPSET:
        raise ValueError(f'--opset {opset}: RoiAlign with half_pixel coordinates (mmcv\'s '
                         f'aligned=True) needs opset >= {MIN_OPSET}')
    detector = detector.cpu().eval()
    module = ExportableKeypointDetector(detector, max_persons=max_persons).eval()
    inputs = example_inputs(detector, input_size)
    trace_to_onnx(module, inputs, out_file, opset, dynamic)
    preprocessor = detector.data_preprocessor
    codec = detector.roi_head.codec
    metadata = dict(
        num_keypoints=detector.roi_head.keypoint_head.num_keypoints,
        codec=repr(codec),
        max_persons=module.max_persons,
        input_size='dynamic' if dynamic else f'{inputs[0].shape[2]}x{inputs[0].shape[3]}',
        min_input_size=detector.min_input_size,
        mean=[float(v) for v in preprocessor.mean.flatten()],
        std=[float(v) for v in preprocessor.std.flatten()],
        bgr_to_rgb=bool(getattr(preprocessor, '_channel_conversion', False)),
        pad_size_divisor=int(getattr(preprocessor, 'pad_size_divisor', 1) or 1),
        opset=opset)
    model = onnx.load(out_file)
    stored = dict(metadata, config=config_text, dataset_meta=dataset_meta or {})
    for key, value in stored.items():
        entry = model.metadata_props.add()
        entry.key = METADATA_PREFIX + key
        entry.value = value if isinstance(value, str) else json.dumps(value, default=list)
    onnx.checker.check_model(model)
    onnx.save(model, out_file)
    return metadata


def read_metadata(session) -> dict:
    """The ``hrpose_*`` metadata of an onnxruntime session, decoded (JSON values parsed)."""
    raw = session.get_modelmeta().custom_metadata_map
    metadata = {}
    for key, value in raw.items():
        if not key.startswith(METADATA_PREFIX):
            continue
        name = key[len(METADATA_PREFIX):]
        try:  # strings are stored as they are, everything else as JSON
            metadata[name] = json.loads(value)
        except json.JSONDecodeError:
            metadata[name] = value
    return metadata
