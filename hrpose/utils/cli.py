"""Argument types shared by the command-line tools and the demo."""
import argparse


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1 (batch sizes, caps)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be a positive integer, got {value}')
    return value
