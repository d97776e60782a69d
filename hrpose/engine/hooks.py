"""Hooks that make interrupted training resumable exactly, and one that records every
rank's loss."""
import json
import os
import os.path as osp
import random
from typing import Optional

import numpy as np
import torch
from mmengine.hooks import Hook

from hrpose.engine.checkpoint import check_weight_shapes
from hrpose.registry import HOOKS


def generator_states() -> dict:
    """This process's random states: torch's CPU generator, the current CUDA device's (when
    there is one), numpy's and Python's."""
    state = dict(
        torch=torch.get_rng_state(), numpy=np.random.get_state(), python=random.getstate())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state()
    return state


def set_generator_states(state: dict, host: bool = True) -> None:
    """Give this process back the states of :func:`generator_states` (numpy's and
    Python's only with ``host``)."""
    torch.set_rng_state(state['torch'].cpu())
    cuda = state.get('cuda')
    if cuda is not None and torch.cuda.is_available():
        if isinstance(cuda, (list, tuple)):  # every device's, as single states were kept
            if len(cuda) == torch.cuda.device_count():
                torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
        else:
            torch.cuda.set_rng_state(cuda.cpu())
    if host:
        np.random.set_state(state['numpy'])
        random.setstate(state['python'])


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Keeps every rank's random states in the checkpoints and gives each rank its own back
    on resume, so that a resumed run draws the same random numbers as one never stopped.

    - mmengine re-seeds on resume, which replays the data order (the sampler has its own
      seeded generator) but restarts the global torch generators the proposal samplers of
      the RPN and RoI head draw from. mmengine also saves checkpoints on rank 0 only, so the
      states are gathered from all ranks (``all_gather_object``) just before the
      ``CheckpointHook`` saves: the checkpoint's ``random_state`` holds ``per_rank``, one
      entry per rank (torch CPU, the rank's CUDA device, numpy, Python).
    - Validation runs between a checkpoint and the next training step in a run that goes
      on, but not in the resumed one; it gets a copy of the generators and hands the
      originals back, so that it draws nothing from the training's streams.
    - Each pass over the training data draws a seed for the loader's workers from the
      global torch generator unless the loader has a generator of its own; it gets one,
      seeded from the run's seed.
    - The data augmentation is exact across a resume with the seeded samplers of
      :mod:`hrpose.datasets.samplers` (``SeededDefaultSampler``, ``SeededInfiniteSampler``),
      or without workers: an iteration-based loop replays the skipped batches in the main
      process, whose numpy and Python generators the pipeline then draws from, and which
      the replay itself brings to their saved states (restoring them before the replay
      would draw the replay twice). A warning says so when a run has workers and neither.
    """

    # Before the CheckpointHook (VERY_LOW) in the same after_train_* call.
    priority = 'LOW'

    def __init__(self) -> None:
        self._gathered = None  # ((epoch, iter), [state of each rank])
        self._resumed_state = None
        self._before_validation = None

    # -------------------------------------------------------------- saving
    def _gather_if_saving(self, runner, by_epoch: bool) -> None:
        from mmengine.dist import all_gather_object
        from mmengine.hooks import CheckpointHook
        for hook in runner.hooks:
            if not isinstance(hook, CheckpointHook) or hook.by_epoch != by_epoch:
                continue
            if by_epoch:
                saving = hook.every_n_epochs(
                    runner, hook.interval,
                    hook.save_begin) or (hook.save_last and hook.is_last_train_epoch(runner))
            else:
                saving = hook.every_n_train_iters(
                    runner, hook.interval,
                    hook.save_begin) or (hook.save_last and hook.is_last_train_iter(runner))
            if saving:
                # A collective: every rank takes this branch at the same step.
                self._gathered = ((runner.epoch, runner.iter),
                                  all_gather_object(generator_states()))
                return

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._gather_if_saving(runner, by_epoch=False)

    def after_train_epoch(self, runner) -> None:
        self._gather_if_saving(runner, by_epoch=True)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        from mmengine.dist import get_world_size
        gathered, self._gathered = self._gathered, None
        if gathered is not None and gathered[0] == (runner.epoch, runner.iter):
            per_rank = gathered[1]
        else:
            # A save the CheckpointHook's schedule did not announce (a best checkpoint, a
            # user's call): only this rank (0) is here to give its states.
            per_rank = [generator_states()] + [None] * (get_world_size() - 1)
        checkpoint['random_state'] = dict(per_rank=per_rank)

    # -------------------------------------------------------------- resuming
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # Only a resumed run continues a random sequence; `load_from` starts a new one.
        if runner._resume:
            self._resumed_state = self._state_of_this_rank(runner, checkpoint.get('random_state'))

    @staticmethod
    def _state_of_this_rank(runner, saved: Optional[dict]) -> Optional[dict]:
        from mmengine.dist import get_rank, get_world_size
        if saved is None:
            runner.logger.warning('the checkpoint holds no random states: the resumed run '
                                  'draws other random numbers than an uninterrupted one')
            return None
        if 'per_rank' not in saved:  # one state, written before states were kept per rank
            return saved
        per_rank, rank = saved['per_rank'], get_rank()
        if len(per_rank) != get_world_size():
            runner.logger.warning(f'the checkpoint was saved by {len(per_rank)} process(es) '
                                  f'and is resumed by {get_world_size()}: the random states '
                                  'are restored where a rank has one; the losses will differ '
                                  'from an uninterrupted run\'s')
        state = per_rank[rank] if rank < len(per_rank) else None
        if state is None:
            runner.logger.warning(f'the checkpoint holds no random state of rank {rank}')
        return state

    def before_train(self, runner) -> None:
        loader = getattr(runner.train_loop, 'dataloader', None)
        if loader is not None and getattr(loader, 'generator', None) is None:
            seed = runner.seed if runner.seed is not None else 0
            loader.generator = torch.Generator().manual_seed(int(seed))
        # Applied here rather than on load: the Runner may re-seed after loading (when the
        # config's seed differs from the checkpoint's).
        state, self._resumed_state = self._resumed_state, None
        if loader is None:
            if state is not None:
                set_generator_states(state)
            return
        from mmengine.runner import IterBasedTrainLoop

        from hrpose.datasets.samplers import SeededDefaultSampler, SeededInfiniteSampler
        sampler = getattr(loader.batch_sampler, 'sampler', None)
        sampler = loader.sampler if sampler is None else sampler
        seeded = isinstance(sampler, (SeededDefaultSampler, SeededInfiniteSampler))
        if state is not None:
            replayed_in_main_process = loader.num_workers == 0 and not seeded and \
                isinstance(runner.train_loop, IterBasedTrainLoop)
            set_generator_states(state, host=not replayed_in_main_process)
        if loader.num_workers > 0 and not seeded:
            runner.logger.warning(
                f'train_dataloader.sampler is {type(sampler).__name__} with {loader.num_workers}'
                ' workers: a resumed run\'s augmentation will differ from an uninterrupted '
                "run's. SeededDefaultSampler or SeededInfiniteSampler make it exact.")

    # -------------------------------------------------------------- validation
    def before_val_epoch(self, runner) -> None:
        self._before_validation = generator_states()

    def after_val_epoch(self, runner, metrics=None) -> None:
        state, self._before_validation = self._before_validation, None
        if state is not None:
            set_generator_states(state)


@HOOKS.register_module()
class WeightShapeCheckHook(Hook):
    """Stops when a checkpoint's weights do not fit the model (``load_from`` in training,
    the checkpoint of ``tools/test.py``); mmengine would only warn in the middle of the log
    and go on with randomly initialised layers.

    When training, the config's ``load_from_reinit`` (a list of regular expressions over
    parameter names) names the layers that may be re-initialised instead, e.g. the last
    keypoint layer when fine-tuning a COCO model on CrowdPose's 14 keypoints. Resuming
    (``--resume``) checks too and allows nothing.
    """

    priority = 'VERY_HIGH'

    def before_test(self, runner) -> None:
        self._check_keypoint_count(runner, runner.test_loop.dataloader.dataset, 'test')

    def before_val(self, runner) -> None:
        self._check_keypoint_count(runner, runner.val_loop.dataloader.dataset, 'val')

    @staticmethod
    def _check_keypoint_count(runner, dataset, split: str) -> None:
        """A model of another K than the dataset's metainfo stops before the first image
        (the metric would find it only after the whole inference)."""
        from mmengine.model import is_model_wrapper
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if hasattr(model, 'check_keypoint_count'):  # an exported model: K is in its file
            model.check_keypoint_count(getattr(dataset, 'metainfo', {}), f'the {split} dataset')
            return
        head = getattr(getattr(model, 'roi_head', None), 'keypoint_head', None)
        wanted = getattr(dataset, 'metainfo', {}).get('num_keypoints')
        if head is not None and wanted is not None and head.num_keypoints != wanted:
            raise ValueError(
                f'the model predicts K={head.num_keypoints} keypoints '
                f'(model.roi_head.keypoint_head.num_keypoints) but the {split} dataset\'s '
                f'metainfo has K={wanted}: use the config the checkpoint was trained with, '
                'or the dataset\'s own metainfo')

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        from mmengine.model import is_model_wrapper
        from mmengine.runner import BaseLoop
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        training = isinstance(runner._train_loop, BaseLoop) and not runner._resume
        reinit = (runner.cfg.get('load_from_reinit') or []) if training else []
        source = runner._load_from if runner._load_from else 'the checkpoint'
        left_out = check_weight_shapes(model, checkpoint.get('state_dict', checkpoint),
                                       str(source), reinit)
        if left_out:
            runner.logger.warning(f'{len(left_out)} weight(s) of {source} do not fit this '
                                  f'model and keep their initial values (load_from_reinit): '
                                  f'{left_out}')


@HOOKS.register_module()
class PerRankLossHook(Hook):
    """Appends each iteration's loss of this rank to ``<out_dir>/losses_rank<r>.jsonl``
    (``{"iter": i, "loss": x}`` per line): mmengine logs rank 0's loss only, which covers
    its share of the batch, so comparing a multi-process run with a one-process run on the
    same images needs every rank's.

    Args:
        out_dir: folder of the files (created); by default ``per_rank_losses`` in the work
            dir.
    """

    def __init__(self, out_dir: Optional[str] = None) -> None:
        self.out_dir = out_dir

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        from mmengine.dist import get_rank
        out_dir = self.out_dir or osp.join(runner.work_dir, 'per_rank_losses')
        os.makedirs(out_dir, exist_ok=True)
        with open(osp.join(out_dir, f'losses_rank{get_rank()}.jsonl'), 'a') as f:
            f.write(json.dumps(dict(iter=runner.iter, loss=float(outputs['loss']))) + '\n')
