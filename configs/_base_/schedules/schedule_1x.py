# 12 epochs, SGD. The linear warm-up and gradient clipping keep HRNet two-stage training
# from diverging early (loss_keypoint has a large weight and HRNet has no frozen stem).
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1),
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001),
    clip_grad=dict(max_norm=35, norm_type=2))
# lr 0.02 is for 8 GPUs x 2 images; --auto-scale-lr rescales it to the actual batch.
auto_scale_lr = dict(enable=False, base_batch_size=16)
