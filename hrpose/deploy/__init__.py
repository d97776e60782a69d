"""Deployment: the detector exported to one ONNX graph and run with ONNX Runtime
(``tools/deployment/export_onnx.py``; ``init_model(config, 'model.onnx')``). onnx and
onnxruntime are imported only when used (``requirements/deploy.txt``)."""
from .exportable import ExportableKeypointDetector, ExportError, check_exportable
from .onnx_backend import OnnxKeypointDetector, onnx_model_config
from .onnx_export import export_onnx, read_metadata

__all__ = [
    'ExportableKeypointDetector', 'ExportError', 'check_exportable', 'OnnxKeypointDetector',
    'onnx_model_config', 'export_onnx', 'read_metadata'
]
