"""Transcription of detectron2's Keypoint R-CNN head and decoding, for the tests.

From facebookresearch/detectron2 ``detectron2/modeling/roi_heads/keypoint_head.py`` at
5e7a6e03d779f2f950702d40158d78eee1cf47a4: ``KRCNNConvDeconvUpsampleHead`` (``conv_dims``
3x3 convs with ReLU, one 4x4 stride-2 transposed convolution ``score_lowres`` to K maps,
then 2x bilinear upsampling; Kaiming-normal (fan_out, ReLU) weights, zero biases) and
``heatmaps_to_keypoints`` (per RoI: bicubic resize of the logits to the RoI's size rounded
up, argmax, pixel centre + 0.5, corrected by size / rounded size; score = softmax value
normalised over the original-size logits).
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class KRCNNConvDeconvUpsampleHead(nn.Module):
    """(R, C, 14, 14) -> (R, K, 56, 56) logits, layer for layer as detectron2."""

    def __init__(self, in_channels: int, num_keypoints: int, conv_dims=(512, ) * 8):
        super().__init__()
        layers = []
        for dim in conv_dims:
            layers += [nn.Conv2d(in_channels, dim, 3, stride=1, padding=1), nn.ReLU()]
            in_channels = dim
        self.convs = nn.Sequential(*layers)
        self.score_lowres = nn.ConvTranspose2d(
            in_channels, num_keypoints, 4, stride=2, padding=4 // 2 - 1)

    def forward(self, x):
        x = self.score_lowres(self.convs(x))
        return F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=False)


def heatmaps_to_keypoints(maps: torch.Tensor, rois: torch.Tensor) -> np.ndarray:
    """(R, K, h, w) logits, (R, 4) boxes -> (R, K, 4): x, y, logit, score per keypoint."""
    maps, rois = maps.detach().float(), rois.detach().float()
    widths = (rois[:, 2] - rois[:, 0]).clamp(min=1)
    heights = (rois[:, 3] - rois[:, 1]).clamp(min=1)
    widths_ceil, heights_ceil = widths.ceil(), heights.ceil()
    R, K = maps.shape[:2]
    out = np.zeros((R, K, 4), dtype=np.float32)
    for i in range(R):
        size = (int(heights_ceil[i]), int(widths_ceil[i]))
        roi_map = F.interpolate(maps[[i]], size=size, mode='bicubic', align_corners=False)[0]
        peak = roi_map.reshape(K, -1).max(1)[0].view(K, 1, 1)
        scores = (roi_map - peak).exp() / (maps[i] - peak).exp().sum((1, 2), keepdim=True)
        w = roi_map.shape[2]
        position = roi_map.reshape(K, -1).argmax(1)
        x_int = position % w
        y_int = (position - x_int) // w
        idx = torch.arange(K)
        x = (x_int.float() + 0.5) * (widths[i] / widths_ceil[i])
        y = (y_int.float() + 0.5) * (heights[i] / heights_ceil[i])
        out[i, :, 0] = (x + rois[i, 0]).numpy()
        out[i, :, 1] = (y + rois[i, 1]).numpy()
        out[i, :, 2] = roi_map[idx, y_int, x_int].numpy()
        out[i, :, 3] = scores[idx, y_int, x_int].numpy()
    return out
