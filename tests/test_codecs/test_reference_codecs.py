"""Each codec's encode and decode against numpy transcriptions of mmpose's, on their own
(tests/reference/mmpose_codecs.py): an error shared by both directions cannot cancel."""
import numpy as np
import pytest
import torch

from hrpose.codecs import DARKHeatmap, MSRAHeatmap, UDPHeatmap
from tests.reference import mmpose_codecs

REFERENCE_ENCODE = {
    'msra': (MSRAHeatmap, mmpose_codecs.msra_targets),
    'dark': (DARKHeatmap, mmpose_codecs.dark_targets),
    'udp': (UDPHeatmap, mmpose_codecs.udp_targets),
}
REFERENCE_DECODE = {
    'msra': (MSRAHeatmap, mmpose_codecs.msra_decode),
    'dark': (DARKHeatmap, mmpose_codecs.dark_decode),
    'udp': (UDPHeatmap, mmpose_codecs.udp_decode),
}


def keypoints_everywhere(seed: int, margin: float, count: int = 17 * 12):
    """Heatmap coordinates (R, 17, 2) inside, on the border of and up to ``margin`` pixels
    outside a 64x48 heatmap (the partial windows and the weights' cut-off), and their
    visibility (some unlabelled)."""
    gen = torch.Generator().manual_seed(seed)
    coords = torch.rand(
        count, 2, generator=gen) * torch.tensor([48 + 2 * margin, 64 + 2 * margin]) - margin
    # exact pixel centres and half-pixel points, where rounding decides
    coords[:20] = torch.floor(coords[:20])
    coords[20:40] = torch.floor(coords[20:40]) + 0.5
    visible = (torch.rand(count, generator=gen) > 0.1).float()
    return coords.reshape(-1, 17, 2), visible.reshape(-1, 17)


@pytest.mark.parametrize('sigma', [2.0, 3.0, 2.5])
@pytest.mark.parametrize('name', list(REFERENCE_ENCODE))
def test_encode_equals_mmpose(name, sigma):
    codec_cls, reference = REFERENCE_ENCODE[name]
    codec = codec_cls(sigma=sigma)
    coords, visible = keypoints_everywhere(seed=int(sigma * 10), margin=3 * sigma + 4)
    # RoIs and image keypoints such that the codec's own transform gives `coords`.
    rois = torch.tensor([[30., 40., 126., 168.]]).repeat(len(coords), 1)
    keypoints = codec.to_image_coords(coords, rois)
    targets, weights = codec.encode(keypoints, visible, rois)
    # the image round trip of the coordinates is float32-exact to ~1e-5 px
    coords_used = codec.to_heatmap_coords(keypoints, rois)
    for r in range(len(coords)):
        expected, expected_weights = reference(coords_used[r].double().numpy(), visible[r].numpy(),
                                               codec.heatmap_size, sigma)
        np.testing.assert_array_equal(weights[r].numpy(), expected_weights, err_msg=f'{r}')
        np.testing.assert_allclose(
            targets[r].numpy(),
            expected * expected_weights[:, None, None],
            atol=2e-5,
            err_msg=f'RoI {r}')
    # the cases the windows and weights turn on are there
    assert 0.2 < weights.mean() < 0.9


def peaky_heatmaps(seed: int, count: int = 40, noise: float = 0.02):
    """Gaussian-like heatmaps (R, 17, 64, 48) with maxima everywhere, the border included."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.rand(count, 17, 2, generator=gen) * torch.tensor([49., 65.]) - 0.5
    sigmas = 1.5 + torch.rand(count, 17, 1, generator=gen)
    xs, ys = torch.arange(48.), torch.arange(64.)
    heatmaps = torch.exp(-((xs - centres[..., 0:1])**2 / (2 * sigmas**2))[..., None, :] -
                         ((ys - centres[..., 1:2])**2 / (2 * sigmas**2))[..., :, None])
    return heatmaps + noise * torch.rand(heatmaps.shape, generator=gen)


@pytest.mark.parametrize('name', list(REFERENCE_DECODE))
def test_decode_equals_mmpose(name):
    codec_cls, reference = REFERENCE_DECODE[name]
    heatmaps = peaky_heatmaps(seed=5)
    coords, scores = codec_cls().decode_heatmap_coords(heatmaps)
    expected = [reference(h.numpy()) for h in heatmaps]
    expected_coords = np.stack([e[0] for e in expected])
    np.testing.assert_allclose(scores.numpy(), np.stack([e[1] for e in expected]), rtol=0, atol=0)
    # float32 blur and log in another order: a few 1e-4 of a pixel at most
    np.testing.assert_allclose(coords.numpy(), expected_coords, atol=2e-3, rtol=0)
    # the maxima next to the border, where the references differ, are among the cases
    x, y = expected_coords[..., 0], expected_coords[..., 1]
    assert ((x < 2) | (x > 45) | (y < 2) | (y > 61)).sum() > 20


def test_msra_border_rule_is_mmpose_s():
    """No quarter shift at x = 1 (mmpose needs 1 < x < W - 1), a shift at W - 2, none in x
    on the first row."""
    heatmaps = torch.zeros(1, 4, 64, 48)
    heatmaps[0, 0, 30, 1], heatmaps[0, 0, 30, 2] = 1.0, 0.5  # max at x = 1, right higher
    heatmaps[0, 1, 30, 46], heatmaps[0, 1, 30, 45] = 1.0, 0.5  # max at x = W - 2
    heatmaps[0, 2, 1, 20], heatmaps[0, 2, 2, 20] = 1.0, 0.5  # max at y = 1
    heatmaps[0, 3, 0, 20], heatmaps[0, 3, 0, 21] = 1.0, 0.5  # max on the first row
    coords, _ = MSRAHeatmap().decode_heatmap_coords(heatmaps)
    assert coords[0].tolist() == [[1.0, 30.0], [45.75, 30.0], [20.0, 1.0], [20.0, 0.0]]
    expected, _ = mmpose_codecs.msra_decode(heatmaps[0].numpy())
    assert expected.tolist() == coords[0].tolist()


def test_udp_refines_at_the_border_and_its_dark_variant_does_not():
    """UDP's refinement (edge padding) moves a maximum in the first column; DARK's
    refinement, kept as ``refinement='dark'``, leaves maxima within 2 pixels unrefined."""
    xs, ys = torch.arange(48.), torch.arange(64.)
    point = torch.tensor([0.3, 30.4])
    heatmaps = torch.exp(-((xs - point[0])**2)[None, :] / 8 - ((ys - point[1])**2)[:, None] / 8)
    heatmaps = heatmaps.expand(1, 1, 64, 48)
    udp, _ = UDPHeatmap().decode_heatmap_coords(heatmaps)
    dark, _ = UDPHeatmap(refinement='dark').decode_heatmap_coords(heatmaps)
    expected, _ = mmpose_codecs.udp_decode(heatmaps[0].numpy())
    np.testing.assert_allclose(udp[0].numpy(), expected, atol=2e-3)
    assert udp[0, 0, 1] != 30.0 and dark[0, 0].tolist() == [0.0, 30.0]
    with pytest.raises(ValueError, match="refinement must be one of"):
        UDPHeatmap(refinement='taylor')
