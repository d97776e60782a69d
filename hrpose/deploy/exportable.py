"""The inference path of a ``KeypointTwoStageDetector`` as one traceable function of tensors.

``ExportableKeypointDetector(detector)(inputs, img_shape, scale_factor)`` computes what
``detector.predict`` computes for one image, before rescoring, OKS-NMS and the pose cap
(``postprocess_poses``, which both backends run afterwards on these outputs). It calls the
detector's own modules (backbone, neck, the RPN's and box head's convolutions and layers,
mmdet's anchor generator, box coder and RoI level mapping, the keypoint head and its
codec) and replaces only what a traced graph cannot hold:

* mmcv's RoIAlign by torchvision's (the same kernel: both are detectron2's, ``aligned=True``
  is ONNX ``RoiAlign``'s ``half_pixel``), each level's RoIs gathered with tensor
  operations instead of Python-side indexing;
* mmcv's NMS by torchvision's (ONNX ``NonMaxSuppression``), with mmcv's per-level offsets;
* Python-side sizes (top-k of ``nms_pre``, the box clip at the image size) by tensor ones,
  so that the graph takes any image height and width.

The function works in hrpose's continuous pixel coordinates (pixel i spans [i, i + 1)),
as the PyTorch model does.
"""
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
import torchvision
from torch import Tensor

# The codecs whose decoding the graph holds and whose parity is tested (UDP's combined
# maps are not: no trained model of them exists to test the parity on).
EXPORTABLE_CODECS = ('MSRAHeatmap', 'DARKHeatmap', 'UDPHeatmap')


class ExportError(ValueError):
    """A model or config setting the exported graph cannot express."""


def check_exportable(detector: nn.Module) -> None:
    """Refuse settings the graph does not implement, naming the config key and what is
    supported.

    Raises:
        ExportError: for flip test, soft-NMS or another box NMS than 'nms', a codec
            without a traceable decoder, a model other than hrpose's two-stage detector.
    """
    from hrpose.models import KeypointTwoStageDetector
    if not isinstance(detector, KeypointTwoStageDetector):
        raise ExportError(f"model.type: only 'KeypointTwoStageDetector' exports, got "
                          f'{type(detector).__name__}')
    rcnn = detector.roi_head.test_cfg or {}
    if rcnn.get('flip_test', False):
        raise ExportError('model.test_cfg.rcnn.flip_test=True is not exported (the graph runs '
                          'the image once); supported: False')
    for key, cfg in (('model.test_cfg.rcnn.nms', rcnn.get('nms') or {}),
                     ('model.test_cfg.rpn.nms', (detector.rpn_head.test_cfg or {}).get('nms')
                      or {})):
        if cfg.get('type', 'nms') != 'nms':
            raise ExportError(f"{key}.type={cfg.get('type')!r} is not exported (ONNX has no "
                              "soft-NMS); supported: 'nms'")
    codec = type(detector.roi_head.codec).__name__
    if codec not in EXPORTABLE_CODECS:
        raise ExportError(f'model.roi_head.keypoint_head.codec.type={codec!r} is not exported; '
                          f'supported: {", ".join(EXPORTABLE_CODECS)}')
    if detector.roi_head.bbox_head.num_classes != 1:
        raise ExportError(f'model.roi_head.bbox_head.num_classes='
                          f'{detector.roi_head.bbox_head.num_classes}: the exported graph '
                          'detects one class (person); supported: 1')


def tensor_min(value: int, size: Tensor) -> Tensor:
    """``min(value, size)`` as a 0-d tensor: a traced ``min`` of Python ints would freeze the
    size of the example input into the graph."""
    return torch.minimum(torch.as_tensor(value, dtype=torch.long), size.to(torch.long))


def clip_boxes(boxes: Tensor, img_shape: Tensor) -> Tensor:
    """(N, 4) boxes clipped to ``[0, w] x [0, h]`` of ``img_shape`` (2,) = (h, w), as
    mmdet's box coder clips at ``max_shape`` (it clamps in place with the size's entries,
    which a trace freezes when they are Python numbers, and its ONNX branch imports mmdet
    2.x's removed ``mmdet.core``)."""
    h, w = img_shape[0].to(boxes.dtype), img_shape[1].to(boxes.dtype)
    zero = boxes.new_zeros(())
    x = torch.minimum(torch.maximum(boxes[:, 0::2], zero), w)
    y = torch.minimum(torch.maximum(boxes[:, 1::2], zero), h)
    return torch.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], dim=1)


