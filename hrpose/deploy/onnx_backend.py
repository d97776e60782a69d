"""Run an exported ONNX file with ONNX Runtime behind the PyTorch model's interface.

``OnnxKeypointDetector`` is an mmengine ``BaseModel``: the config's data preprocessor turns
the test pipeline's output into the same normalised, padded tensor the PyTorch model gets,
the graph computes every detection with its pose, and the same ``postprocess_poses``
(rescoring, OKS-NMS, the pose cap) makes the pose results. ``init_model(config,
'model.onnx')``, ``inference_keypoints``, ``KeypointInferencer``, ``demo/demo.py`` and
``tools/test.py`` take it where they take a checkpoint.
"""
from typing import List, Optional, Sequence

import numpy as np
import torch
from mmdet.structures import SampleList
from mmengine.model import BaseModel
from mmengine.structures import InstanceData
from torch import Tensor

from hrpose.models.roi_heads.pose_postprocessing import postprocess_poses
from hrpose.registry import MODELS

from .onnx_export import import_onnx_packages, read_metadata


def graph_detections(outputs: Sequence[np.ndarray]) -> InstanceData:
    """The graph's outputs (``OUTPUT_NAMES`` of :mod:`hrpose.deploy.exportable`) as the
    detections ``postprocess_poses`` takes: ``bboxes``, ``scores``, ``labels`` (person),
    ``keypoints``, ``keypoint_scores``, ``keypoint_rois``."""
    boxes, scores, keypoints, keypoint_scores, rois = (torch.from_numpy(a) for a in outputs)
    return InstanceData(
        bboxes=boxes,
        scores=scores,
        labels=torch.zeros(len(boxes), dtype=torch.long),
        keypoints=keypoints,
        keypoint_scores=keypoint_scores,
        keypoint_rois=rois)


@MODELS.register_module()
class OnnxKeypointDetector(BaseModel):
    """An exported hrpose detector in ONNX Runtime, with the PyTorch model's outputs.

    Args:
        onnx_file: the file of ``tools/deployment/export_onnx.py``.
        data_preprocessor: the config's ``model.data_preprocessor``.
        test_cfg: the config's ``model.test_cfg.rcnn`` (rescoring, OKS-NMS and the pose cap
            run after the graph as configured here; the graph's own settings were fixed at
            export).
        providers: ONNX Runtime execution providers (default: CPU).
        num_threads: intra-op threads (default: ONNX Runtime's choice, all cores).
    """

    def __init__(self,
                 onnx_file: str,
                 data_preprocessor: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 providers: Optional[Sequence[str]] = None,
                 num_threads: Optional[int] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        _, ort = import_onnx_packages()
        options = ort.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = int(num_threads)
        try:
            self.session = ort.InferenceSession(
                onnx_file,
                sess_options=options,
                providers=list(providers or ['CPUExecutionProvider']))
        except Exception as error:  # onnxruntime raises its own exception types
            raise ValueError(f'{onnx_file}: ONNX Runtime cannot load it ({error})') from error
        self.onnx_file = onnx_file
        self.metadata = read_metadata(self.session)
        if 'num_keypoints' not in self.metadata:
            raise ValueError(f'{onnx_file} has no hrpose metadata: export it with '
                             'tools/deployment/export_onnx.py')
        self.num_keypoints = int(self.metadata['num_keypoints'])
        self.test_cfg = dict(test_cfg or {})
        fixed = self.metadata.get('input_size', 'dynamic')
        self.fixed_input_size = None if fixed == 'dynamic' else tuple(
            int(s) for s in fixed.split('x'))

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[SampleList] = None,
                mode: str = 'predict') -> SampleList:
        if mode != 'predict':
            raise ValueError(f"an ONNX model only predicts (mode='predict'), got mode={mode!r}")
        return self.predict(inputs, data_samples)

    def check_keypoint_count(self, dataset_meta: Optional[dict], where: str) -> None:
        """The file's K against the metainfo's; a ValueError naming both."""
        wanted = (dataset_meta or {}).get('num_keypoints')
        if wanted is not None and int(wanted) != self.num_keypoints:
            raise ValueError(f'{self.onnx_file} was exported for K={self.num_keypoints} '
                             f'keypoints but the metainfo of {where} has K={wanted}: use the '
                             'config the model was trained with')

    def run_graph(self, image: Tensor, img_shape: Sequence[float],
                  scale_factor: Sequence[float]) -> List[np.ndarray]:
        """The graph's outputs for one (1, 3, H, W) input, padded at the right and bottom to
        the exported minimum size as the PyTorch model pads it."""
        height, width = image.shape[-2:]
        if self.fixed_input_size is not None and (height, width) != self.fixed_input_size:
            raise ValueError(
                f'{self.onnx_file} was exported for inputs of {self.fixed_input_size[0]}x'
                f'{self.fixed_input_size[1]} (H x W) but this image is {height}x{width} after '
                'resizing and padding: export it without --fixed-size, or resize to that size')
        min_size = int(self.metadata.get('min_input_size', 1))
        if height < min_size or width < min_size:
            image = torch.nn.functional.pad(
                image, (0, max(0, min_size - width), 0, max(0, min_size - height)))
        feeds = dict(
            inputs=image.detach().float().cpu().numpy(),
            img_shape=np.asarray(img_shape[:2], dtype=np.float32),
            scale_factor=np.asarray(scale_factor, dtype=np.float32))
        return self.session.run(None, feeds)

    def predict(self, inputs: Tensor, data_samples: SampleList) -> SampleList:
        """``pred_boxes`` and ``pred_instances`` per image, as
        ``KeypointTwoStageDetector.predict`` gives them (original-image pixels)."""
        for index, sample in enumerate(data_samples):
            if sample.get('given_persons', None) is not None:
                raise ValueError('given person boxes need the PyTorch model: the exported '
                                 'graph detects the persons itself')
            meta = sample.metainfo
            detections = graph_detections(
                self.run_graph(inputs[index:index + 1], meta['img_shape'], meta['scale_factor']))
            sample.pred_boxes = InstanceData(
                bboxes=detections.bboxes, scores=detections.scores, labels=detections.labels)
            sample.pred_instances = postprocess_poses(detections, meta, self.test_cfg)
        return data_samples


def onnx_model_config(cfg, onnx_file: str) -> dict:
    """The ``model`` config of an ``OnnxKeypointDetector`` for ``onnx_file`` that
    preprocesses and post-processes as ``cfg`` (a hrpose config) does."""
    return dict(
        type='OnnxKeypointDetector',
        onnx_file=onnx_file,
        data_preprocessor=cfg.model.data_preprocessor,
        test_cfg=(cfg.model.get('test_cfg') or {}).get('rcnn'))
