"""Heatmap keypoint head: RoI features -> one Gaussian heatmap per keypoint."""
from typing import Dict, Optional, Tuple

import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor

from hrpose.registry import KEYPOINT_CODECS, MODELS


@MODELS.register_module()
class HeatmapKeypointHead(BaseModule):
    """Conv stack at the RoI feature size, then deconvolutions up to the heatmap size.

    The default (pool 32x24 from the stride-4 level, 4 convs of 128 channels, one 2x
    deconvolution, 1x1 to K) costs 0.77 GFLOPs (multiply-adds) per RoI, a tenth of a
    top-down HRNet-W32 crop: the backbone is paid once per image, each person adds little.

    Args:
        num_keypoints: K, the keypoints per person (must match the dataset metainfo).
        in_channels: channels of the pooled RoI features.
        conv_channels: channels of the conv stack.
        num_convs: 3x3 convs before upsampling.
        num_deconvs: 2x transposed convolutions; the RoI features must be the heatmap size
            divided by ``2 ** num_deconvs``.
        deconv_channels: channels after each transposed convolution.
        upsample_factor: bilinear upsampling of the output, as Keypoint R-CNN does after its
            deconvolution (1: none).
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
                 num_deconvs: int = 1,
                 deconv_channels: int = 128,
                 upsample_factor: int = 1,
                 norm_cfg: Optional[dict] = None,
                 codec: Optional[dict] = None,
                 loss_keypoint: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if init_cfg is None:
            init_cfg = [
                dict(type='Kaiming', layer=['Conv2d', 'ConvTranspose2d'], nonlinearity='relu'),
                dict(type='Normal', std=0.001, bias=0, override=dict(name='final_conv')),
            ]
        super().__init__(init_cfg=init_cfg)
        self.num_keypoints = num_keypoints
        self.codec = KEYPOINT_CODECS.build(
            codec if codec is not None else dict(type='MSRAHeatmap'))
        self.loss_keypoint = MODELS.build(
            loss_keypoint if loss_keypoint is not None else dict(type='KeypointMSELoss'))
        self.num_deconvs = num_deconvs
        self.upsample_factor = upsample_factor
        heatmap_w, heatmap_h = self.codec.heatmap_size
        factor = 2**num_deconvs * upsample_factor
        if heatmap_w % factor or heatmap_h % factor:
            raise ValueError(f'codec heatmap_size {self.codec.heatmap_size} is not divisible '
                             f'by 2 ** num_deconvs * upsample_factor = {factor}')
        self.roi_feat_size = (heatmap_h // factor, heatmap_w // factor)  # (h, w) for RoIAlign

        convs = []
        channels = in_channels
        for _ in range(num_convs):
            convs.append(
                ConvModule(channels, conv_channels, 3, padding=1, norm_cfg=norm_cfg,
                           act_cfg=dict(type='ReLU')))
            channels = conv_channels
        self.convs = nn.Sequential(*convs)
        deconvs = []
        for _ in range(num_deconvs):
            deconvs += [
                nn.ConvTranspose2d(channels, deconv_channels, 4, stride=2, padding=1),
                nn.ReLU(inplace=True)
            ]
            channels = deconv_channels
        self.deconvs = nn.Sequential(*deconvs)
        self.final_conv = nn.Conv2d(channels, num_keypoints * self.codec.channels_per_keypoint, 1)

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
            heatmaps = F.interpolate(heatmaps, scale_factor=self.upsample_factor,
                                     mode='bilinear', align_corners=False)
        return heatmaps

    def loss_and_target(self, heatmaps: Tensor, rois: Tensor, keypoints: Tensor,
                        keypoints_visible: Tensor) -> Dict[str, Tensor]:
        """Encode targets with the codec and compute the heatmap loss.

        Args:
            heatmaps: (R, K, H, W) predictions.
            rois: (R, 4) the expanded RoIs, image coordinates.
            keypoints: (R, K, 2) ground-truth keypoints, image coordinates.
            keypoints_visible: (R, K) ground-truth visibility.

        Returns:
            dict: ``loss_keypoint`` (scalar), ``keypoint_targets`` (R, K, H, W) and
            ``keypoint_weights`` (R, K).
        """
        targets, weights = self.codec.encode(keypoints, keypoints_visible, rois)
        loss = self.loss_keypoint(heatmaps, targets.to(heatmaps.dtype), weights.to(heatmaps.dtype))
        return dict(loss_keypoint=loss, keypoint_targets=targets, keypoint_weights=weights)

    def predict_by_feat(self, heatmaps: Tensor, rois: Tensor) -> Tuple[Tensor, Tensor]:
        """Decode heatmaps (R, K, H, W) of RoIs (R, 4) into keypoints (R, K, 2) in image
        coordinates and scores (R, K), float32 (the codec decodes in float32)."""
        return self.codec.decode(heatmaps, rois)
