# A tiny hrpose (HRNet channels /4 with one block per branch, 32-channel HRFPN, light
# keypoint head) that trains on the CPU in minutes on the synthetic set: the embedded
# default of `make demo` and the model of the end-to-end tests.
_base_ = [
    '../_base_/models/hrpose_hrnet-w32_hrfpn.py',
    '../_base_/datasets/synthetic_keypoint.py',
    '../_base_/default_runtime.py',
]
tiny_channels = [8, 16, 32, 64]
neck_channels = 32
model = dict(
    backbone=dict(
        extra=dict(
            stage1=dict(num_blocks=(1, ), num_channels=(16, )),
            stage2=dict(num_blocks=(1, 1), num_channels=tuple(tiny_channels[:2])),
            stage3=dict(
                num_modules=1, num_blocks=(1, 1, 1), num_channels=tuple(tiny_channels[:3])),
            stage4=dict(num_modules=1, num_blocks=(1, 1, 1, 1),
                        num_channels=tuple(tiny_channels))),
        # No pretrained weights: the demo and the tests run without a download.
        init_cfg=None),
    neck=dict(in_channels=tiny_channels, out_channels=neck_channels),
    rpn_head=dict(in_channels=neck_channels, feat_channels=neck_channels),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=neck_channels),
        bbox_head=dict(in_channels=neck_channels, fc_out_channels=128),
        keypoint_roi_extractor=dict(out_channels=neck_channels),
        # Gaussians of 3 heatmap pixels instead of 2: more target mass per keypoint, which
        # this small head learns sooner in 1000 iterations (with 2 the ankles are the last
        # keypoints it learns).
        keypoint_head=dict(
            in_channels=neck_channels,
            conv_channels=64,
            num_convs=2,
            deconv_channels=64,
            codec=dict(sigma=3.0))),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=500, max_per_img=300),
        rcnn=dict(sampler=dict(num=128), max_keypoint_rois_per_img=16)),
    test_cfg=dict(
        rpn=dict(nms_pre=500, max_per_img=300), rcnn=dict(score_thr=0.05, max_per_img=100)))

max_iters = 1000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
# An iteration-based loop wants a sampler that never ends: at the end of each pass over a
# finite one mmengine's loop sleeps 2 s (on a 4-image set, one second per iteration).
train_dataloader = dict(sampler=dict(type='InfiniteSampler', shuffle=True))
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(
        type='MultiStepLR',
        by_epoch=False,
        begin=0,
        end=max_iters,
        milestones=[int(max_iters * 0.75)],
        gamma=0.1),
]
default_hooks = dict(
    # Validation metrics logged at their iteration (mmengine's default is the epoch, which
    # stays 0 in an iteration-based run).
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=250, max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=2)
