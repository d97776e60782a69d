"""RoI head with mmdet's box branch and a top-down style heatmap keypoint branch."""
import difflib
from typing import List, Optional, Tuple

import torch
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.models.task_modules.samplers import SamplingResult
from mmdet.models.utils import unpack_gt_instances
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import bbox2roi
from mmengine.structures import InstanceData
from torch import Tensor

from hrpose.registry import MODELS
from hrpose.structures import mirror_boxes

from ..precision import half_precision
from .pose_postprocessing import postprocess_poses


def check_known_keys(settings: Optional[dict], known: Tuple[str, ...], where: str) -> None:
    """A ValueError naming an unknown key of ``settings`` and the closest known one."""
    for key in settings or {}:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f'did you mean {close[0]!r}? ' if close else ''
            raise ValueError(f'{where}.{key}: unknown setting; {hint}known: {", ".join(known)}')


@MODELS.register_module()
class TopDownHeatmapRoIHead(StandardRoIHead):
    """mmdet's ``StandardRoIHead`` (box branch) plus a heatmap keypoint branch.

    Training: positive proposals (GT boxes included by the sampler) whose matched person
    has at least one labelled keypoint are expanded to the heatmap aspect ratio with
    padding (the codec's :meth:`expand_rois`), pooled with RoIAlign, turned into heatmaps
    (R, K, H, W) and compared with the codec's Gaussian targets. Inference: the boxes left
    after NMS go through the same expansion and the codec decodes their heatmaps.

    Args:
        keypoint_roi_extractor: RoI extractor config for the keypoint branch; its output
            size must be the keypoint head's ``roi_feat_size``.
        keypoint_head: keypoint head config (holds the codec).
        **kwargs: ``StandardRoIHead`` arguments (box branch, train_cfg, test_cfg).
            ``train_cfg.max_keypoint_rois_per_img`` caps the keypoint RoIs per image
            (random subset; default: all positives). ``test_cfg`` (mmdet's ``rcnn`` test
            settings; ``nms=dict(type='soft_nms', ...)`` gives soft-NMS of boxes) also takes:

            - ``flip_test`` (bool): average the heatmaps of each person with those of its
              mirror image (the detector passes the mirrored image's features);
            - ``rescore`` (bool) and ``keypoint_score_thr`` (float, default 0.2): pose
              score = box score x mean of the keypoint scores above the threshold;
            - ``oks_nms`` (dict or None): ``dict(iou_threshold=0.9, soft=False)`` removes
              poses that duplicate a better one by OKS, with the dataset's sigmas (mmpose's
              ``oks_nms``); ``soft=True`` orders them by decayed scores instead (mmpose's
              ``soft_oks_nms``);
            - ``max_poses_per_img`` (int, default 20, COCO's maxDets for keypoints): the
              poses kept per image, by final score.

            ``max_per_img`` caps the box detections (mmdet's meaning; 100 in COCO's box
            protocol). Every box detection gets a pose; rescoring, OKS-NMS and the pose cap
            make the pose results (:meth:`postprocess_poses`) and leave the box results as
            NMS left them.
    """

    # The settings this head and mmdet's box branch read: a misspelled key would otherwise
    # be ignored without a word (the config dicts are open).
    TEST_KEYS = ('score_thr', 'nms', 'max_per_img', 'mask_thr_binary', 'flip_test', 'flip_indices',
                 'rescore', 'keypoint_score_thr', 'oks_nms', 'max_poses_per_img')
    OKS_NMS_KEYS = ('iou_threshold', 'soft', 'sigmas')
    TRAIN_KEYS = ('assigner', 'sampler', 'pos_weight', 'debug', 'mask_size',
                  'max_keypoint_rois_per_img')

    def __init__(self, keypoint_roi_extractor: dict, keypoint_head: dict, **kwargs) -> None:
        check_known_keys(kwargs.get('test_cfg'), self.TEST_KEYS, 'model.test_cfg.rcnn')
        check_known_keys((kwargs.get('test_cfg') or {}).get('oks_nms'), self.OKS_NMS_KEYS,
                         'model.test_cfg.rcnn.oks_nms')
        check_known_keys(kwargs.get('train_cfg'), self.TRAIN_KEYS, 'model.train_cfg.rcnn')
        super().__init__(**kwargs)
        self.keypoint_roi_extractor = MODELS.build(keypoint_roi_extractor)
        self.keypoint_head = MODELS.build(keypoint_head)
        # 'fp32', 'fp16' or 'bf16' at test time, set by the detector (hrpose.models.precision).
        self.inference_precision = 'fp32'

    def _half_precision_inference(self) -> bool:
        return not self.training and self.inference_precision != 'fp32'

    def _bbox_forward(self, x: Tuple[Tensor], rois: Tensor) -> dict:
        """mmdet's box forward; in half-precision inference the RoIs are pooled from
        float32 features and the box head's outputs come back in float32, so that box
        decoding and NMS run in float32 (see :mod:`hrpose.models.precision`)."""
        if not self._half_precision_inference():
            return super()._bbox_forward(x, rois)
        device_type = rois.device.type
        with torch.autocast(device_type=device_type, enabled=False):
            bbox_feats = self.bbox_roi_extractor(
                tuple(level.float() for level in x[:self.bbox_roi_extractor.num_inputs]),
                rois.float())
        with half_precision(device_type, self.inference_precision):
            cls_score, bbox_pred = self.bbox_head(bbox_feats)
        return dict(
            cls_score=cls_score.float(), bbox_pred=bbox_pred.float(), bbox_feats=bbox_feats)

    @property
    def codec(self):
        """The one codec object of the keypoint head (encode and decode)."""
        return self.keypoint_head.codec

    def loss(self, x: Tuple[Tensor], rpn_results_list: List[InstanceData],
             batch_data_samples: List[DetDataSample]) -> dict:
        """Box losses as in mmdet plus ``loss_keypoint``."""
        batch_gt_instances, batch_gt_instances_ignore, _ = unpack_gt_instances(batch_data_samples)
        sampling_results = []
        for i, rpn_results in enumerate(rpn_results_list):
            rpn_results.priors = rpn_results.pop('bboxes')
            assign_result = self.bbox_assigner.assign(rpn_results, batch_gt_instances[i],
                                                      batch_gt_instances_ignore[i])
            sampling_results.append(
                self.bbox_sampler.sample(
                    assign_result,
                    rpn_results,
                    batch_gt_instances[i],
                    feats=[level[i][None] for level in x]))
        losses = dict(self.bbox_loss(x, sampling_results)['loss_bbox'])
        losses['loss_keypoint'] = self.keypoint_loss(x, sampling_results, batch_gt_instances)
        return losses

    def select_keypoint_rois(self, sampling_results: List[SamplingResult],
                             batch_gt_instances: List[InstanceData]) -> List[InstanceData]:
        """Each image's keypoint RoIs for training, expanded once here and used as they are
        by the pooling and the targets.

        As Keypoint R-CNN: a positive proposal (the sampler's, ground-truth boxes included)
        trains the branch only if a labelled keypoint of its person lies inside it (here:
        inside the expanded RoI, on the heatmap); proposals with all-zero weights would take
        slots of the cap and dilute the loss. Then at most
        ``train_cfg.max_keypoint_rois_per_img`` of them, a random subset.

        Returns:
            list[InstanceData]: per image, ``rois`` (R_i, 4) the expanded RoIs in
            input-image coordinates, ``gt_inds`` (R_i,) their persons, ``heatmap_coords``
            (R_i, K, 2) the persons' keypoints in each RoI's heatmap frame (float32) and
            ``keypoints_visible`` (R_i, K).
        """
        max_per_img = (self.train_cfg or {}).get('max_keypoint_rois_per_img', None)
        selected = []
        for res, gt in zip(sampling_results, batch_gt_instances):
            self.keypoint_head.check_num_keypoints(gt.keypoints)
            gt_inds = res.pos_assigned_gt_inds
            rois = self.codec.expand_rois(res.pos_priors.float())
            coords = self.codec.to_heatmap_coords(gt.keypoints.float()[gt_inds], rois)
            visible = gt.keypoints_visible.float()[gt_inds]
            keep = (self.codec.target_weights(coords, visible).sum(dim=-1) > 0).nonzero()[:, 0]
            if max_per_img is not None and len(keep) > max_per_img:
                keep = keep[torch.randperm(len(keep), device=keep.device)[:max_per_img]]
            selected.append(
                InstanceData(
                    rois=rois[keep],
                    gt_inds=gt_inds[keep],
                    heatmap_coords=coords[keep],
                    keypoints_visible=visible[keep]))
        return selected

    def keypoint_loss(self, x: Tuple[Tensor], sampling_results: List[SamplingResult],
                      batch_gt_instances: List[InstanceData]) -> Tensor:
        """Heatmap loss over the keypoint RoIs of the batch.

        A batch with no keypoint RoI gives a zero loss that still depends on every
        parameter of the branch, so distributed training sees the same graph on all ranks.
        """
        keypoint_rois = self.select_keypoint_rois(sampling_results, batch_gt_instances)
        if sum(len(selected) for selected in keypoint_rois) == 0:
            return sum(p.sum() for p in self.keypoint_head.parameters()) * 0.0
        heatmaps = self._keypoint_forward(x, [selected.rois for selected in keypoint_rois])
        return self.keypoint_head.loss_and_target(heatmaps, keypoint_rois)['loss_keypoint']

    def _keypoint_forward(self, x: Tuple[Tensor], rois_per_img: List[Tensor]) -> Tensor:
        """Heatmaps (R, K * C, H, W) for per-image RoIs [(R_i, 4)] in input-image
        coordinates."""
        pooled = [self.codec.pooling_rois(rois.float()) for rois in rois_per_img]
        levels = x[:self.keypoint_roi_extractor.num_inputs]
        # RoIAlign in float32 whatever the features' dtype: mmdet's extractor casts the RoIs
        # to the features' dtype, and in fp16 a coordinate in [1024, 2048) lies on a 1-pixel
        # grid, twice the error DARK and UDP remove. mmcv's kernels take RoIs in the dtype of
        # the features, so the pooled level is read in float32 too.
        with torch.autocast(device_type=levels[0].device.type, enabled=False):
            feats = self.keypoint_roi_extractor(
                tuple(level.float() for level in levels), bbox2roi(pooled))
        if self._half_precision_inference():
            with half_precision(levels[0].device.type, self.inference_precision):
                return self.keypoint_head(feats)
        return self.keypoint_head(feats)

    def predict(self,
                x: Tuple[Tensor],
                rpn_results_list: List[InstanceData],
                batch_data_samples: List[DetDataSample],
                rescale: bool = False,
                x_flipped: Optional[Tuple[Tensor]] = None) -> List[InstanceData]:
        """Every box detection with its pose: boxes, scores, labels, ``keypoints``
        (N, K, 2) and ``keypoint_scores`` (N, K) per image; with ``rescale`` in the original
        image's coordinates. :meth:`postprocess_poses` makes the pose results of them.

        Args:
            x_flipped: features of the horizontally mirrored batch, for the flip test.
        """
        batch_img_metas = [sample.metainfo for sample in batch_data_samples]
        # Boxes stay in input-image coordinates: the keypoint RoIs are pooled there; the
        # keypoint head rescales both.
        results_list = self.predict_bbox(
            x, batch_img_metas, rpn_results_list, rcnn_test_cfg=self.test_cfg, rescale=False)
        return self.predict_keypoints(x, results_list, batch_img_metas, x_flipped, rescale=rescale)

    def predict_keypoints(self,
                          x: Tuple[Tensor],
                          results_list: List[InstanceData],
                          batch_img_metas: Optional[List[dict]] = None,
                          x_flipped: Optional[Tuple[Tensor]] = None,
                          rescale: bool = False) -> List[InstanceData]:
        """Add ``keypoint_rois`` (N_i, 4, the expanded boxes), ``keypoints`` (N_i, K, 2)
        and ``keypoint_scores`` (N_i, K) to each image's detections, whose boxes are in
        input-image coordinates (the results too, unless ``rescale``)."""
        batch_img_metas = batch_img_metas or [{} for _ in results_list]
        # Expanded once: pooled here, decoded in them, their areas for OKS-NMS.
        for res in results_list:
            res.keypoint_rois = self.codec.expand_rois(res.bboxes.float())
        rois_per_img = [res.keypoint_rois for res in results_list]
        heatmaps = None
        if sum(len(rois) for rois in rois_per_img) > 0:
            heatmaps = self._keypoint_forward(x, rois_per_img)
            if self._test_setting('flip_test', False):
                heatmaps = (heatmaps +
                            self._flipped_heatmaps(x_flipped, rois_per_img, batch_img_metas)) / 2
        return self.keypoint_head.predict_by_feat(heatmaps, results_list, batch_img_metas,
                                                  self.test_cfg, rescale)

    def postprocess_poses(self, results_list: List[InstanceData],
                          batch_img_metas: List[dict]) -> List[InstanceData]:
        """The pose results of each image's detections (from :meth:`predict`): rescored,
        OKS-NMS'd and capped as ``test_cfg`` asks (see ``postprocess_poses``)."""
        return [
            postprocess_poses(res, meta, self.test_cfg or {})
            for res, meta in zip(results_list, batch_img_metas)
        ]

    def _test_setting(self, key: str, default=None):
        return (self.test_cfg or {}).get(key, default)

    def _flipped_heatmaps(self, x_flipped: Optional[Tuple[Tensor]], rois_per_img: List[Tensor],
                          batch_img_metas: List[dict]) -> Tensor:
        """The flip test: heatmaps of the mirrored RoIs on the mirrored image, mapped back
        by the codec (R, K * C, H, W)."""
        if x_flipped is None:
            raise ValueError('test_cfg.flip_test=True needs the features of the mirrored '
                             "image: use model type='KeypointTwoStageDetector'")
        # The batch tensor is mirrored as a whole, padding included: mirror about its width.
        mirrored = [
            mirror_boxes(rois, meta['batch_input_shape'][1])
            for rois, meta in zip(rois_per_img, batch_img_metas)
        ]
        flip_indices = batch_img_metas[0].get('flip_indices', self._test_setting('flip_indices'))
        if flip_indices is None:
            raise KeyError('flip test: no flip_indices in the image metainfo (pack them with '
                           'PackKeypointDetInputs) nor in test_cfg.flip_indices')
        return self.codec.flip_back(self._keypoint_forward(x_flipped, mirrored), flip_indices)

    def forward(self,
                x: Tuple[Tensor],
                rpn_results_list: List[InstanceData],
                batch_data_samples: Optional[List[DetDataSample]] = None) -> tuple:
        """Raw outputs for FLOP counting: box head outputs and keypoint heatmaps of the
        proposals."""
        outputs = super().forward(x, rpn_results_list, batch_data_samples)
        proposals = [self.codec.expand_rois(res.bboxes) for res in rpn_results_list]
        return outputs + (self._keypoint_forward(x, proposals), )
