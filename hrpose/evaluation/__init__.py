"""Keypoint evaluation metrics (hrpose.registry.METRICS)."""
