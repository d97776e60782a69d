"""Argument types and options shared by the command-line tools and the demo."""
import argparse

from hrpose.models.precision import COMPILE_MODES, PRECISIONS


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1 (batch sizes, caps)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be a positive integer, got {value}')
    return value


def add_inference_options(parser: argparse.ArgumentParser) -> None:
    """--precision, --fp16, --compile and --channels-last of the demo and tools/test.py;
    :func:`inference_options` reads them back."""
    parser.add_argument(
        '--precision',
        choices=tuple(PRECISIONS),
        default='fp32',
        help='half-precision inference: convolutions and linear layers under autocast, '
        'RoIAlign and all decoding in float32 (bf16 on CPUs)')
    parser.add_argument('--fp16', action='store_true', help='the same as --precision fp16')
    parser.add_argument(
        '--compile',
        nargs='?',
        const='reduce-overhead',
        choices=COMPILE_MODES,
        help='torch.compile the backbone, neck and RPN convolutions (without a mode: '
        'reduce-overhead, CUDA graphs on GPUs, one per padded input size)')
    parser.add_argument(
        '--channels-last',
        action='store_true',
        help='convolutions in channels-last memory order (the same results)')


def inference_options(args: argparse.Namespace):
    """``(precision, compile_mode, channels_last)`` from the options of
    :func:`add_inference_options`."""
    return ('fp16' if args.fp16 else args.precision), args.compile, args.channels_last
