# Soft-NMS of person boxes (mmcv's soft_nms, linear decay): overlapping people keep their
# boxes with lower scores instead of being suppressed.
_base_ = './hrpose_hrnet-w32_hrfpn_1x_coco.py'
model = dict(
    test_cfg=dict(
        rcnn=dict(nms=dict(type='soft_nms', iou_threshold=0.5, min_score=0.05, method='linear'))))
