"""Keypoint visualisers (hrpose.registry.VISUALIZERS)."""
from .local_visualizer import KeypointLocalVisualizer

__all__ = ['KeypointLocalVisualizer']
