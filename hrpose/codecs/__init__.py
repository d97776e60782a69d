"""Heatmap keypoint codecs (hrpose.registry.KEYPOINT_CODECS) and refinement functions."""
from .heatmap_codecs import DARKHeatmap, MSRAHeatmap, UDPHeatmap
from .refinement import (blurred_neighbourhood, dark_offset, gaussian_kernel, heatmap_argmax,
                         quarter_offset)

__all__ = [
    'MSRAHeatmap', 'DARKHeatmap', 'UDPHeatmap', 'blurred_neighbourhood', 'dark_offset',
    'gaussian_kernel', 'heatmap_argmax', 'quarter_offset'
]
