"""KeypointLocalVisualizer draws skeletons with the metainfo's links and colours."""
import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from hrpose.datasets import load_keypoint_metainfo
from hrpose.visualization import KeypointLocalVisualizer
from tests.helpers import COCO_METAINFO


def person(offset=0.0):
    """A standing person (17 COCO keypoints) in a 100x80 image."""
    keypoints = torch.tensor(
        [[40, 10], [42, 8], [38, 8], [45, 9], [35, 9], [50, 25], [30, 25], [55, 40], [25, 40],
         [57, 55], [23, 55], [47, 60], [33, 60], [48, 78], [32, 78], [49, 95], [31, 95]],
        dtype=torch.float32) + 0.5
    keypoints[:, 0] += offset
    return keypoints


def visualizer():
    vis = KeypointLocalVisualizer(name='test_keypoint_visualizer', kpt_thr=0.5, radius=2)
    vis.dataset_meta = load_keypoint_metainfo(dict(COCO_METAINFO))
    return vis


def test_ground_truth_and_prediction_are_drawn_side_by_side():
    image = np.zeros((100, 80, 3), dtype=np.uint8)
    sample = DetDataSample()
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor([[20.0, 5.0, 60.0, 98.0]]),
        labels=torch.tensor([0]),
        keypoints=person()[None],
        keypoints_visible=torch.ones(1, 17))
    sample.pred_instances = InstanceData(
        bboxes=torch.tensor([[20.0, 5.0, 60.0, 98.0]]),
        labels=torch.tensor([0]),
        scores=torch.tensor([0.9]),
        keypoints=person()[None],
        keypoint_scores=torch.cat([torch.ones(1, 9), torch.zeros(1, 8)], dim=1))
    vis = visualizer()
    vis.add_datasample('sample', image, sample, show=False)
    drawn = vis.get_image()
    assert drawn.shape == (100, 160, 3)  # GT | prediction
    gt_half, pred_half = drawn[:, :80], drawn[:, 80:]
    left_ankle = (95, 49)  # row, column; keypoint 15, labelled in GT, score 0 in prediction
    assert gt_half[left_ankle].max() > 0
    assert pred_half[left_ankle].max() == 0
    left_elbow = (40, 55)  # keypoint 7: labelled and confident, drawn in both
    assert gt_half[left_elbow].max() > 0 and pred_half[left_elbow].max() > 0


def test_left_and_right_keypoints_get_their_metainfo_colours():
    vis = visualizer()
    image = np.zeros((100, 80, 3), dtype=np.uint8)
    drawn = vis.draw_skeletons(image, person()[None].numpy(), np.ones((1, 17), dtype=bool))
    meta = vis.dataset_meta
    # Metainfo colours are BGR; the visualizer draws RGB.
    left_wrist_rgb = tuple(meta['keypoint_colors'][9][::-1])
    right_wrist_rgb = tuple(meta['keypoint_colors'][10][::-1])
    assert left_wrist_rgb != right_wrist_rgb
    np.testing.assert_allclose(drawn[55, 57], left_wrist_rgb, atol=40)
    np.testing.assert_allclose(drawn[55, 23], right_wrist_rgb, atol=40)


def test_the_picture_is_blended_in_numpy_not_rendered_by_matplotlib():
    """matplotlib resamples a picture in floating point when it renders it (a 6000x4000
    photo peaked at 2.7 GB in get_image): the picture stays out of the figure, only what is
    drawn is rendered, on a transparent canvas, then blended onto the picture."""
    visualizer = KeypointLocalVisualizer(name='blend_test')
    picture = np.random.RandomState(0).randint(0, 256, (60, 90, 3)).astype(np.uint8)
    visualizer.set_image(picture)
    assert len(visualizer.ax_save.images) == 0
    # Untouched pixels come back exactly.
    np.testing.assert_array_equal(visualizer.get_image(), picture)
    visualizer.draw_circles(
        np.array([[30.0, 20.0]]),
        radius=np.array([6.0]),
        face_colors=[(255, 0, 0)],
        edge_colors=[(255, 0, 0)],
        alpha=1.0)
    drawn = visualizer.get_image()
    assert drawn.shape == picture.shape and drawn.dtype == np.uint8
    np.testing.assert_array_equal(drawn[20, 30], (255, 0, 0))  # inside the opaque disc
    far = np.ones(picture.shape[:2], dtype=bool)
    far[10:31, 20:41] = False  # the disc and its anti-aliased edge
    np.testing.assert_array_equal(drawn[far], picture[far])
