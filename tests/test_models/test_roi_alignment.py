"""RoIAlign reads the features where the codec says each heatmap pixel lies.

Features that are a linear ramp (channel 0: the image x of each feature pixel's centre,
channel 1: its y) are pooled with the model's own keypoint RoI extractor. Bilinear sampling
and bin averaging reproduce a linear ramp exactly, so the value pooled at bin (i, j) must be
the image point of its centre. The head upsamples 2x, so bin j covers heatmap pixels 2j and
2j + 1, whose centre is heatmap coordinate 2j + 0.5: mapped to the image by
``codec.to_image_coords`` it must be the pooled value.
"""
import pytest
import torch
from mmdet.structures.bbox import bbox2roi
from mmengine.config import Config
from mmengine.registry import init_default_scope

from hrpose.registry import MODELS
from tests.helpers import TINY_POSE_CONFIG, codec_config


def ramp_features(stride: int, height: int, width: int) -> torch.Tensor:
    """(1, 2, h, w): image x and y of each feature pixel's centre (pixel j spans
    [j * stride, (j + 1) * stride) in the image)."""
    xs = (torch.arange(width, dtype=torch.float32) + 0.5) * stride
    ys = (torch.arange(height, dtype=torch.float32) + 0.5) * stride
    return torch.stack([xs.expand(height, width), ys[:, None].expand(height, width)])[None]


@pytest.mark.parametrize('codec', ['MSRAHeatmap', 'DARKHeatmap', 'UDPHeatmap'])
@pytest.mark.parametrize('sampling_ratio', [0, 2])
def test_pooled_bins_sit_where_the_codec_puts_their_heatmap_pixels(codec, sampling_ratio):
    init_default_scope('hrpose')
    cfg = Config.fromfile(TINY_POSE_CONFIG)
    head = cfg.model.roi_head.keypoint_head
    head.codec = codec_config(codec, head.codec)
    cfg.model.roi_head.keypoint_roi_extractor.out_channels = 2
    cfg.model.roi_head.keypoint_roi_extractor.roi_layer.sampling_ratio = sampling_ratio
    roi_head = MODELS.build(cfg.model).roi_head
    extractor, codec_obj = roi_head.keypoint_roi_extractor, roi_head.codec
    stride = extractor.featmap_strides[0]
    features = ramp_features(stride, 200, 300)  # an 1200 x 800 image
    boxes = torch.tensor([[200.3, 150.7, 360.1, 510.9], [500.0, 300.0, 900.0, 500.0],
                          [500.5, 300.25, 540.5, 330.75]])
    rois = codec_obj.expand_rois(boxes)
    assert (rois[:, :2] > 8).all() and (rois[:, 2] < 1192).all() and (rois[:, 3] < 792).all()
    pooled = extractor((features, ), bbox2roi([codec_obj.pooling_rois(rois)]))
    bins_h, bins_w = pooled.shape[-2:]
    assert (bins_w, bins_h) == tuple(s // 2 for s in codec_obj.heatmap_size)
    j, i = torch.meshgrid(
        torch.arange(bins_w, dtype=torch.float32),
        torch.arange(bins_h, dtype=torch.float32),
        indexing='xy')
    centres = torch.stack([2 * j + 0.5, 2 * i + 0.5], dim=-1).reshape(1, -1, 2)
    expected = codec_obj.to_image_coords(centres.expand(len(rois), -1, -1), rois)
    pooled_points = pooled.permute(0, 2, 3, 1).reshape(len(rois), -1, 2)
    torch.testing.assert_close(pooled_points, expected, atol=2e-3, rtol=0)
