"""AID: information-dropping augmentation inside person boxes (Huang et al., 2020)."""
from typing import Tuple

import numpy as np
from mmcv.transforms import BaseTransform

from hrpose.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PersonInformationDropping(BaseTransform):
    """Drop image information inside person boxes; keypoints and boxes stay as they are.

    With probability ``prob`` per person, ``num_patches`` rectangles (cutout) or grid cells
    (hide-and-seek) inside the person's box are filled with noise or the image mean, so the
    keypoint head must infer occluded joints from the body's context, as AID does for
    top-down crops.

    Args:
        prob: probability of dropping information in a given person.
        mode: 'cutout' (random rectangles) or 'hide_and_seek' (random cells of a grid).
        num_patches: inclusive range of rectangles per person ('cutout').
        patch_ratio: side of a rectangle as a fraction of the box side, (min, max).
        grid_size: cells per side of the grid ('hide_and_seek').
        hide_prob: probability that a grid cell is hidden ('hide_and_seek').
        fill: 'noise' (uniform random colours) or 'mean' (the image's mean colour).
    """

    def __init__(self,
                 prob: float = 0.5,
                 mode: str = 'cutout',
                 num_patches: Tuple[int, int] = (1, 3),
                 patch_ratio: Tuple[float, float] = (0.1, 0.3),
                 grid_size: int = 4,
                 hide_prob: float = 0.25,
                 fill: str = 'noise') -> None:
        if mode not in ('cutout', 'hide_and_seek'):
            raise ValueError(f"mode must be 'cutout' or 'hide_and_seek', got {mode!r}")
        if fill not in ('noise', 'mean'):
            raise ValueError(f"fill must be 'noise' or 'mean', got {fill!r}")
        if not 0 <= prob <= 1 or not 0 < patch_ratio[0] <= patch_ratio[1] <= 1:
            raise ValueError(f'need 0 <= prob <= 1 and 0 < patch_ratio[0] <= patch_ratio[1] '
                             f'<= 1, got prob={prob}, patch_ratio={patch_ratio}')
        self.prob = prob
        self.mode = mode
        self.num_patches = num_patches
        self.patch_ratio = patch_ratio
        self.grid_size = grid_size
        self.hide_prob = hide_prob
        self.fill = fill

    def _regions(self, x1: int, y1: int, w: int, h: int) -> list:
        """Rectangles (x0, y0, x1, y1) to drop inside one box."""
        if self.mode == 'cutout':
            regions = []
            for _ in range(np.random.randint(self.num_patches[0], self.num_patches[1] + 1)):
                pw = max(1, int(w * np.random.uniform(*self.patch_ratio)))
                ph = max(1, int(h * np.random.uniform(*self.patch_ratio)))
                px = x1 + np.random.randint(0, max(1, w - pw + 1))
                py = y1 + np.random.randint(0, max(1, h - ph + 1))
                regions.append((px, py, px + pw, py + ph))
            return regions
        xs = np.linspace(x1, x1 + w, self.grid_size + 1).astype(int)
        ys = np.linspace(y1, y1 + h, self.grid_size + 1).astype(int)
        hidden = np.random.rand(self.grid_size, self.grid_size) < self.hide_prob
        return [(xs[j], ys[i], xs[j + 1], ys[i + 1]) for i, j in zip(*np.nonzero(hidden))]

    def transform(self, results: dict) -> dict:
        if 'gt_bboxes' not in results or len(results['gt_bboxes']) == 0:
            return results
        img = results['img']
        height, width = img.shape[:2]
        boxes = results['gt_bboxes']
        boxes = boxes.numpy() if hasattr(boxes, 'numpy') else np.asarray(boxes)
        mean = img.reshape(-1, img.shape[-1]).mean(0).astype(img.dtype)
        img = img.copy()
        for x1, y1, x2, y2 in boxes:
            if np.random.rand() >= self.prob:
                continue
            x1, y1 = int(max(0, np.floor(x1))), int(max(0, np.floor(y1)))
            x2, y2 = int(min(width, np.ceil(x2))), int(min(height, np.ceil(y2)))
            if x2 - x1 < 2 or y2 - y1 < 2:
                continue
            for rx0, ry0, rx1, ry1 in self._regions(x1, y1, x2 - x1, y2 - y1):
                region = img[ry0:ry1, rx0:rx1]
                if self.fill == 'noise':
                    region[...] = np.random.randint(0, 256, size=region.shape).astype(img.dtype)
                else:
                    region[...] = mean
        results['img'] = img
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(prob={self.prob}, mode={self.mode!r}, '
                f'num_patches={self.num_patches}, patch_ratio={self.patch_ratio}, '
                f'grid_size={self.grid_size}, hide_prob={self.hide_prob}, fill={self.fill!r})')
