"""Keypoint evaluation metrics (hrpose.registry.METRICS)."""
from .coco_keypoint_metric import CocoKeypointMetric
from .error_analysis import analyze_keypoint_errors, diagnose_results_file, write_error_report

__all__ = [
    'analyze_keypoint_errors', 'diagnose_results_file', 'write_error_report', 'CocoKeypointMetric'
]