def batched_nms(boxes: Tensor, scores: Tensor, groups: Tensor, iou_threshold: float) -> Tensor:
    """Indices kept by NMS within each group, by decreasing score: mmcv's ``batched_nms``
    (boxes of different groups shifted apart by the largest coordinate + 1) on torchvision's
    ``nms``."""
    offsets = groups.to(boxes.dtype) * (boxes.max() + 1)
    return torchvision.ops.nms(boxes + offsets[:, None], scores, iou_threshold)


def multi_level_roi_align(extractor: nn.Module, feats: Tuple[Tensor], rois: Tensor) -> Tensor:
    """mmdet's ``SingleRoIExtractor`` with torchvision's RoIAlign.

    Each RoI is pooled once, from the level mmdet maps it to: the RoIs of each level are
    gathered, pooled, and the pooled features put back in the RoIs' order (pooling every
    RoI on every level and selecting would cost 4x the RoIAlign time for the box branch's
    1000 proposals).

    Args:
        extractor: the model's extractor (its levels, strides, output size, sampling ratio,
            ``aligned`` and ``finest_scale``).
        feats: the neck's levels.
        rois: (R, 5) batch index, x1, y1, x2, y2.

    Returns:
        Tensor: (R, C, h, w).
    """
    num_levels = len(extractor.featmap_strides)

    def pool(layer, level, level_rois):
        return torchvision.ops.roi_align(
            level.float(),
            level_rois,
            output_size=tuple(layer.output_size),
            spatial_scale=float(layer.spatial_scale),
            sampling_ratio=int(layer.sampling_ratio),
            aligned=bool(layer.aligned))

    if num_levels == 1:
        return pool(extractor.roi_layers[0], feats[0], rois)
    target = extractor.map_roi_levels(rois, num_levels)
    pooled, order = [], []
    for index, (layer, level) in enumerate(zip(extractor.roi_layers, feats[:num_levels])):
        members = (target == index).nonzero()[:, 0]
        pooled.append(pool(layer, level, rois[members]))
        order.append(members)
    # Level by level, then back to the RoIs' order.
    return torch.cat(pooled)[torch.cat(order).argsort()]


def as_rois(boxes: Tensor) -> Tensor:
    """(N, 4) boxes of the one image -> (N, 5) RoIs with batch index 0."""
    return torch.cat([boxes[:, :1] * 0, boxes], dim=1)


