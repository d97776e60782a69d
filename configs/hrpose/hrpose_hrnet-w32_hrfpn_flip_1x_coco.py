# Flip test: each person's heatmaps averaged with those of the mirrored image (one more
# backbone pass per image), then rescoring by keypoint confidence and OKS-NMS of poses.
_base_ = './hrpose_hrnet-w32_hrfpn_1x_coco.py'
model = dict(
    test_cfg=dict(
        rcnn=dict(
            flip_test=True,
            rescore=True,
            keypoint_score_thr=0.2,
            oks_nms=dict(iou_threshold=0.9, soft=False))))
