"""Keypoint visualisers (hrpose.registry.VISUALIZERS)."""
