# hrpose with HRNet-W18 on COCO person keypoints, 12 epochs, 8 GPUs x 2 images.
_base_ = './hrpose_hrnet-w32_hrfpn_1x_coco.py'
widths = [18, 36, 72, 144]
model = dict(
    backbone=dict(
        extra=dict(
            stage2=dict(num_channels=tuple(widths[:2])),
            stage3=dict(num_channels=tuple(widths[:3])),
            stage4=dict(num_channels=tuple(widths))),
        init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://msra/hrnetv2_w18')),
    neck=dict(in_channels=widths))
