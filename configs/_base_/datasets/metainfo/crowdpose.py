# CrowdPose: 14 keypoints (12 body joints shared with COCO, plus head top and neck).
metainfo = dict(
    dataset_name='crowdpose',
    classes=('person', ),
    palette=[(220, 20, 60)],
    keypoint_names=[
        'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist',
        'right_wrist', 'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle',
        'right_ankle', 'top_head', 'neck'
    ],
    flip_indices=[1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 12, 13],
    skeleton=[[12, 13], [13, 0], [13, 1], [0, 2], [2, 4], [1, 3], [3, 5], [13, 6], [13, 7], [6, 7],
              [6, 8], [8, 10], [7, 9], [9, 11]],
    # CrowdPose's evaluation sigmas
    sigmas=[
        0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089, 0.079,
        0.079
    ],
    keypoint_colors=[(0, 128, 255), (255, 128, 0)] * 6 + [(255, 255, 255)] * 2,
    skeleton_colors=[(255, 255, 255), (0, 128, 255), (255, 128, 0), (0, 128, 255), (0, 128, 255),
                     (255, 128, 0), (255, 128, 0), (0, 128, 255), (255, 128, 0), (200, 200, 200),
                     (0, 128, 255), (0, 128, 255), (255, 128, 0), (255, 128, 0)],
)
