"""Samplers whose indices carry the seed of each sample's random augmentation.

mmengine seeds a data loader worker once, from ``seed + num_workers * rank + worker_id``,
and a persistent worker then carries its random state from epoch to epoch. A run resumed
at epoch ``e`` starts fresh workers, so from ``e`` on its flips and scales differ from those
of the run that never stopped. Here every sample gets its own seed instead, from the run's
seed, the pass over the data (the epoch) and the sample's index: the augmentation of an
image in an epoch is then the same whatever the number of workers, whether they persist,
how many ranks share the work, and whether the run was resumed.

The seed travels with the index (:class:`SeededIndex`, an ``int``) through mmdet's batch
samplers and the worker queues; :class:`~hrpose.datasets.CocoKeypointDataset` applies it
around the pipeline with :func:`seeded_generators`. Dataset wrappers (``ConcatDataset``,
``RepeatDataset``) hand plain indices to the dataset they wrap, whose samples then draw from
the worker's stream as in mmengine.
"""
import contextlib
import random
from typing import Iterator

import numpy as np
import torch
from mmengine.dataset import DefaultSampler, InfiniteSampler

from hrpose.registry import DATA_SAMPLERS


class SeededIndex(int):
    """A dataset index with the seed of the sample's augmentation (``augmentation_seed``)."""

    def __new__(cls, index: int, augmentation_seed: int) -> 'SeededIndex':
        seeded = super().__new__(cls, index)
        seeded.augmentation_seed = augmentation_seed
        return seeded

    def __reduce__(self):  # the worker queues pickle it; int's own way would drop the seed
        return SeededIndex, (int(self), self.augmentation_seed)

    def __repr__(self) -> str:
        return f'SeededIndex({int(self)}, augmentation_seed={self.augmentation_seed})'


def augmentation_seed(seed: int, epoch: int, index: int) -> int:
    """A 32-bit seed for sample ``index`` in pass ``epoch`` of a run seeded with ``seed``
    (numpy's ``SeedSequence``, so that nearby triples give unrelated streams)."""
    entropy = [int(seed) % 2**64, int(epoch), int(index)]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


@contextlib.contextmanager
def seeded_generators(seed: int):
    """Seed Python's, numpy's and torch's CPU generators with ``seed`` for the block and
    give them back their states afterwards: with ``num_workers=0`` the pipeline runs in the
    main process, whose torch generator the model's proposal samplers draw from. CUDA
    generators are not touched."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    torch_state = torch.get_rng_state()
    random.seed(seed)
    np.random.seed(seed)
    torch.default_generator.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        torch.set_rng_state(torch_state)


@DATA_SAMPLERS.register_module()
class SeededDefaultSampler(DefaultSampler):
    """mmengine's ``DefaultSampler`` (one pass per epoch, ``set_epoch`` reshuffles) whose
    indices carry an augmentation seed from (seed, epoch, index)."""

    def __iter__(self) -> Iterator[SeededIndex]:
        for index in super().__iter__():
            yield SeededIndex(index, augmentation_seed(self.seed, self.epoch, index))


@DATA_SAMPLERS.register_module()
class SeededInfiniteSampler(InfiniteSampler):
    """mmengine's ``InfiniteSampler`` (for iteration-based loops) whose indices carry an
    augmentation seed from (seed, pass over the data, index)."""

    def _infinite_indices(self) -> Iterator[SeededIndex]:
        for position, index in enumerate(super()._infinite_indices()):
            yield SeededIndex(index, augmentation_seed(self.seed, position // self.size, index))
