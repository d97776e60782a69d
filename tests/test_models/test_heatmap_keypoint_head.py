"""HeatmapKeypointHead's conv stack: what each heatmap pixel sees of its RoI."""
import pytest
import torch

from hrpose.models.roi_heads.heatmap_keypoint_head import HeatmapKeypointHead


def receptive_field(head: HeatmapKeypointHead) -> int:
    """Width in RoI bins of the conv stack's response to one impulse (positive weights)."""
    for conv in head.convs:
        conv.conv.weight.data.fill_(0.01)
        conv.conv.bias.data.zero_()
    h, w = head.roi_feat_size
    feats = torch.zeros(1, head.convs[0].conv.in_channels, h, w)
    feats[0, :, h // 2, w // 2] = 1.0
    with torch.no_grad():
        response = head.convs(feats)[0].sum(0)
    return int((response[h // 2] > 0).sum())


@pytest.mark.parametrize('dilations, expected', [(None, 9), ((1, 2, 4, 8), 24)])
def test_dilated_convs_see_the_whole_roi(dilations, expected):
    """Four plain 3x3 convs see 9 of the RoI's 24 bins across; dilations 1, 2, 4, 8 reach 15
    bins to each side (31 in all): from the middle bin, every one of the 24."""
    head = HeatmapKeypointHead(
        in_channels=8, conv_channels=8, num_convs=4, conv_dilations=dilations, deconv_channels=8)
    assert head.roi_feat_size == (32, 24)
    assert receptive_field(head) == expected
    out = head(torch.randn(2, 8, 32, 24, generator=torch.Generator().manual_seed(0)))
    assert out.shape == (2, 17, 64, 48)


def test_a_dilation_per_conv_is_required():
    with pytest.raises(
            ValueError,
            match=r'conv_dilations \(1, 2\) must give a dilation >= 1 '
            'for each of the num_convs=4 convs'):
        HeatmapKeypointHead(num_convs=4, conv_dilations=(1, 2))
