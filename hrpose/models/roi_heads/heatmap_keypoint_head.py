"""Heatmap keypoint head: RoI features -> one Gaussian heatmap per keypoint."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmdet.structures.bbox import scale_boxes
from mmdet.utils import InstanceList
from mmengine.config import ConfigDict
from mmengine.model import BaseModule
from torch import Tensor

from hrpose.registry import KEYPOINT_CODECS, MODELS


@MODELS.register_module()
class HeatmapKeypointHead(BaseModule):
    """Conv stack at the RoI feature size, then deconvolutions up to the heatmap size.

    Its API is that of mmdet's branch heads (``FCNMaskHead``): :meth:`get_targets`,
    :meth:`loss_and_target` and :meth:`predict_by_feat`; the codec it builds encodes the
    targets and decodes the predictions.

    The default (pool 32x24 from the stride-4 level, 4 convs of 128 channels, one 2x
    deconvolution, 1x1 to K) costs 0.77 GFLOPs (multiply-adds) per RoI, a tenth of a
    top-down HRNet-W32 crop: the backbone is paid once per image, each person adds little.

    Args:
        num_keypoints: K, the keypoints per person (must match the dataset metainfo).
        in_channels: channels of the pooled RoI features.
        conv_channels: channels of the conv stack.
        num_convs: 3x3 convs before upsampling.
        conv_dilations: the dilation of each of them (default: all 1). Dilations that
            double, e.g. (1, 2, 4, 8), let every heatmap pixel see the whole RoI (a receptive
            field of 31 bins instead of 9), which is what tells a left keypoint from its
            right twin when the features alone do not.
        num_deconvs: 2x transposed convolutions; the RoI features must be the heatmap size
            divided by ``2 ** num_deconvs``.
        deconv_channels: channels after each transposed convolution.
        upsample_factor: bilinear upsampling of the output, as Keypoint R-CNN does after its
            deconvolution (1: none).
        deconv_output: the last transposed convolution gives the K * C output maps itself
            (no ReLU, no 1x1 convolution after it), as detectron2's
            ``KRCNNConvDeconvUpsampleHead`` (``score_lowres``); ``deconv_channels`` then
            applies to the deconvolutions before it only.
        norm_cfg: normalisation after each conv (None: plain conv + ReLU, which also works
            when a batch holds a single RoI).
        codec: the heatmap codec config, shared by target encoding and decoding.
        loss_keypoint: the heatmap loss config.
        init_cfg: initialisation config.
    """

    def __init__(self,
                 num_keypoints: int = 17,
                 in_channels: int = 256,
                 conv_channels: int = 128,
                 num_convs: int = 4,
                 conv_dilations: Optional[Sequence[int]] = None,
                 num_deconvs: int = 1,
                 deconv_channels: int = 128,
                 upsample_factor: int = 1,
                 deconv_output: bool = False,
                 norm_cfg: Optional[dict] = None,
                 codec: Optional[dict] = None,
                 loss_keypoint: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if init_cfg is None:
            # Kaiming normal (fan_out, ReLU), zero biases: detectron2's keypoint head init.
            init_cfg = [
                dict(type='Kaiming', layer=['Conv2d', 'ConvTranspose2d'], nonlinearity='relu')
            ]
            if not deconv_output:
                init_cfg.append(
                    dict(type='Normal', std=0.001, bias=0, override=dict(name='final_conv')))
        super().__init__(init_cfg=init_cfg)
        self.num_keypoints = num_keypoints
        self.codec = KEYPOINT_CODECS.build(
            codec if codec is not None else dict(type='MSRAHeatmap'))
        self.loss_keypoint = MODELS.build(
            loss_keypoint if loss_keypoint is not None else dict(type='KeypointMSELoss'))
        if deconv_output and num_deconvs < 1:
            raise ValueError('deconv_output=True needs num_deconvs >= 1')
        self.num_deconvs = num_deconvs
        self.upsample_factor = upsample_factor
        self.deconv_output = deconv_output
        heatmap_w, heatmap_h = self.codec.heatmap_size
        factor = 2**num_deconvs * upsample_factor
        if heatmap_w % factor or heatmap_h % factor:
            raise ValueError(f'codec heatmap_size {self.codec.heatmap_size} is not divisible '
                             f'by 2 ** num_deconvs * upsample_factor = {factor}')
        self.roi_feat_size = (heatmap_h // factor, heatmap_w // factor)  # (h, w) for RoIAlign

        dilations = tuple(conv_dilations) if conv_dilations is not None else (1, ) * num_convs
        if len(dilations) != num_convs or min(dilations, default=1) < 1:
            raise ValueError(f'conv_dilations {conv_dilations} must give a dilation >= 1 for '
                             f'each of the num_convs={num_convs} convs')
        convs = []
        channels = in_channels
        for dilation in dilations:
            convs.append(
                ConvModule(
                    channels,
                    conv_channels,
                    3,
                    padding=dilation,
                    dilation=dilation,
                    norm_cfg=norm_cfg,
                    act_cfg=dict(type='ReLU')))
            channels = conv_channels
        self.convs = nn.Sequential(*convs)
        out_channels = num_keypoints * self.codec.channels_per_keypoint
        deconvs = []
        for i in range(num_deconvs):
            if deconv_output and i == num_deconvs - 1:
                deconvs.append(nn.ConvTranspose2d(channels, out_channels, 4, stride=2, padding=1))
                break
            deconvs += [
                nn.ConvTranspose2d(channels, deconv_channels, 4, stride=2, padding=1),
                nn.ReLU(inplace=True)
            ]
            channels = deconv_channels
        self.deconvs = nn.Sequential(*deconvs)
        self.final_conv = nn.Identity() if deconv_output else nn.Conv2d(channels, out_channels, 1)

    def forward(self, roi_feats: Tensor) -> Tensor:
        """
        Args:
            roi_feats: (R, C, h, w) pooled features, (h, w) == ``self.roi_feat_size``.

        Returns:
            Tensor: (R, K * C, H, W) heatmaps at the codec's heatmap size, C being the
            codec's channels per keypoint (1, or 3 for UDP's combined maps).
        """
        if tuple(roi_feats.shape[-2:]) != self.roi_feat_size:
            raise ValueError(
                f'RoI features are {tuple(roi_feats.shape[-2:])} (h, w) but the keypoint head '
                f'needs {self.roi_feat_size} for heatmaps of {self.codec.heatmap_size} (w, h): '
                'set model.roi_head.keypoint_roi_extractor.roi_layer.output_size to '
                f'{self.roi_feat_size}')
        heatmaps = self.final_conv(self.deconvs(self.convs(roi_feats)))
        if self.upsample_factor > 1:
            heatmaps = F.interpolate(
                heatmaps, scale_factor=self.upsample_factor, mode='bilinear', align_corners=False)
        return heatmaps

    def check_num_keypoints(self, gt_keypoints: Tensor) -> None:
        """A clear error when the dataset's K (``gt_keypoints`` (N, K, 2)) is not the head's."""
        if gt_keypoints.shape[-2] != self.num_keypoints:
            raise ValueError(
                f'the dataset gives K={gt_keypoints.shape[-2]} keypoints per person but '
                f'model.roi_head.keypoint_head.num_keypoints={self.num_keypoints}: make them '
                'equal (K comes from the dataset metainfo, e.g. 17 for COCO, 14 for '
                'CrowdPose)')

    def get_targets(self, keypoint_rois: InstanceList) -> Tuple[Tensor, Tensor]:
        """Heatmap targets of the keypoint RoIs, as mmdet's mask head makes its masks.

        Args:
            keypoint_rois: per image, ``heatmap_coords`` (R_i, K, 2) and
                ``keypoints_visible`` (R_i, K) of the RoIs the RoI head selected (see
                ``TopDownHeatmapRoIHead.select_keypoint_rois``).

        Returns:
            tuple: targets (R, K * C, H, W) in the RoIs' order and weights (R, K),
            R = sum R_i.
        """
        return self.codec.encode_heatmap_coords(
            torch.cat([selected.heatmap_coords for selected in keypoint_rois]),
            torch.cat([selected.keypoints_visible for selected in keypoint_rois]))

    def loss_and_target(self, heatmaps: Tensor, keypoint_rois: InstanceList) -> Dict[str, Tensor]:
        """Encode the targets with the codec and compute the heatmap loss.

        Args:
            heatmaps: (R, K * C, H, W) predictions for the keypoint RoIs.
            keypoint_rois: as :meth:`get_targets`.

        Returns:
            dict: ``loss_keypoint`` (scalar), ``keypoint_targets`` (R, K * C, H, W) and
            ``keypoint_weights`` (R, K).
        """
        targets, weights = self.get_targets(keypoint_rois)
        loss = self.loss_keypoint(heatmaps, targets.to(heatmaps.dtype), weights.to(heatmaps.dtype))
        return dict(loss_keypoint=loss, keypoint_targets=targets, keypoint_weights=weights)

    def predict_by_feat(self,
                        heatmaps: Optional[Tensor],
                        results_list: InstanceList,
                        batch_img_metas: List[dict],
                        rcnn_test_cfg: Optional[ConfigDict] = None,
                        rescale: bool = False) -> InstanceList:
        """The pose of every detection, decoded from its heatmaps, then rescaled.

        Rescoring, OKS-NMS and the cap on poses are not applied here: they make the pose
        results out of these (``TopDownHeatmapRoIHead.postprocess_poses``), while the box
        results stay as the box branch left them.

        Args:
            heatmaps: (R, K * C, H, W) for the ``keypoint_rois`` of ``results_list``, image
                after image (R = total detections; None when R = 0).
            results_list: per image, ``bboxes`` (N_i, 4) and ``keypoint_rois`` (N_i, 4) in
                input-image coordinates, ``scores`` (N_i,), ``labels``.
            batch_img_metas: per image, ``scale_factor``.
            rcnn_test_cfg: unused (the signature of mmdet's branch heads).
            rescale: map boxes, RoIs and keypoints back to the original image.

        Returns:
            list[InstanceData]: the detections with ``keypoints`` (N_i, K, 2) and
            ``keypoint_scores`` (N_i, K), float32.
        """
        rois = torch.cat([res.keypoint_rois for res in results_list])
        if len(rois):
            keypoints, scores = self.codec.decode(heatmaps, rois)
        else:
            keypoints = rois.new_zeros((0, self.num_keypoints, 2), dtype=torch.float32)
            scores = rois.new_zeros((0, self.num_keypoints), dtype=torch.float32)
        counts = [len(res) for res in results_list]
        outputs = []
        for res, kpts, kpt_scores, img_meta in zip(results_list, keypoints.split(counts),
                                                   scores.split(counts), batch_img_metas):
            res.keypoints, res.keypoint_scores = kpts, kpt_scores
            if rescale:
                w_scale, h_scale = img_meta['scale_factor']
                res.bboxes = scale_boxes(res.bboxes, (1 / w_scale, 1 / h_scale))
                res.keypoint_rois = scale_boxes(res.keypoint_rois, (1 / w_scale, 1 / h_scale))
                res.keypoints = res.keypoints / res.keypoints.new_tensor([w_scale, h_scale])
            outputs.append(res)
        return outputs
