"""Keypoint-aware data transforms (registered into hrpose.registry.TRANSFORMS)."""
