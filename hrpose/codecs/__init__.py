"""Heatmap keypoint codecs (hrpose.registry.KEYPOINT_CODECS), one per file, on a base class
that owns the RoI geometry; the refinement functions they decode with."""
from .base import (BaseHeatmapCodec, GaussianHeatmapCodec, gaussian_heatmaps,
                   gaussian_target_weights, gaussian_window, windowed_gaussian_heatmaps)
from .dark import DARKHeatmap
from .msra import MSRAHeatmap
from .one_hot import OneHotHeatmap
from .refinement import (blurred_neighbourhood, dark_offset, dark_udp_offset, gaussian_kernel,
                         heatmap_argmax, modulated_heatmaps, quarter_offset, sample_at)
from .udp import UDPCombinedHeatmap, UDPHeatmap

__all__ = [
    'BaseHeatmapCodec', 'GaussianHeatmapCodec', 'gaussian_window', 'MSRAHeatmap', 'DARKHeatmap',
    'UDPHeatmap', 'UDPCombinedHeatmap', 'OneHotHeatmap', 'gaussian_heatmaps',
    'blurred_neighbourhood', 'dark_offset', 'gaussian_kernel', 'heatmap_argmax', 'quarter_offset',
    'sample_at', 'dark_udp_offset', 'modulated_heatmaps', 'gaussian_target_weights',
    'windowed_gaussian_heatmaps'
]
