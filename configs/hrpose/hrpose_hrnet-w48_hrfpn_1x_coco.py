# hrpose with HRNet-W48 on COCO person keypoints, 12 epochs, 8 GPUs x 2 images.
_base_ = './hrpose_hrnet-w32_hrfpn_1x_coco.py'
widths = [48, 96, 192, 384]
model = dict(
    backbone=dict(
        extra=dict(
            stage2=dict(num_channels=tuple(widths[:2])),
            stage3=dict(num_channels=tuple(widths[:3])),
            stage4=dict(num_channels=tuple(widths))),
        init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://msra/hrnetv2_w48')),
    neck=dict(in_channels=widths))
