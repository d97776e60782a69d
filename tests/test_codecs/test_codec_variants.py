"""MSRA, DARK and UDP: round trips, agreement with per-instance numpy, flips."""
import numpy as np
import pytest
import torch

from hrpose.codecs import DARKHeatmap, MSRAHeatmap, UDPCombinedHeatmap, UDPHeatmap, heatmap_argmax
from hrpose.utils.benchmarking import random_heatmaps
from tests.reference import mmpose_codecs
from tests.reference.mmpose_decoding import (BORDER_BANDS, border_band_errors, dark_decode_numpy,
                                             msra_decode_numpy, udp_decode_numpy)

CODECS = {
    'msra': MSRAHeatmap,
    'dark': DARKHeatmap,
    'udp': UDPHeatmap,
    'udp-combined': UDPCombinedHeatmap
}
# Largest round-trip error, in heatmap pixels: MSRA quantises to the pixel centre.
ROUND_TRIP_BOUND = {'msra': 0.5, 'dark': 0.05, 'udp': 0.05, 'udp-combined': 0.05}


def random_keypoints(codec, seed):
    """Seeded sub-pixel keypoints and their RoIs. They stay 5 heatmap pixels from the border,
    where the refinement is exact (closer, the blur reaches past the edge, and within 2
    pixels there is no refinement at all: see the border-band test)."""
    gen = torch.Generator().manual_seed(seed)
    rois = torch.tensor([[100., 50., 196., 178.], [10., 20., 58., 84.], [0., 0., 30., 40.]])
    coords = torch.rand(3, 17, 2, generator=gen) * torch.tensor([37., 53.]) + 5.0
    return codec.to_image_coords(coords, rois), coords, rois


@pytest.mark.parametrize('name', list(CODECS))
def test_round_trip(name):
    codec = CODECS[name]()
    keypoints, coords, rois = random_keypoints(codec, seed=0)
    heatmaps, weights = codec.encode(keypoints, torch.ones(3, 17), rois)
    assert weights.min() == 1
    decoded, scores = codec.decode(heatmaps, rois)
    error = (codec.to_heatmap_coords(decoded, rois) - coords).abs().max().item()
    assert error <= ROUND_TRIP_BOUND[name]
    assert scores.min() > 0.75  # unit peaks, sampled near their centres


@pytest.mark.parametrize('name', list(CODECS))
def test_decoding_no_rois_gives_empty_keypoints(name):
    codec = CODECS[name]()
    W, H = codec.heatmap_size
    keypoints, scores = codec.decode(
        torch.zeros(0, 17 * codec.channels_per_keypoint, H, W), torch.zeros(0, 4))
    assert keypoints.shape == (0, 17, 2) and scores.shape == (0, 17)


@pytest.mark.parametrize('name', ['dark', 'udp'])
def test_unbiased_codecs_beat_msra_quantisation(name):
    codec, msra = CODECS[name](), MSRAHeatmap()
    keypoints, coords, rois = random_keypoints(codec, seed=1)
    decoded, _ = codec.decode(codec.encode(keypoints, torch.ones(3, 17), rois)[0], rois)
    error = (codec.to_heatmap_coords(decoded, rois) - coords).abs().mean()
    keypoints, coords, rois = random_keypoints(msra, seed=1)
    decoded, _ = msra.decode(msra.encode(keypoints, torch.ones(3, 17), rois)[0], rois)
    msra_error = (msra.to_heatmap_coords(decoded, rois) - coords).abs().mean()
    assert error < msra_error / 10


@pytest.mark.parametrize('name, numpy_decode', [('msra', msra_decode_numpy),
                                                ('dark', dark_decode_numpy),
                                                ('udp', udp_decode_numpy)])
def test_decode_agrees_with_per_instance_numpy(name, numpy_decode):
    heatmaps, rois = random_heatmaps(12, seed=3)
    decoded, _ = CODECS[name]().decode(heatmaps, rois)
    reference = np.stack([numpy_decode(h, r) for h, r in zip(heatmaps.numpy(), rois.numpy())])
    # In heatmap pixels: image error divided by the image size of one heatmap pixel.
    pixel = (rois[:, 2:] - rois[:, :2]).numpy()[:, None, :] / np.array([48., 64.])
    assert np.abs(decoded.numpy() - reference).max() / pixel.min() < 1e-3


@pytest.mark.parametrize('name', ['dark', 'udp'])
def test_border_band_errors_no_worse_than_mmpose(name):
    bands = border_band_errors(seed=0, num_points=1500)[name]
    assert set(bands) == set(BORDER_BANDS)
    for (low, high), (ours, reference, count) in bands.items():
        assert count > 50, f'band {low}-{high} px holds only {count} points'
        assert ours <= 1.1 * reference + 0.005, \
            f'{name}, {low}-{high} px from the border: {ours:.3f} px vs {reference:.3f} px'
    # Away from the border both are exact to a few hundredths of a pixel.
    assert bands[BORDER_BANDS[-1]][0] < 0.03


def test_udp_dark_refinement_variant_on_the_border_bands():
    """UDP's own refinement against DARK's (``refinement='dark'``), on the same noisy
    Gaussians: within 3 pixels of the border UDP's one-pixel differences on an edge-padded
    map move a cut-off Gaussian's maximum the wrong way more often than DARK's leaving it
    unrefined (measured 0.43 against 0.28 px); further in they are equal."""
    bands = border_band_errors(seed=0, num_points=1500)
    udp, udp_dark = bands['udp'], bands['udp-dark']
    assert udp_dark[BORDER_BANDS[0]][0] < 0.8 * udp[BORDER_BANDS[0]][0]
    for band in BORDER_BANDS[1:]:
        assert abs(udp[band][0] - udp_dark[band][0]) < 0.005


