# COCO person keypoints: names, left/right pairs, skeleton (0-based), OKS sigmas, colours.
metainfo = dict(
    dataset_name='coco',
    classes=('person', ),
    palette=[(220, 20, 60)],
    keypoint_names=[
        'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder',
        'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist', 'left_hip',
        'right_hip', 'left_knee', 'right_knee', 'left_ankle', 'right_ankle'
    ],
    # keypoint i of a mirrored person is keypoint flip_indices[i] of the original
    flip_indices=[0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15],
    skeleton=[[15, 13], [13, 11], [16, 14], [14, 12], [11, 12], [5, 11], [6, 12], [5, 6], [5, 7],
              [6, 8], [7, 9], [8, 10], [1, 2], [0, 1], [0, 2], [1, 3], [2, 4], [3, 5], [4, 6]],
    # per-keypoint OKS sigmas of the COCO keypoint evaluation
    sigmas=[
        0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107,
        0.087, 0.087, 0.089, 0.089
    ],
    # BGR colours: face white, left side orange, right side blue
    keypoint_colors=[(255, 255, 255)] * 5 + [(0, 128, 255), (255, 128, 0)] * 6,
    skeleton_colors=[(0, 128, 255), (0, 128, 255), (255, 128, 0), (255, 128, 0), (200, 200, 200),
                     (0, 128, 255), (255, 128, 0), (200, 200, 200), (0, 128, 255), (255, 128, 0),
                     (0, 128, 255), (255, 128, 0), (255, 255, 255), (255, 255, 255),
                     (255, 255, 255), (255, 255, 255), (255, 255, 255), (255, 255, 255),
                     (255, 255, 255)],
)
