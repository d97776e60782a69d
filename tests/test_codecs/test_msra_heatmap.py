"""MSRA heatmap codec: geometry, targets and the encode/decode round trip."""
import pytest
import torch

from hrpose.codecs import MSRAHeatmap


@pytest.fixture
def codec():
    return MSRAHeatmap(heatmap_size=(48, 64), sigma=2.0, roi_padding=1.25)


@pytest.mark.parametrize('box', [[10., 20., 110., 60.], [0., 0., 30., 300.], [5., 5., 53., 69.]])
def test_expand_rois_keeps_centre_and_reaches_the_heatmap_aspect_ratio(codec, box):
    box = torch.tensor([box])
    roi = codec.expand_rois(box)
    w, h = roi[0, 2] - roi[0, 0], roi[0, 3] - roi[0, 1]
    torch.testing.assert_close(w / h, torch.tensor(48 / 64))
    torch.testing.assert_close((roi[:, :2] + roi[:, 2:]) / 2, (box[:, :2] + box[:, 2:]) / 2)
    # The box fits inside; the side that set the size grew by exactly the padding.
    assert roi[0, 0] <= box[0, 0] and roi[0, 2] >= box[0, 2]
    assert roi[0, 1] <= box[0, 1] and roi[0, 3] >= box[0, 3]
    bw, bh = box[0, 2] - box[0, 0], box[0, 3] - box[0, 1]
    assert min(w / bw, h / bh) == pytest.approx(1.25, rel=1e-5)


def test_heatmap_pixels_are_roialign_bins(codec):
    # RoI [0, 48] x [0, 64] on a 48x64 heatmap: image pixel centre (j + 0.5) is heatmap
    # pixel j, as RoIAlign(aligned=True) pools it.
    rois = torch.tensor([[0., 0., 48., 64.]])
    points = torch.tensor([[[0.5, 0.5], [10.5, 20.5], [47.5, 63.5]]])
    torch.testing.assert_close(
        codec.to_heatmap_coords(points, rois), torch.tensor([[[0., 0.], [10., 20.], [47., 63.]]]))
    torch.testing.assert_close(
        codec.to_image_coords(codec.to_heatmap_coords(points, rois), rois), points)


def test_targets_peak_at_the_keypoint_pixel(codec):
    rois = torch.tensor([[0., 0., 48., 64.]])  # one image pixel per heatmap pixel
    keypoints = torch.tensor([[[10.3, 20.7], [47.5, 0.2], [60., 10.]]])
    visible = torch.tensor([[1., 1., 1.]])
    heatmaps, weights = codec.encode(keypoints, visible, rois)
    assert heatmaps.shape == (1, 3, 64, 48)
    peak = heatmaps[0, 0].flatten().argmax()
    assert (peak // 48, peak % 48) == (20, 10)  # (row, col) of the pixel holding (10.3, 20.7)
    assert heatmaps[0, 0].max() == pytest.approx(1.0)
    assert heatmaps[0, 1].flatten().argmax() == 0 * 48 + 47
    # The third keypoint lies outside the RoI: no target, zero weight.
    assert weights.tolist() == [[1., 1., 0.]]
    assert heatmaps[0, 2].abs().max() == 0


def test_unlabelled_keypoints_get_zero_weight(codec):
    rois = torch.tensor([[0., 0., 48., 64.]])
    _, weights = codec.encode(torch.full((1, 2, 2), 10.), torch.tensor([[0., 1.]]), rois)
    assert weights.tolist() == [[0., 1.]]


def test_round_trip_returns_the_centre_of_the_keypoint_pixel(codec):
    # MSRA quantises: decode(encode(x)) is the centre of the heatmap pixel holding x, so it
    # is within half a heatmap pixel of x on each axis.
    gen = torch.Generator().manual_seed(0)
    rois = torch.tensor([[100., 50., 148., 114.], [0., 0., 96., 128.]])  # 1 and 2 px per bin
    coords = torch.rand(2, 17, 2, generator=gen) * torch.tensor([46., 62.]) + 0.5
    keypoints = codec.to_image_coords(coords, rois)
    heatmaps, _ = codec.encode(keypoints, torch.ones(2, 17), rois)
    decoded, scores = codec.decode(heatmaps, rois)
    decoded_coords = codec.to_heatmap_coords(decoded, rois)
    torch.testing.assert_close(decoded_coords, torch.floor(coords + 0.5))
    assert (decoded_coords - coords).abs().max() <= 0.5
    torch.testing.assert_close(scores, torch.ones(2, 17))


def test_quarter_pixel_shift_toward_the_higher_neighbour(codec):
    # A Gaussian centred exactly at a sub-pixel point: argmax + quarter shift lands within a
    # quarter heatmap pixel of it.
    gen = torch.Generator().manual_seed(1)
    u = torch.rand(50, 1, 2, generator=gen) * torch.tensor([40., 56.]) + 4.0
    xs, ys = torch.arange(48.), torch.arange(64.)  # pixel centres in heatmap coordinates
    heatmaps = torch.exp(-((xs - u[..., 0:1])**2)[..., None, :] / 8 -
                         ((ys - u[..., 1:2])**2)[..., :, None] / 8)
    coords, _ = codec.decode_heatmap_coords(heatmaps)
    assert (coords - u).abs().max() <= 0.25 + 1e-6
    # The result lies on the quarter-pixel grid.
    torch.testing.assert_close(coords * 4, torch.round(coords * 4))


def test_decode_is_batched_and_checks_shapes(codec):
    with pytest.raises(ValueError, match=r'\(R, K, H, W\)'):
        codec.decode_heatmap_coords(torch.zeros(17, 64, 48))
    with pytest.raises(ValueError, match='rois must be'):
        codec.decode(torch.zeros(3, 17, 64, 48), torch.zeros(2, 4))
