"""Drawing persons: boxes with scores (mmdet), skeleton links and keypoints (hrpose)."""
import warnings
from typing import List, Optional, Sequence, Tuple

import numpy as np
from mmdet.structures.bbox import BaseBoxes
from mmdet.visualization import DetLocalVisualizer
from mmengine.structures import InstanceData

from hrpose.registry import VISUALIZERS
from hrpose.structures import continuous_to_coco

_DEFAULT_KEYPOINT_COLOR = (255, 128, 0)
_DEFAULT_LINK_COLOR = (0, 200, 255)


def _rgb(colors: Optional[Sequence], count: int, default: Tuple[int, int, int]) -> List[tuple]:
    """``count`` RGB colours from metainfo colours, which hrpose's metainfo files give as BGR
    (OpenCV's order)."""
    if not colors:
        return [default] * count
    return [tuple(int(c) for c in color[::-1]) for color in colors]


@VISUALIZERS.register_module()
class KeypointLocalVisualizer(DetLocalVisualizer):
    """mmdet's ``DetLocalVisualizer`` that also draws each person's skeleton and keypoints.

    Instances with ``keypoints`` (N, K, 2) in hrpose's continuous image coordinates (pixel i
    spans [i, i+1)) are drawn with the metainfo's ``skeleton``, ``keypoint_colors`` and
    ``skeleton_colors``: ground truth where ``keypoints_visible`` > 0, predictions where
    ``keypoint_scores`` > ``kpt_thr``. With both ground truth and predictions, the two are
    drawn side by side (ground truth left), as in mmdet. ``dataset_meta`` is set by the
    Runner (or by :func:`hrpose.apis.init_model`).

    Args:
        kpt_thr: lowest keypoint score drawn.
        radius: keypoint radius in pixels.
        link_width: skeleton line width in pixels.
        **kwargs: ``DetLocalVisualizer`` arguments (``line_width`` for boxes, ``alpha``, ...).
    """

    def __init__(self,
                 name: str = 'visualizer',
                 kpt_thr: float = 0.3,
                 radius: float = 3,
                 link_width: float = 2,
                 **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.kpt_thr = kpt_thr
        self.radius = radius
        self.link_width = link_width

    def set_image(self, image: np.ndarray) -> None:
        """mmengine's ``set_image``, without handing the picture itself to matplotlib.

        Rendering a picture through matplotlib resamples it in floating point: for a
        6000x4000 photo ``get_image`` peaked at 2.7 GB of host memory. The drawing goes on
        a transparent canvas of the picture's size instead, and :meth:`get_image` blends it
        onto the picture in uint16 (about 0.3 GB at that size).
        """
        super().set_image(image)
        for picture in list(self.ax_save.images):
            picture.remove()
        self.ax_save.set_xlim(0, self.width)
        self.ax_save.set_ylim(self.height, 0)
        self.fig_save.patch.set_alpha(0.0)
        self.ax_save.patch.set_alpha(0.0)

    def get_image(self) -> np.ndarray:
        """The picture with everything drawn since :meth:`set_image`, (H, W, 3) RGB uint8."""
        buffer, (width, height) = self.fig_save_canvas.print_to_buffer()
        rgba = np.frombuffer(buffer, dtype=np.uint8).reshape(height, width, 4)
        picture = self._image
        if picture.shape[:2] != (height, width):  # the canvas rounds the figure size
            rgba = rgba[:picture.shape[0], :picture.shape[1]]
        alpha = rgba[..., 3:].astype(np.uint16)
        blended = (picture.astype(np.uint16) * (255 - alpha) + rgba[..., :3] * alpha + 127) // 255
        return blended.astype(np.uint8)

    def _draw_instances(self, image: np.ndarray, instances: InstanceData,
                        classes: Optional[List[str]],
                        palette: Optional[List[tuple]]) -> np.ndarray:
        """Boxes and labels as mmdet draws them, then skeletons and keypoints; RGB (H, W, 3)."""
        if isinstance(instances.get('bboxes'), BaseBoxes):
            # Training samples carry box objects; mmdet's drawing wants the (N, 4) tensor.
            instances = instances.clone()
            instances.bboxes = instances.bboxes.tensor
        with warnings.catch_warnings():
            # mmengine warns for every box that reaches past the image edge: persons do.
            warnings.filterwarnings('ignore', message='Warning: The .* is out of bounds')
            drawn = super()._draw_instances(image, instances, classes, palette)
        if 'keypoints' not in instances or len(instances) == 0:
            return drawn
        keypoints = np.asarray(instances.keypoints, dtype=np.float32)  # (N, K, 2)
        if 'keypoint_scores' in instances:
            shown = np.asarray(instances.keypoint_scores) > self.kpt_thr
        elif 'keypoints_visible' in instances:
            shown = np.asarray(instances.keypoints_visible) > 0
        else:
            shown = np.ones(keypoints.shape[:2], dtype=bool)
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore', message='Warning: The .* is out of bounds')
            return self.draw_skeletons(drawn, keypoints, shown)

    def draw_skeletons(self, image: np.ndarray, keypoints: np.ndarray,
                       shown: np.ndarray) -> np.ndarray:
        """Draw links and keypoints.

        Args:
            image: (H, W, 3) RGB uint8.
            keypoints: (N, K, 2) continuous image coordinates.
            shown: (N, K) bool, which keypoints to draw (a link needs both ends).

        Returns:
            np.ndarray: (H, W, 3) RGB uint8 drawing.
        """
        self.set_image(image)
        num_keypoints = keypoints.shape[1]
        meta = self.dataset_meta or {}
        skeleton = meta.get('skeleton', [])
        keypoint_colors = _rgb(meta.get('keypoint_colors'), num_keypoints, _DEFAULT_KEYPOINT_COLOR)
        link_colors = _rgb(meta.get('skeleton_colors'), len(skeleton), _DEFAULT_LINK_COLOR)
        points = continuous_to_coco(keypoints)  # matplotlib: pixel i's centre at i
        for person, person_shown in zip(points, shown):
            for (a, b), color in zip(skeleton, link_colors):
                if person_shown[a] and person_shown[b]:
                    self.draw_lines(
                        np.array([person[a, 0], person[b, 0]]),
                        np.array([person[a, 1], person[b, 1]]),
                        colors=[color],
                        line_widths=self.link_width)
            visible = np.flatnonzero(person_shown)
            if len(visible):
                self.draw_circles(
                    person[visible],
                    radius=np.full(len(visible), self.radius),
                    face_colors=[keypoint_colors[i] for i in visible],
                    edge_colors=[keypoint_colors[i] for i in visible],
                    alpha=1.0)
        return self.get_image()
