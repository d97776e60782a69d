"""RoI head with mmdet's box branch and a top-down style heatmap keypoint branch."""
from typing import List, Optional, Tuple

import torch
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.models.task_modules.samplers import SamplingResult
from mmdet.models.utils import unpack_gt_instances
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import bbox2roi, scale_boxes
from mmengine.structures import InstanceData
from torch import Tensor

from hrpose.registry import MODELS
from .pose_postprocessing import flip_heatmaps_back, mirror_boxes, oks_nms, rescore_instances


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
            - ``rescore`` (bool) and ``keypoint_score_thr`` (float, default 0.2): instance
              score = box score x mean of the keypoint scores above the threshold;
            - ``oks_nms`` (dict or None): ``dict(iou_threshold=0.9, soft=False)`` removes
              (or with ``soft=True`` decays) poses that duplicate a better one by OKS, with
              the dataset's sigmas.
    """

    def __init__(self, keypoint_roi_extractor: dict, keypoint_head: dict, **kwargs) -> None:
        super().__init__(**kwargs)
        self.keypoint_roi_extractor = MODELS.build(keypoint_roi_extractor)
        self.keypoint_head = MODELS.build(keypoint_head)

    @property
    def codec(self):
        """The one codec object of the keypoint head (encode and decode)."""
        return self.keypoint_head.codec

    def loss(self, x: Tuple[Tensor], rpn_results_list: List[InstanceData],
             batch_data_samples: List[DetDataSample]) -> dict:
        """Box losses as in mmdet plus ``loss_keypoint``."""
        batch_gt_instances, batch_gt_instances_ignore, _ = unpack_gt_instances(
            batch_data_samples)
        sampling_results = []
        for i, rpn_results in enumerate(rpn_results_list):
            rpn_results.priors = rpn_results.pop('bboxes')
            assign_result = self.bbox_assigner.assign(rpn_results, batch_gt_instances[i],
                                                      batch_gt_instances_ignore[i])
            sampling_results.append(
                self.bbox_sampler.sample(
                    assign_result, rpn_results, batch_gt_instances[i],
                    feats=[level[i][None] for level in x]))
        losses = dict(self.bbox_loss(x, sampling_results)['loss_bbox'])
        losses['loss_keypoint'] = self.keypoint_loss(x, sampling_results, batch_gt_instances)
        return losses

    def _keypoint_training_rois(
            self, sampling_results: List[SamplingResult],
            batch_gt_instances: List[InstanceData]) -> Tuple[List[Tensor], Tensor, Tensor]:
        """Positive proposals holding a labelled keypoint of their person, with their GT.

        Returns:
            tuple: per-image expanded RoIs [(R_i, 4)], keypoints (R, K, 2) and
            visibility (R, K) of the matched persons, R = sum R_i.
        """
        num_keypoints = self.keypoint_head.num_keypoints
        max_per_img = (self.train_cfg or {}).get('max_keypoint_rois_per_img', None)
        rois, keypoints, visible = [], [], []
        for res, gt in zip(sampling_results, batch_gt_instances):
            gt_keypoints = gt.keypoints.to(res.pos_priors.dtype)
            gt_visible = gt.keypoints_visible.to(res.pos_priors.dtype)
            if gt_keypoints.shape[-2] != num_keypoints:
                raise ValueError(
                    f'the dataset gives K={gt_keypoints.shape[-2]} keypoints per person but '
                    f'model.roi_head.keypoint_head.num_keypoints={num_keypoints}: make them '
                    'equal (K comes from the dataset metainfo, e.g. 17 for COCO, 14 for '
                    'CrowdPose)')
            # As Keypoint R-CNN: a RoI trains the branch only if a labelled keypoint of its
            # person lies inside it (here: inside the expanded RoI, on the heatmap). RoIs
            # with all-zero weights would take slots of the cap and dilute the loss.
            gt_inds = res.pos_assigned_gt_inds
            expanded = self.codec.expand_rois(res.pos_priors)
            coords = self.codec.to_heatmap_coords(gt_keypoints[gt_inds], expanded)
            keep = self.codec.target_weights(coords, gt_visible[gt_inds]).sum(dim=-1) > 0
            expanded, gt_inds = expanded[keep], gt_inds[keep]
            if max_per_img is not None and len(gt_inds) > max_per_img:
                chosen = torch.randperm(len(gt_inds), device=gt_inds.device)[:max_per_img]
                expanded, gt_inds = expanded[chosen], gt_inds[chosen]
            rois.append(expanded)
            keypoints.append(gt_keypoints[gt_inds])
            visible.append(gt_visible[gt_inds])
        return rois, torch.cat(keypoints), torch.cat(visible)

    def keypoint_loss(self, x: Tuple[Tensor], sampling_results: List[SamplingResult],
                      batch_gt_instances: List[InstanceData]) -> Tensor:
        """Heatmap loss over the keypoint RoIs of the batch.

        A batch with no keypoint RoI gives a zero loss that still depends on every
        parameter of the branch, so distributed training sees the same graph on all ranks.
        """
        rois_per_img, keypoints, visible = self._keypoint_training_rois(
            sampling_results, batch_gt_instances)
        rois = torch.cat(rois_per_img)
        if rois.shape[0] == 0:
            return sum(p.sum() for p in self.keypoint_head.parameters()) * 0.0
        heatmaps = self._keypoint_forward(x, rois_per_img)
        return self.keypoint_head.loss_and_target(heatmaps, rois, keypoints,
                                                  visible)['loss_keypoint']

    def _keypoint_forward(self, x: Tuple[Tensor], rois_per_img: List[Tensor]) -> Tensor:
        """Heatmaps (R, K, H, W) for per-image RoIs [(R_i, 4)] in input-image coordinates."""
        pooled = [self.codec.pooling_rois(rois.float()) for rois in rois_per_img]
        levels = x[:self.keypoint_roi_extractor.num_inputs]
        # RoIAlign in float32 whatever the features' dtype: mmdet's extractor casts the RoIs
        # to the features' dtype, and in fp16 a coordinate in [1024, 2048) lies on a 1-pixel
        # grid, twice the error DARK and UDP remove. mmcv's kernels take RoIs in the dtype of
        # the features, so the pooled level is read in float32 too.
        with torch.autocast(device_type=levels[0].device.type, enabled=False):
            feats = self.keypoint_roi_extractor(tuple(level.float() for level in levels),
                                                bbox2roi(pooled))
        return self.keypoint_head(feats)

    def predict(self,
                x: Tuple[Tensor],
                rpn_results_list: List[InstanceData],
                batch_data_samples: List[DetDataSample],
                rescale: bool = False,
                x_flipped: Optional[Tuple[Tensor]] = None) -> List[InstanceData]:
        """Boxes, scores, labels, ``keypoints`` (N, K, 2) and ``keypoint_scores`` (N, K)
        per image; with ``rescale`` in the original image's coordinates.

        Args:
            x_flipped: features of the horizontally mirrored batch, for the flip test.
        """
        batch_img_metas = [sample.metainfo for sample in batch_data_samples]
        results_list = self.predict_bbox(
            x, batch_img_metas, rpn_results_list, rcnn_test_cfg=self.test_cfg, rescale=False)
        results_list = self.predict_keypoints(x, results_list, batch_img_metas, x_flipped)
        results_list = [
            self.postprocess_poses(results, img_meta)
            for results, img_meta in zip(results_list, batch_img_metas)
        ]
        if rescale:
            for results, img_meta in zip(results_list, batch_img_metas):
                w_scale, h_scale = img_meta['scale_factor']
                results.bboxes = scale_boxes(results.bboxes, (1 / w_scale, 1 / h_scale))
                results.keypoints = results.keypoints / results.keypoints.new_tensor(
                    [w_scale, h_scale])
        return results_list

    def predict_keypoints(self,
                          x: Tuple[Tensor],
                          results_list: List[InstanceData],
                          batch_img_metas: Optional[List[dict]] = None,
                          x_flipped: Optional[Tuple[Tensor]] = None) -> List[InstanceData]:
        """Add ``keypoints`` and ``keypoint_scores`` to each image's detections (in
        input-image coordinates, as the boxes are)."""
        num_keypoints = self.keypoint_head.num_keypoints
        rois_per_img = [self.codec.expand_rois(res.bboxes) for res in results_list]
        if sum(len(r) for r in rois_per_img) == 0:
            for res in results_list:
                res.keypoints = res.bboxes.new_zeros((0, num_keypoints, 2))
                res.keypoint_scores = res.bboxes.new_zeros((0, num_keypoints))
            return results_list
        heatmaps = self._keypoint_forward(x, rois_per_img)
        if self._test_setting('flip_test', False):
            heatmaps = (heatmaps + self._flipped_heatmaps(x_flipped, rois_per_img,
                                                          batch_img_metas)) / 2
        keypoints, scores = self.keypoint_head.predict_by_feat(heatmaps, torch.cat(rois_per_img))
        counts = [len(r) for r in rois_per_img]
        for res, kpts, kpt_scores in zip(results_list, keypoints.split(counts),
                                         scores.split(counts)):
            res.keypoints = kpts
            res.keypoint_scores = kpt_scores
        return results_list

    def _test_setting(self, key: str, default=None):
        return (self.test_cfg or {}).get(key, default)

    def _flipped_heatmaps(self, x_flipped: Optional[Tuple[Tensor]],
                          rois_per_img: List[Tensor], batch_img_metas: List[dict]) -> Tensor:
        """Heatmaps of the mirrored RoIs on the mirrored image, mapped back (R, K, H, W)."""
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
        return flip_heatmaps_back(self._keypoint_forward(x_flipped, mirrored), flip_indices,
                                  self.codec.channels_per_keypoint)

    def postprocess_poses(self, results: InstanceData, img_meta: dict) -> InstanceData:
        """Rescoring and OKS-NMS of one image's poses, as ``test_cfg`` asks."""
        if self._test_setting('rescore', False):
            results.scores = rescore_instances(results.scores, results.keypoint_scores,
                                               self._test_setting('keypoint_score_thr', 0.2))
        nms_cfg = self._test_setting('oks_nms')
        if nms_cfg and len(results) > 1:
            sigmas = img_meta.get('keypoint_sigmas', nms_cfg.get('sigmas'))
            if sigmas is None:
                raise KeyError('OKS-NMS: no keypoint_sigmas in the image metainfo (pack them '
                               'with PackKeypointDetInputs) nor in test_cfg.oks_nms.sigmas')
            # The pose area as mmpose's OKS-NMS takes it: the expanded (top-down) box's.
            rois = self.codec.expand_rois(results.bboxes)
            areas = (rois[:, 2] - rois[:, 0]) * (rois[:, 3] - rois[:, 1])
            keep, scores = oks_nms(
                results.keypoints, results.scores, areas,
                results.keypoints.new_tensor(sigmas),
                **{k: v for k, v in nms_cfg.items() if k != 'sigmas'})
            results = results[keep]
            results.scores = scores
        return results

    def forward(self,
                x: Tuple[Tensor],
                rpn_results_list: List[InstanceData],
                batch_data_samples: Optional[List[DetDataSample]] = None) -> tuple:
        """Raw outputs for FLOP counting: box head outputs and keypoint heatmaps of the
        proposals."""
        outputs = super().forward(x, rpn_results_list, batch_data_samples)
        proposals = [self.codec.expand_rois(res.bboxes) for res in rpn_results_list]
        return outputs + (self._keypoint_forward(x, proposals), )
