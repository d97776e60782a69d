"""Hooks that make interrupted training resumable exactly, and one that records every
rank's loss."""
import json
import os
import os.path as osp
import random

import numpy as np
import torch
from mmengine.hooks import Hook

from hrpose.engine.checkpoint import check_weight_shapes
from hrpose.registry import HOOKS


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Saves the random number generators' states in every checkpoint and restores them on
    resume, so a resumed run draws the same random numbers as an uninterrupted one.

    mmengine re-seeds on resume, which replays the data order (the sampler has its own
    seeded generator and the skipped batches are loaded again) but restarts the global torch
    generator, which the proposal samplers of the RPN and RoI head draw from. Restoring it
    makes the losses after ``--resume`` match those of a run that was never stopped.

    Each new pass over the training data draws a seed for the loader's workers; by default it
    comes from the global torch generator, and a resumed run makes those draws at other
    moments (while skipping the batches already used). The training dataloader therefore gets
    a generator of its own, seeded from the run's seed, in every run.

    The numpy and Python generators are restored only when ``restore_host_generators`` is
    True: with ``num_workers=0`` the data pipeline draws from them in the main process and
    mmengine replays the skipped batches after resuming, which already brings them to the
    right state.
    """

    priority = 'VERY_LOW'

    def __init__(self, restore_host_generators: bool = False) -> None:
        self.restore_host_generators = restore_host_generators
        self._resumed_state = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        state = dict(torch=torch.get_rng_state(), numpy=np.random.get_state(),
                     python=random.getstate())
        if torch.cuda.is_available():
            state['cuda'] = torch.cuda.get_rng_state_all()
        checkpoint['random_state'] = state

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # Only a resumed run continues a random sequence; `load_from` starts a new one.
        if runner._resume:
            self._resumed_state = checkpoint.get('random_state')

    def before_train(self, runner) -> None:
        loader = getattr(runner.train_loop, 'dataloader', None)
        if loader is not None and getattr(loader, 'generator', None) is None:
            seed = runner.seed if runner.seed is not None else 0
            loader.generator = torch.Generator().manual_seed(int(seed))
        # Applied here rather than on load: the Runner may re-seed after loading (when the
        # config's seed differs from the checkpoint's).
        state, self._resumed_state = self._resumed_state, None
        if state is None:
            return
        torch.set_rng_state(state['torch'].cpu())
        if 'cuda' in state and torch.cuda.is_available() and \
                len(state['cuda']) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in state['cuda']])
        if self.restore_host_generators:
            np.random.set_state(state['numpy'])
            random.setstate(state['python'])


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
        out_dir: folder of the files (created).
    """

    def __init__(self, out_dir: str) -> None:
        self.out_dir = out_dir

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        from mmengine.dist import get_rank
        os.makedirs(self.out_dir, exist_ok=True)
        with open(osp.join(self.out_dir, f'losses_rank{get_rank()}.jsonl'), 'a') as f:
            f.write(json.dumps(dict(iter=runner.iter, loss=float(outputs['loss']))) + '\n')
