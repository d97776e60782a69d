"""The two-stage keypoint detector: mmdet's TwoStageDetector plus the flip test and a guard
against non-finite losses."""
from typing import Dict, List, Optional, Tuple

import torch
from mmdet.models.detectors import TwoStageDetector
from mmdet.structures import SampleList
from mmdet.structures.bbox import scale_boxes
from mmengine.logging import MessageHub, print_log
from mmengine.structures import InstanceData
from torch import Tensor

from hrpose.registry import MODELS

from .precision import COMPILE_MODES, as_float32, check_precision, half_precision


class NonFiniteLossError(FloatingPointError):
    """A training loss term became NaN or Inf."""


@MODELS.register_module()
class KeypointTwoStageDetector(TwoStageDetector):
    """HRNet/HRFPN -> RPN -> ``TopDownHeatmapRoIHead``, one network for boxes and poses.

    Identical to mmdet's ``TwoStageDetector`` except at test time with
    ``test_cfg.rcnn.flip_test=True``: the mirrored batch also goes through the backbone and
    neck, and its features reach the RoI head, which averages each person's heatmaps with
    those of its mirror image.

    Each image gets its box results (``pred_boxes``) and its pose results
    (``pred_instances``), see :meth:`add_pred_to_datasample`.

    Given person boxes (data samples carrying ``given_persons``, see
    ``CocoKeypointDataset(person_boxes=...)`` and the inference API): the RPN and the box
    branch are skipped and the keypoint branch runs on those boxes, with their scores, then
    rescoring and OKS-NMS as configured: keypoint AP on ground-truth or detector boxes, the
    protocols top-down methods report.

    In training, every loss term is checked before the backward pass. A NaN or Inf stops
    training with :class:`NonFiniteLossError` naming the iteration and the loss terms, before
    the weights or any checkpoint are touched (``non_finite_loss='error'``, the default), or
    the step is skipped with a logged warning (``non_finite_loss='skip'``): the batch then
    contributes zero gradients.

    At test time ``inference_precision='fp16'`` (or ``'bf16'``) runs the convolutions and
    linear layers under autocast and keeps RoIAlign, box decoding, NMS and heatmap decoding
    in float32 (:mod:`hrpose.models.precision`), and by default the RPN head's convolutions
    too (``rpn_head_float32``).

    Args:
        non_finite_loss: 'error' or 'skip'.
        inference_precision: 'fp32' (default), 'fp16' or 'bf16', for prediction only.
        compile_image_part: None (eager, default) or a ``torch.compile`` mode for the
            backbone, neck and RPN convolutions at test time: 'default', 'max-autotune', or
            'reduce-overhead' (CUDA graphs on GPUs: one captured graph per padded input
            size, which removes the kernel-launch overhead of batch-1 inference).
        channels_last: keep the convolution weights and the input batch in channels-last
            memory order (the same results; on a 2-core CPU the W32 image part takes
            about 0.75x the time, ``bench/inference_speed.py``); the features go back
            to the default order before the RoI heads (mmcv's RoIAlign needs it).
        rpn_head_float32: in half precision, run the RPN head's convolutions in float32 on
            the (float32-cast) neck levels. An objectness computed in float16 can change
            which of two near-equal proposals survives NMS, and so the box a person's
            keypoints are decoded in (measured on the trained tiny model: one box 2.75 px
            off, its keypoints 0.62 px; 0.056 px with this). False: all under autocast.
        *args, **kwargs: mmdet ``TwoStageDetector`` arguments.
    """

    def __init__(self,
                 *args,
                 non_finite_loss: str = 'error',
                 inference_precision: str = 'fp32',
                 compile_image_part: Optional[str] = None,
                 channels_last: bool = False,
                 rpn_head_float32: bool = True,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if non_finite_loss not in ('error', 'skip'):
            raise ValueError(f"model.non_finite_loss must be 'error' or 'skip', got "
                             f'{non_finite_loss!r}')
        self.non_finite_loss = non_finite_loss
        self.skipped_steps = 0
        self.inference_precision = inference_precision
        if compile_image_part not in (None, ) + COMPILE_MODES:
            raise ValueError(f'model.compile_image_part={compile_image_part!r}: expected None '
                             f'or one of {COMPILE_MODES}')
        self.compile_image_part = compile_image_part
        self.rpn_head_float32 = bool(rpn_head_float32)
        self.channels_last = bool(channels_last)
        if self.channels_last:
            # In place for the weights loaded later (load_state_dict copies into them).
            self.to(memory_format=torch.channels_last)

    @property
    def inference_precision(self) -> str:
        return self._inference_precision

    @inference_precision.setter
    def inference_precision(self, precision: str) -> None:
        self._inference_precision = check_precision(precision)
        self.roi_head.inference_precision = precision

    def parse_losses(self, losses: Dict[str, Tensor]) -> Tuple[Tensor, Dict[str, Tensor]]:
        """mmengine's sum of the loss terms, after checking that each one is finite.

        One fused check for all terms: on a GPU each Python-level test of a tensor waits for
        the device, so a check per term would cost a synchronisation per term and iteration.
        The terms are only looked at one by one when something is wrong.
        """
        loss, log_vars = super().parse_losses(losses)
        terms = [value.detach().float().reshape(-1) for value in log_vars.values()]
        if bool(torch.isfinite(torch.cat(terms)).all()):
            return loss, log_vars
        bad_terms = {
            name: float(value.detach())
            for name, value in log_vars.items()
            if name != 'loss' and not torch.isfinite(value).all()
        }
        # The runner's 0-based iteration counter; logs show it 1-based.
        iteration = MessageHub.get_current_instance().get_info('iter', -1) + 1
        terms = ', '.join(f'{name}={value}' for name, value in bad_terms.items()) or \
            f'loss={float(loss)}'
        if self.non_finite_loss == 'error':
            raise NonFiniteLossError(
                f'iteration {iteration}: non-finite loss ({terms}). Training stopped before '
                'the update, so the checkpoints on disk hold finite weights. Lower the '
                'learning rate, check the data of this batch, or set '
                "model.non_finite_loss='skip' to skip such steps.")
        self.skipped_steps += 1
        print_log(
            f'iteration {iteration}: non-finite loss ({terms}); step skipped '
            f'({self.skipped_steps} so far)',
            logger='current',
            level=30)
        # A zero that reaches every trainable parameter: no NaN flows back, and distributed
        # gradient reduction still sees a gradient for each parameter.
        zero = sum(p.sum() * 0.0 for p in self.parameters() if p.requires_grad)
        return zero, log_vars

    @property
    def min_input_size(self) -> int:
        """The smallest network input side the neck takes: HRFPN average-pools its
        stride-4 level by up to ``2 ** (num_outs - 1)`` (64 pixels for 5 levels)."""
        return 4 * 2**(getattr(self.neck, 'num_outs', 1) - 1) if self.with_neck else 1

    def extract_feat(self, batch_inputs: Tensor) -> Tuple[Tensor]:
        """Backbone and neck features of (B, 3, H, W) inputs.

        A batch narrower or lower than :attr:`min_input_size` (a very wide or tall image
        resized to the configured scale, e.g. 4000x40 -> 1333x13) is padded at the right and
        bottom up to it, as batches are padded: coordinates do not change, and HRFPN's
        pooling does not fail on a map smaller than its kernel.
        """
        height, width = batch_inputs.shape[-2:]
        min_size = self.min_input_size
        if height < min_size or width < min_size:
            batch_inputs = torch.nn.functional.pad(
                batch_inputs, (0, max(0, min_size - width), 0, max(0, min_size - height)))
        return super().extract_feat(batch_inputs)

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Boxes and poses per image.

        Args:
            batch_inputs: (B, 3, H, W) normalised, padded images.
            batch_data_samples: their data samples.
            rescale: return coordinates in the original images.
        """
        given = [sample.get('given_persons', None) is not None for sample in batch_data_samples]
        if any(given) and not all(given):
            raise ValueError(f'{sum(given)} of {len(given)} images of the batch carry given '
                             'person boxes: give them for every image or for none')
        needs_rpn = not (all(given) and given) and batch_data_samples[0].get('proposals',
                                                                             None) is None
        x, rpn_outs = self.image_part(batch_inputs, needs_rpn)
        x_flipped = None
        if (self.roi_head.test_cfg or {}).get('flip_test', False):
            x_flipped = self.image_part(batch_inputs.flip(-1), with_rpn=False)[0]
        if all(given) and given:
            # The protocol of top-down methods: no RPN, no box branch; the keypoint branch
            # takes the given boxes with their scores.
            batch_img_metas = [sample.metainfo for sample in batch_data_samples]
            results_list = self.roi_head.predict_keypoints(
                x,
                self.given_person_boxes(batch_data_samples),
                batch_img_metas,
                x_flipped,
                rescale=rescale)
            return self.add_pred_to_datasample(batch_data_samples, results_list)
        if not needs_rpn:
            rpn_results_list = [sample.proposals for sample in batch_data_samples]
        elif rpn_outs is None:  # float32, eager: mmdet's own path
            rpn_results_list = self.rpn_head.predict(x, batch_data_samples, rescale=False)
        else:  # mmdet's rpn_head.predict, on the outputs of the image part
            rpn_results_list = self.rpn_head.predict_by_feat(
                *rpn_outs,
                batch_img_metas=[sample.metainfo for sample in batch_data_samples],
                rescale=False)
        results_list = self.roi_head.predict(
            x, rpn_results_list, batch_data_samples, rescale=rescale, x_flipped=x_flipped)
        return self.add_pred_to_datasample(batch_data_samples, results_list)

    def image_part(self,
                   batch_inputs: Tensor,
                   with_rpn: bool = True,
                   rpn_now: bool = False) -> Tuple[tuple, tuple]:
        """The part of inference whose shapes depend on the padded input size only: backbone,
        neck and the RPN's convolutions, under autocast in half precision, compiled when
        ``compile_image_part`` asks (one compiled graph per input size).

        Returns:
            tuple: the neck's levels and the RPN's (scores, deltas) per level in float32;
            None instead of the latter without ``with_rpn``, and in float32 eager
            inference in the default memory order, where :meth:`predict` calls mmdet's
            ``rpn_head.predict`` as mmdet does (the compiled graph always computes them;
            ``rpn_now`` computes them here in every case, for timing the same work).
        """
        if self.compile_image_part is not None:
            try:
                return self._compiled_image_part(batch_inputs)
            except Exception as error:  # torch raises many types when it cannot compile
                if getattr(self, '_image_part_ran_compiled', False):
                    raise
                print_log(
                    f'model.compile_image_part={self.compile_image_part!r}: torch.compile '
                    f'failed on this machine ({type(error).__name__}: '
                    f'{str(error).splitlines()[0] if str(error) else ""}); running eagerly',
                    logger='current',
                    level=30)
                self.compile_image_part = None
        # Float32 eager in the default memory order: the RPN runs later, in mmdet's
        # rpn_head.predict.
        rpn_here = rpn_now or self.inference_precision != 'fp32' or self.channels_last
        return self._image_part(batch_inputs, with_rpn and rpn_here)

    def _image_part(self, batch_inputs: Tensor, with_rpn: bool = True) -> Tuple[tuple, tuple]:
        if self.channels_last:
            batch_inputs = batch_inputs.contiguous(memory_format=torch.channels_last)
        device_type = batch_inputs.device.type
        rpn_half = with_rpn and not self.rpn_head_float32
        with half_precision(device_type, self.inference_precision):
            x = self.extract_feat(batch_inputs)
            rpn_outs = self.rpn_head(x) if rpn_half else None
        if with_rpn and not rpn_half:
            with torch.autocast(device_type=device_type, enabled=False):
                rpn_outs = self.rpn_head(tuple(level.float() for level in x))
        if self.channels_last:
            # mmcv's RoIAlign reads its input as contiguous NCHW without checking: on
            # channels-last features it pools the wrong values (measured: other persons).
            x = tuple(level.contiguous() for level in x)
        return x, as_float32(rpn_outs)

    def _compiled_image_part(self, batch_inputs: Tensor) -> Tuple[tuple, tuple]:
        """:meth:`_image_part` through ``torch.compile`` (compiled once per input size)."""
        if getattr(self, '_image_part_compiled', None) is None:
            # One graph per padded input size: COCO's test set has dozens of them, more
            # than dynamo's default of 8 recompilations before it falls back to eager.
            dynamo_config = torch._dynamo.config
            for name in ('recompile_limit', 'cache_size_limit'):
                if hasattr(dynamo_config, name):
                    setattr(dynamo_config, name, max(getattr(dynamo_config, name), 64))
            self._image_part_compiled = torch.compile(
                self._image_part, mode=self.compile_image_part, dynamic=False)
        cuda_graphs = self.compile_image_part == 'reduce-overhead' and batch_inputs.is_cuda
        if cuda_graphs:
            torch.compiler.cudagraph_mark_step_begin()
        x, rpn_outs = self._image_part_compiled(batch_inputs, True)
        self._image_part_ran_compiled = True
        if cuda_graphs:  # the graphs reuse their output memory at the next replay
            x = tuple(level.clone() for level in x)
            rpn_outs = tuple([t.clone() for t in outputs] for outputs in rpn_outs)
        return x, rpn_outs

    def add_pred_to_datasample(self, data_samples: SampleList,
                               results_list: List[InstanceData]) -> SampleList:
        """Two results per image, as COCO evaluates them: ``pred_boxes`` (the box
        detections, ``bboxes``, ``scores``, ``labels``, as the box branch's NMS left them or
        as given) and ``pred_instances`` (the poses: ``bboxes``, ``scores``, ``labels``,
        ``keypoints`` (L, K, 2), ``keypoint_scores`` (L, K) after rescoring, OKS-NMS and the
        cap of ``test_cfg.rcnn.max_poses_per_img``, best first)."""
        metas = [sample.metainfo for sample in data_samples]
        poses = self.roi_head.postprocess_poses(results_list, metas)
        for sample, detections, kept in zip(data_samples, results_list, poses):
            sample.pred_boxes = InstanceData(
                bboxes=detections.bboxes, scores=detections.scores, labels=detections.labels)
            sample.pred_instances = kept
        return data_samples

    @staticmethod
    def given_person_boxes(batch_data_samples: SampleList) -> List[InstanceData]:
        """Each image's ``given_persons`` (original image pixels) as detections in the
        coordinates of the network input: ``bboxes`` (N_i, 4) scaled by the image's
        ``scale_factor``, ``scores`` (N_i,), ``labels`` (N_i,) zeros (person)."""
        results_list = []
        for sample in batch_data_samples:
            given = sample.given_persons
            boxes = scale_boxes(given.bboxes.float(), sample.metainfo['scale_factor'])
            results_list.append(
                InstanceData(
                    bboxes=boxes,
                    scores=given.scores.float(),
                    labels=torch.zeros(len(boxes), dtype=torch.long, device=boxes.device)))
        return results_list
