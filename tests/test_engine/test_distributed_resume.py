"""A distributed training resumed from a checkpoint logs, on every rank, the losses of the
run that never stopped: per-rank random states in the checkpoint, per-sample augmentation
seeds with persistent workers, validation that draws nothing from training's generators."""
import json
import os
import os.path as osp
import shutil
import sys

import pytest
import torch

from tests.helpers import TEST_SEED, TINY_POSE_CONFIG, free_port, run_tool

PROCESSES = 2
EPOCHS = 4
RESUMED_FROM_EPOCH = 2


def distributed_config(path: str, data_root: str, sampler: str = 'SeededDefaultSampler') -> str:
    """The tiny model trained as the COCO configs train: epochs, 2 persistent workers per
    rank, aspect-ratio batches, random scale and flip, a checkpoint and a validation after
    every epoch, and every rank's loss written down."""
    data_root = data_root.rstrip('/') + '/'
    with open(path, 'w') as f:
        f.write(f'''_base_ = [{TINY_POSE_CONFIG!r}]
train_pipeline = [
    dict(type='LoadCheckedImage'),
    dict(type='LoadKeypointAnnotations'),
    dict(type='RandomChoiceResize', scales=[(160, 128), (200, 160), (240, 192)],
         keep_ratio=True, resize_type='KeypointResize'),
    dict(type='KeypointRandomFlip', prob=0.5),
    dict(type='PackKeypointDetInputs'),
]
train_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(_delete_=True, type={sampler!r}, shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(data_root={data_root!r}, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root={data_root!r}))
val_evaluator = dict(ann_file={data_root + 'annotations/person_keypoints_val.json'!r})
train_cfg = dict(_delete_=True, type='EpochBasedTrainLoop', max_epochs={EPOCHS},
                 val_interval=1)
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(_delete_=True, type='CheckpointHook', interval=1, by_epoch=True,
                    backend_args=dict(backend='atomic_local')))
log_processor = dict(by_epoch=True)
custom_hooks = [dict(type='PerRankLossHook')]
randomness = dict(seed={TEST_SEED})
''')
    return path


def per_rank_losses(work_dir: str) -> dict:
    """{rank: {iteration: loss}} from PerRankLossHook's files."""
    losses = {}
    for rank in range(PROCESSES):
        with open(osp.join(work_dir, 'per_rank_losses', f'losses_rank{rank}.jsonl')) as f:
            losses[rank] = {r['iter']: r['loss'] for r in map(json.loads, f)}
    return losses


def dist_train(config: str, work_dir: str, *extra: str) -> None:
    # CPU processes (gloo) even where a GPU is visible: the comparison is exact on the CPU.
    run_tool(
        ['bash', 'tools/dist_train.sh', config,
         str(PROCESSES), '--work-dir', work_dir, *extra],
        env=dict(PORT=str(free_port()), CUDA_VISIBLE_DEVICES=''),
        timeout=900)


def resumed_and_uninterrupted(tmp_path, data_root: str, sampler: str):
    config = distributed_config(str(tmp_path / 'config.py'), data_root, sampler)
    uninterrupted = str(tmp_path / 'uninterrupted')
    dist_train(config, uninterrupted)
    # The run "killed" right after its epoch-2 checkpoint: a new work dir that has only
    # that checkpoint, resumed from it.
    resumed = str(tmp_path / 'resumed')
    checkpoint = osp.join(resumed, f'epoch_{RESUMED_FROM_EPOCH}.pth')
    os.makedirs(resumed)
    shutil.copy(osp.join(uninterrupted, f'epoch_{RESUMED_FROM_EPOCH}.pth'), checkpoint)
    dist_train(config, resumed, '--resume', checkpoint)
    return per_rank_losses(uninterrupted), per_rank_losses(resumed), checkpoint


@pytest.mark.slow
def test_resumed_two_process_training_logs_every_ranks_uninterrupted_losses(
        tmp_path, synthetic_root):
    reference, resumed, checkpoint = resumed_and_uninterrupted(tmp_path, synthetic_root,
                                                               'SeededDefaultSampler')
    iterations_per_epoch = 4 // PROCESSES  # 4 training images, 1 per rank and iteration
    total = EPOCHS * iterations_per_epoch
    first_resumed = RESUMED_FROM_EPOCH * iterations_per_epoch
    for rank in range(PROCESSES):
        assert sorted(reference[rank]) == list(range(total)), rank
        assert sorted(resumed[rank]) == list(range(first_resumed, total)), rank
        for iteration in range(first_resumed, total):
            assert resumed[rank][iteration] == pytest.approx(
                reference[rank][iteration], rel=1e-6), (rank, iteration)
    # The ranks train on other images: their losses are their own, not copies of rank 0's.
    assert reference[0] != reference[1]

    states = torch.load(checkpoint, map_location='cpu', weights_only=False)['random_state']
    assert len(states['per_rank']) == PROCESSES
    assert not torch.equal(states['per_rank'][0]['torch'], states['per_rank'][1]['torch'])


@pytest.mark.full  # two more 2-process trainings: the same comparison with mmengine's sampler
def test_without_seeded_sampler_persistent_workers_resume_with_other_augmentation(
        tmp_path, synthetic_root):
    """The comparison above can fail: mmengine's DefaultSampler leaves the augmentation to
    the persistent workers' streams, which a resumed run restarts."""
    reference, resumed, _ = resumed_and_uninterrupted(tmp_path, synthetic_root, 'DefaultSampler')
    first_resumed = RESUMED_FROM_EPOCH * 4 // PROCESSES
    differs = [
        resumed[rank][i] != pytest.approx(reference[rank][i], rel=1e-6)
        for rank in range(PROCESSES) for i in resumed[rank] if i >= first_resumed
    ]
    assert any(differs)


if __name__ == '__main__':  # pragma: no cover
    sys.exit(pytest.main([__file__, '-v']))