class ExportableKeypointDetector(nn.Module):
    """One image's boxes and poses, from tensors to tensors (see the module docstring).

    Args:
        detector: a ``KeypointTwoStageDetector`` in eval mode (checked by
            :func:`check_exportable`).
        max_persons: the box detections kept per image (default: the config's
            ``test_cfg.rcnn.max_per_img``).
    """

    def __init__(self, detector: nn.Module, max_persons: Optional[int] = None) -> None:
        super().__init__()
        check_exportable(detector)
        self.detector = detector
        rcnn = detector.roi_head.test_cfg
        self.max_persons = int(max_persons if max_persons is not None else rcnn.max_per_img)
        if self.max_persons < 1:
            raise ExportError(f'max_persons must be >= 1, got {self.max_persons}')

    def forward(self, inputs: Tensor, img_shape: Tensor,
                scale_factor: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """
        Args:
            inputs: (1, 3, H, W) the normalised, padded image (the data preprocessor's
                output); H and W at least the detector's ``min_input_size``.
            img_shape: (2,) float32 (h, w) of the resized image inside the padding.
            scale_factor: (2,) float32 (w, h) of the resize from the original image.

        Returns:
            tuple: in original-image pixels (hrpose's continuous coordinates), N <=
            ``max_persons`` detections by decreasing score: ``boxes`` (N, 4),
            ``scores`` (N,), ``keypoints`` (N, K, 2), ``keypoint_scores`` (N, K),
            ``keypoint_rois`` (N, 4) (the expanded boxes the keypoints were decoded in).
        """
        detector = self.detector
        feats = detector.extract_feat(inputs)
        proposals = self.proposals(feats, img_shape)
        boxes, scores = self.box_detections(feats, proposals, img_shape)
        codec = detector.roi_head.codec
        # One spare RoI after the detections, dropped at the end: ONNX Runtime cannot
        # reshape an empty batch of heatmaps to (0, K, -1), which an image without persons
        # would give. RoIs do not interact, so the spare changes no other result.
        spare = boxes.new_tensor([[0., 0., *codec.heatmap_size]])
        keypoint_rois = codec.expand_rois(torch.cat([boxes, spare]))
        pooled = multi_level_roi_align(detector.roi_head.keypoint_roi_extractor, feats,
                                       as_rois(codec.pooling_rois(keypoint_rois)))
        heatmaps = detector.roi_head.keypoint_head(pooled)
        keypoints, keypoint_scores = codec.decode(heatmaps, keypoint_rois)
        keypoint_rois, keypoints, keypoint_scores = (keypoint_rois[:-1], keypoints[:-1],
                                                     keypoint_scores[:-1])
        to_original = 1 / scale_factor.to(boxes.dtype)
        box_scale = torch.cat([to_original, to_original])
        return (boxes * box_scale, scores, keypoints * to_original, keypoint_scores,
                keypoint_rois * box_scale)

    def proposals(self, feats: Tuple[Tensor], img_shape: Tensor) -> Tensor:
        """The RPN's proposals (P, 4), as mmdet's ``RPNHead.predict_by_feat``: per level
        the ``nms_pre`` best anchors, decoded and clipped, empty ones dropped, NMS per
        level, the ``max_per_img`` best."""
        rpn_head = self.detector.rpn_head
        cfg = rpn_head.test_cfg
        cls_scores, bbox_preds = rpn_head(feats)
        priors = rpn_head.prior_generator.grid_priors([score.shape[-2:] for score in cls_scores],
                                                      dtype=cls_scores[0].dtype,
                                                      device=cls_scores[0].device)
        level_scores, level_deltas, level_priors, level_ids = [], [], [], []
        for level, (score, delta, prior) in enumerate(zip(cls_scores, bbox_preds, priors)):
            score = score[0].permute(1, 2, 0).reshape(-1)
            if rpn_head.use_sigmoid_cls:
                score = score.sigmoid()
            else:  # two-class softmax: the foreground's probability
                score = score.reshape(-1, 2).softmax(-1)[:, 0]
            delta = delta[0].permute(1, 2, 0).reshape(-1, 4)
            if cfg.get('nms_pre', -1) > 0:
                k = tensor_min(cfg.nms_pre, torch._shape_as_tensor(score)[0])
                score, index = score.topk(k)
                delta, prior = delta[index], prior[index]
            level_scores.append(score)
            level_deltas.append(delta)
            level_priors.append(prior)
            level_ids.append(torch.full_like(score, level, dtype=torch.long))
        scores = torch.cat(level_scores)
        boxes = rpn_head.bbox_coder.decode(torch.cat(level_priors), torch.cat(level_deltas))
        boxes = clip_boxes(boxes, img_shape)
        ids = torch.cat(level_ids)
        if cfg.get('min_bbox_size', -1) >= 0:
            wide = (boxes[:, 2] - boxes[:, 0] > cfg.min_bbox_size) & (
                boxes[:, 3] - boxes[:, 1] > cfg.min_bbox_size)
            keep = wide.nonzero()[:, 0]
            boxes, scores, ids = boxes[keep], scores[keep], ids[keep]
        keep = batched_nms(boxes, scores, ids, cfg.nms.iou_threshold)[:cfg.max_per_img]
        return boxes[keep]

    def box_detections(self, feats: Tuple[Tensor], proposals: Tensor,
                       img_shape: Tensor) -> Tuple[Tensor, Tensor]:
        """The box branch, as mmdet's ``StandardRoIHead.predict_bbox`` with one class:
        boxes (N, 4) in input-image pixels and scores (N,), above ``score_thr`` after NMS,
        the ``max_persons`` best."""
        roi_head = self.detector.roi_head
        cfg = roi_head.test_cfg
        pooled = multi_level_roi_align(roi_head.bbox_roi_extractor, feats, as_rois(proposals))
        cls_score, bbox_pred = roi_head.bbox_head(pooled)
        scores = cls_score.softmax(-1)[:, 0]
        boxes = clip_boxes(
            roi_head.bbox_head.bbox_coder.decode(proposals, bbox_pred[:, :4]), img_shape)
        keep = (scores > cfg.score_thr).nonzero()[:, 0]
        boxes, scores = boxes[keep], scores[keep]
        keep = torchvision.ops.nms(boxes, scores, cfg.nms.iou_threshold)[:self.max_persons]
        return boxes[keep], scores[keep]


OUTPUT_NAMES: List[str] = ['boxes', 'scores', 'keypoints', 'keypoint_scores', 'keypoint_rois']
INPUT_NAMES: List[str] = ['inputs', 'img_shape', 'scale_factor']
