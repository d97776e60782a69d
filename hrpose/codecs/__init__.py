"""Heatmap keypoint codecs (hrpose.registry.KEYPOINT_CODECS)."""
from .msra_heatmap import MSRAHeatmap

__all__ = ['MSRAHeatmap']
