"""Seeded samplers: each sample's augmentation depends on (seed, epoch, index) only."""
import pickle
import random

import numpy as np
import pytest
import torch

from hrpose.datasets import (CocoKeypointDataset, SeededDefaultSampler, SeededIndex,
                             SeededInfiniteSampler, augmentation_seed, seeded_generators)
from tests.helpers import COCO_METAINFO, TEST_SEED

pytestmark = pytest.mark.usefixtures('hrpose_scope')


class Sized:

    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size


def seeds_of(sampler) -> dict:
    return {int(i): i.augmentation_seed for i in sampler}


def test_seeded_index_is_its_int_and_keeps_its_seed_through_pickling():
    index = SeededIndex(7, 123)
    assert index == 7 and [10, 11, 12, 13, 14, 15, 16, 17][index] == 17
    copied = pickle.loads(pickle.dumps([index]))[0]
    assert type(copied) is SeededIndex and copied == 7 and copied.augmentation_seed == 123


def test_every_rank_gets_the_seed_one_process_would_give_the_same_index():
    one = SeededDefaultSampler(Sized(8), shuffle=True, seed=TEST_SEED)
    ranks = [SeededDefaultSampler(Sized(8), shuffle=True, seed=TEST_SEED) for _ in range(2)]
    for rank, sampler in enumerate(ranks):
        sampler.rank, sampler.world_size = rank, 2
        sampler.num_samples, sampler.total_size = 4, 8
    for epoch in (0, 1):
        for sampler in [one] + ranks:
            sampler.set_epoch(epoch)
        merged = {**seeds_of(ranks[0]), **seeds_of(ranks[1])}
        assert merged == seeds_of(one)
        assert all(seed == augmentation_seed(TEST_SEED, epoch, index)
                   for index, seed in merged.items())
    one.set_epoch(0)
    first = seeds_of(one)
    one.set_epoch(1)
    assert all(first[i] != seed for i, seed in seeds_of(one).items())


def test_infinite_sampler_seeds_each_pass_like_an_epoch():
    sampler = SeededInfiniteSampler(Sized(5), shuffle=True, seed=TEST_SEED)
    stream = iter(sampler)
    passes = [[next(stream) for _ in range(5)] for _ in range(3)]
    for number, indices in enumerate(passes):
        assert sorted(int(i) for i in indices) == list(range(5))
        assert all(i.augmentation_seed == augmentation_seed(TEST_SEED, number, int(i))
                   for i in indices)


def test_seeded_generators_draw_from_the_seed_and_give_the_states_back():
    random.seed(TEST_SEED)
    np.random.seed(TEST_SEED)
    torch.manual_seed(TEST_SEED)
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(TEST_SEED)
    np.random.seed(TEST_SEED)
    torch.manual_seed(TEST_SEED)
    draws = []
    for _ in range(2):
        with seeded_generators(99):
            draws.append((random.random(), np.random.rand(), torch.rand(1).item()))
    assert draws[0] == draws[1]
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_dataset_augments_a_seeded_index_the_same_whatever_the_global_state(synthetic_root):
    pipeline = [
        dict(type='LoadCheckedImage'),
        dict(type='LoadKeypointAnnotations'),
        dict(
            type='RandomChoiceResize',
            scales=[(160, 128), (200, 160), (240, 192), (280, 224)],
            keep_ratio=True,
            resize_type='KeypointResize'),
        dict(type='KeypointRandomFlip', prob=0.5),
        dict(type='PackKeypointDetInputs')
    ]
    dataset = CocoKeypointDataset(
        data_root=synthetic_root,
        ann_file='annotations/person_keypoints_train.json',
        data_prefix=dict(img='train/'),
        metainfo=COCO_METAINFO,
        pipeline=pipeline)

    def augmentation(index):
        sample = dataset[index]['data_samples']
        return sample.metainfo['img_shape'], sample.metainfo['flip']

    outcomes = []
    for global_seed in range(3):
        np.random.seed(global_seed)
        random.seed(global_seed)
        outcomes.append([augmentation(SeededIndex(0, seed)) for seed in range(12)])
    assert outcomes[0] == outcomes[1] == outcomes[2]
    # The seed is what decides: 12 seeds do not all give one scale and flip.
    assert len(set(outcomes[0])) > 1