def test_udp_combined_decode_agrees_with_mmpose_transcription():
    codec = UDPCombinedHeatmap()
    keypoints, _, rois = random_keypoints(codec, seed=4)
    maps, _ = codec.encode(keypoints, torch.ones(3, 17), rois)
    gen = torch.Generator().manual_seed(4)
    maps = maps + 0.05 * torch.rand(maps.shape, generator=gen)  # ties broken, maxima moved
    ours, scores = codec.decode_heatmap_coords(maps)
    reference = np.stack([mmpose_codecs.udp_combined_decode(m)[0] for m in maps.numpy()])
    np.testing.assert_allclose(ours.numpy(), reference, atol=1e-4)
    # Scores: the unblurred classification map at the maximum found on the blurred one.
    classes = maps.reshape(3, 17, 3, 64, 48)[:, :, 0]
    assert scores.shape == (3, 17) and (scores > 0.9).all()
    assert classes.amax(dim=(-2, -1)).ge(scores).all()


@pytest.mark.parametrize('name', list(CODECS))
def test_flip_of_image_and_roi_is_a_mirror_of_the_heatmap(name):
    codec = CODECS[name]()
    image_width = 640.
    keypoints, _, rois = random_keypoints(codec, seed=2)
    mirrored_rois = torch.stack(
        [image_width - rois[:, 2], rois[:, 1], image_width - rois[:, 0], rois[:, 3]], dim=1)
    mirrored = keypoints.clone()
    mirrored[..., 0] = image_width - mirrored[..., 0]
    p = codec.to_heatmap_coords(keypoints, rois)
    p_mirrored = codec.to_heatmap_coords(mirrored, mirrored_rois)
    # W - 1 - p, no shift (float32 rounding of image coordinates in the hundreds)
    torch.testing.assert_close(p_mirrored[..., 0], 47 - p[..., 0], atol=1e-4, rtol=0)
    torch.testing.assert_close(p_mirrored[..., 1], p[..., 1])
    # Flipping the encoded heatmaps back equals encoding the mirrored keypoints (same
    # keypoint order here, so the flip indices are the identity).
    heatmaps, _ = codec.encode(keypoints, torch.ones(3, 17), rois)
    heatmaps_m, _ = codec.encode(mirrored, torch.ones(3, 17), mirrored_rois)
    back = codec.flip_back(heatmaps, list(range(17)))
    torch.testing.assert_close(back, heatmaps_m, atol=1e-4, rtol=0)


def test_udp_pools_a_half_pixel_larger_region():
    codec = UDPHeatmap()
    rois = torch.tensor([[0., 0., 47., 63.]])  # one image unit per heatmap pixel step
    torch.testing.assert_close(codec.pooling_rois(rois), torch.tensor([[-0.5, -0.5, 47.5, 63.5]]))
    # Pooled bin j spans [j - 0.5, j + 0.5]: its centre is the keypoint at x = j.
    torch.testing.assert_close(
        codec.to_heatmap_coords(torch.tensor([[[0., 0.], [47., 63.]]]), rois),
        torch.tensor([[[0., 0.], [47., 63.]]]))


@pytest.mark.parametrize('shape', [(3, 17, 64, 48), (2, 5, 56, 56), (1, 3, 7, 5), (2, 2, 13, 200),
                                   (0, 17, 64, 48)])
def test_blockwise_argmax_equals_a_flat_argmax_including_ties(shape):
    gen = torch.Generator().manual_seed(0)
    heatmaps = torch.rand(shape, generator=gen)
    if heatmaps.numel():
        heatmaps[0, 0] = 0
        heatmaps[0, 0, 3, 1] = heatmaps[0, 0, -1, 0] = 1  # a tie: the first one wins
    R, K, H, W = shape
    scores, index = heatmaps.reshape(R, K, H * W).max(dim=-1)
    x, y, values = heatmap_argmax(heatmaps)
    assert torch.equal(x, index % W) and torch.equal(y, index // W)
    assert torch.equal(values, scores)
    if heatmaps.numel():
        assert (x[0, 0].item(), y[0, 0].item()) == (1, 3)


def degenerate_heatmaps(channels_per_keypoint: int) -> torch.Tensor:
    """(4, 17 C, 64, 48): single-pixel spikes (their blur underflows in half precision far
    from the spike), all zeros, a flat map, and a spike on the border."""
    maps = torch.zeros(4, 17 * channels_per_keypoint, 64, 48)
    maps[0, ::channels_per_keypoint, 30, 20] = 1.0  # classification maps only
    maps[2] = 0.5
    maps[3, ::channels_per_keypoint, 0, 47] = 1.0
    return maps


@pytest.mark.parametrize('name', list(CODECS))
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_decoding_half_precision_and_degenerate_heatmaps_is_finite(name, dtype):
    codec = CODECS[name]()
    heatmaps = degenerate_heatmaps(codec.channels_per_keypoint).to(dtype)
    rois = torch.tensor([[1030.3, 1100.7, 1090.1, 1230.9]] * 4)
    for autocast in (False, True):
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=autocast):
            keypoints, scores = codec.decode(heatmaps, rois)
        assert keypoints.dtype == scores.dtype == torch.float32
        assert torch.isfinite(keypoints).all() and torch.isfinite(scores).all()
        # The spike is found where it is (MSRA's quarter shift aside).
        spike = codec.to_heatmap_coords(keypoints[:1], rois[:1])[0]
        assert (spike - torch.tensor([20., 30.])).abs().max() <= 0.25 + 1e-4
