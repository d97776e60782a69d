# hrpose with HRNet-W32 on COCO person keypoints, 12 epochs, 8 GPUs x 2 images.
# ImageNet weights: open-mmlab://msra/hrnetv2_w32 (train from scratch with
# --cfg-options model.backbone.init_cfg=None).
_base_ = [
    '../_base_/models/hrpose_hrnet-w32_hrfpn.py',
    '../_base_/datasets/coco_keypoint.py',
    '../_base_/schedules/schedule_1x.py',
    '../_base_/default_runtime.py',
]
