"""The Keypoint R-CNN baseline's head is detectron2's KRCNNConvDeconvUpsampleHead, layer for
layer (tests/reference/detectron2_keypoints.py), so that the comparison is fair."""
import torch
from mmengine.config import Config

from hrpose.utils import register_all_modules
from tests.helpers import REPO_ROOT
from tests.reference.detectron2_keypoints import KRCNNConvDeconvUpsampleHead


def test_keypoint_rcnn_head_equals_detectron2():
    register_all_modules()
    from hrpose.registry import MODELS
    cfg = Config.fromfile(f'{REPO_ROOT}/configs/keypoint_rcnn/'
                          'keypoint-rcnn_hrnet-w32_hrfpn_1x_coco.py')
    torch.manual_seed(0)
    head = MODELS.build(cfg.model.roi_head.keypoint_head)
    head.init_weights()
    reference = KRCNNConvDeconvUpsampleHead(in_channels=256, num_keypoints=17)
    layer_types = (torch.nn.Conv2d, torch.nn.ConvTranspose2d)
    ours = [m for m in head.modules() if isinstance(m, layer_types)]
    theirs = [m for m in reference.modules() if isinstance(m, layer_types)]
    # the same layers, in the same order, of the same shapes: 8 convs 3x3, one deconv to K
    assert [(type(m), m.weight.shape) for m in ours] == [(type(m), m.weight.shape) for m in theirs]
    assert sum(p.numel() for p in head.parameters()) == \
        sum(p.numel() for p in reference.parameters())
    for a, b in zip(ours, theirs):
        b.weight.data.copy_(a.weight.data)
        b.bias.data.copy_(a.bias.data)
    # detectron2's initialisation: zero biases, Kaiming-normal fan_out weights
    assert all(m.bias.abs().max() == 0 for m in ours)
    fan_out = ours[0].weight.shape[0] * 9
    assert abs(ours[0].weight.std().item() - (2 / fan_out)**0.5) < 0.1 * (2 / fan_out)**0.5
    feats = torch.randn(2, 256, 14, 14, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out, expected = head(feats), reference(feats)
    assert out.shape == (2, 17, 56, 56)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
