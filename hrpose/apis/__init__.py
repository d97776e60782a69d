"""Inference from Python: ``init_model`` + ``inference_keypoints``, or ``KeypointInferencer``."""
from .inference import (build_test_pipeline, inference_keypoints, init_model,
                        predictions_to_arrays, resolve_config)
from .inferencer import KeypointInferencer, instances_to_json, list_images
from .tracking import GreedyIoUTracker, OneEuroFilter, PoseTracker, interpolate_track_gaps

__all__ = [
    'init_model', 'inference_keypoints', 'build_test_pipeline', 'predictions_to_arrays',
    'resolve_config', 'KeypointInferencer', 'instances_to_json', 'list_images', 'PoseTracker',
    'GreedyIoUTracker', 'OneEuroFilter', 'interpolate_track_gaps'
]
