"""Heatmap keypoint codecs (hrpose.registry.KEYPOINT_CODECS) and refinement functions."""
from .heatmap_codecs import (DARKHeatmap, MSRAHeatmap, OneHotHeatmap, UDPCombinedHeatmap,
                             UDPHeatmap)
from .refinement import (blurred_neighbourhood, dark_offset, gaussian_kernel, heatmap_argmax,
                         quarter_offset, sample_at)

__all__ = [
    'MSRAHeatmap', 'DARKHeatmap', 'UDPHeatmap', 'UDPCombinedHeatmap', 'OneHotHeatmap',
    'blurred_neighbourhood', 'dark_offset',
    'gaussian_kernel', 'heatmap_argmax', 'quarter_offset', 'sample_at'
]
