"""Inference settings of the detector: which parts run under autocast in half precision,
and the ``torch.compile`` modes of its image part.

The convolutions and linear layers (backbone, neck, the RPN's convolutions, the box head's
layers, the keypoint head) run in the chosen half precision; everything that turns their
outputs into coordinates stays in float32: RoIAlign (a coordinate in [1024, 2048) lies on a
1-pixel grid in float16, 8 pixels in bfloat16), the RPN's and the box head's box decoding
and NMS, and the heatmap decoding. Training's AMP keeps the same float32 parts.
"""
import contextlib

import torch

PRECISIONS = {'fp32': None, 'fp16': torch.float16, 'bf16': torch.bfloat16}
# torch.compile's modes for the image part; 'reduce-overhead' captures CUDA graphs on GPUs.
COMPILE_MODES = ('default', 'reduce-overhead', 'max-autotune')


def check_precision(precision: str, where: str = 'model.inference_precision') -> str:
    if precision not in PRECISIONS:
        raise ValueError(f'{where}={precision!r}: expected one of {", ".join(PRECISIONS)} '
                         "(float16 for GPUs, bfloat16 for CPUs and GPUs that have it)")
    return precision


def half_precision(device_type: str, precision: str):
    """An autocast context for ``precision`` ('fp16' or 'bf16'), nothing for 'fp32' (an
    autocast with ``enabled=False`` would also switch off an outer one)."""
    dtype = PRECISIONS[check_precision(precision)]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device_type, dtype=dtype)


def as_float32(outputs):
    """Tensors (possibly nested in lists and tuples) cast to float32."""
    if isinstance(outputs, torch.Tensor):
        return outputs.float()
    if isinstance(outputs, (list, tuple)):
        return type(outputs)(as_float32(o) for o in outputs)
    return outputs
