"""Heatmap keypoint codecs (hrpose.registry.KEYPOINT_CODECS)."""
