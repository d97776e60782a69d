"""Keypoint-aware versions of mmdet's loading, resize, flip and packing transforms.

Keypoints travel through the pipeline as ``results['gt_keypoints']`` (N, K, 2) float32 in
continuous image coordinates and ``results['gt_keypoints_visible']`` (N, K) float32, one
row per entry of ``gt_bboxes``.
"""
import numpy as np
import torch
from mmdet.datasets.transforms import LoadAnnotations, PackDetInputs, RandomFlip, Resize
from mmengine.structures import InstanceData

from hrpose.registry import TRANSFORMS
from hrpose.structures import mirror_keypoints


@TRANSFORMS.register_module()
class LoadKeypointAnnotations(LoadAnnotations):
    """mmdet's ``LoadAnnotations`` plus ``gt_keypoints`` and ``gt_keypoints_visible``.

    Args:
        with_keypoints: load the keypoints of every instance (default True).
        **kwargs: mmdet ``LoadAnnotations`` arguments (``with_bbox`` defaults to True).
    """

    def __init__(self, with_keypoints: bool = True, with_bbox: bool = True, **kwargs) -> None:
        super().__init__(with_bbox=with_bbox, **kwargs)
        self.with_keypoints = with_keypoints

    def transform(self, results: dict) -> dict:
        results = super().transform(results)
        if self.with_keypoints:
            instances = results.get('instances', [])
            if instances:
                keypoints = np.stack([inst['keypoints'] for inst in instances])
                visible = np.stack([inst['keypoints_visible'] for inst in instances])
            else:
                # An image without persons still has K columns, so batches concatenate.
                num_keypoints = len(results.get('flip_indices', []))
                keypoints = np.zeros((0, num_keypoints, 2), dtype=np.float32)
                visible = np.zeros((0, num_keypoints), dtype=np.float32)
            results['gt_keypoints'] = keypoints.astype(np.float32)
            results['gt_keypoints_visible'] = visible.astype(np.float32)
        return results

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f', with_keypoints={self.with_keypoints})'


@TRANSFORMS.register_module()
class KeypointResize(Resize):
    """mmdet's ``Resize`` that scales ``gt_keypoints`` with the image (x * w_scale,
    y * h_scale); visibility is unchanged."""

    def transform(self, results: dict) -> dict:
        results = super().transform(results)
        if 'gt_keypoints' in results:
            w_scale, h_scale = results['scale_factor']
            scale = np.array([w_scale, h_scale], dtype=np.float32)
            results['gt_keypoints'] = results['gt_keypoints'] * scale
        return results


@TRANSFORMS.register_module()
class KeypointRandomFlip(RandomFlip):
    """mmdet's ``RandomFlip`` that also mirrors keypoints and swaps left and right.

    A horizontal flip maps x to ``W - x`` (continuous coordinates) and reorders the
    keypoints with ``results['flip_indices']``, which the dataset provides from its
    metainfo, so that a person's left wrist stays its left wrist. Only horizontal flips are
    supported when keypoints are present: flipping a person upside down has no left/right
    semantics to preserve.
    """

    def _flip(self, results: dict) -> None:
        super()._flip(results)
        if 'gt_keypoints' not in results or len(results['gt_keypoints']) == 0:
            return
        direction = results['flip_direction']
        if direction != 'horizontal':
            raise ValueError(f'KeypointRandomFlip supports only horizontal flips of '
                             f'keypoints, got direction={direction!r}')
        if 'flip_indices' not in results:
            raise KeyError(f'{results.get("img_path")}: no flip_indices in the sample; '
                           'use CocoKeypointDataset (it adds them from its metainfo)')
        flip_indices = np.asarray(results['flip_indices'])
        keypoints = results['gt_keypoints']
        if len(flip_indices) != keypoints.shape[1]:
            raise ValueError(f'flip_indices has {len(flip_indices)} entries but the samples '
                             f'have K={keypoints.shape[1]} keypoints')
        visible = results['gt_keypoints_visible']
        width = results['img'].shape[1]
        flipped = mirror_keypoints(keypoints, width, flip_indices)
        flipped_visible = visible[:, flip_indices].copy()
        # Unlabelled keypoints keep coordinates 0, as the dataset writes them.
        flipped[flipped_visible <= 0] = 0
        results['gt_keypoints'] = flipped
        results['gt_keypoints_visible'] = flipped_visible


@TRANSFORMS.register_module()
class PackKeypointDetInputs(PackDetInputs):
    """mmdet's ``PackDetInputs`` that also packs ``keypoints`` and ``keypoints_visible``
    into ``gt_instances`` (crowd instances go to ``ignored_instances``, as boxes do).

    Given person boxes (see ``CocoKeypointDataset(person_boxes=...)``) are packed as the
    data sample's ``given_persons`` (``bboxes`` (N, 4) in original image pixels, ``scores``
    (N,)) with ``given_boxes_source`` in its metainfo.
    """

    mapping_table = {
        **PackDetInputs.mapping_table,
        'gt_keypoints': 'keypoints',
        'gt_keypoints_visible': 'keypoints_visible',
    }
    # The test-time tricks need them per image: flip test (flip_indices), OKS-NMS (sigmas).
    keypoint_meta_keys = ('flip_indices', 'keypoint_sigmas')

    def __init__(
        self,
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
                   'flip_direction')
    ) -> None:
        meta_keys = tuple(meta_keys) + tuple(
            k for k in self.keypoint_meta_keys if k not in meta_keys)
        super().__init__(meta_keys=meta_keys)

    def transform(self, results: dict) -> dict:
        packed = super().transform(results)
        if 'given_boxes' in results:
            set_given_persons(packed['data_samples'], results['given_boxes'],
                              results.get('given_box_scores'),
                              results.get('given_boxes_source', 'given person boxes'))
        return packed


def set_given_persons(data_sample, boxes, scores=None, source: str = 'given person boxes'):
    """Set ``data_sample.given_persons``: the boxes (N, 4) x1 y1 x2 y2 in original image
    pixels, and their scores (N,) (1 where none are given), whose persons the detector's
    keypoint branch then takes instead of its own detections."""
    boxes = torch.as_tensor(np.asarray(boxes, dtype=np.float32)).reshape(-1, 4)
    scores = torch.ones(len(boxes)) if scores is None else torch.as_tensor(
        np.asarray(scores, dtype=np.float32)).reshape(-1)
    if len(scores) != len(boxes):
        raise ValueError(f'person boxes: {len(boxes)} boxes but {len(scores)} scores')
    data_sample.given_persons = InstanceData(bboxes=boxes, scores=scores)
    data_sample.set_metainfo(dict(given_boxes_source=source))
    return data_sample
