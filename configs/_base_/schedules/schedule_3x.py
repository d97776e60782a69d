# 36 epochs, SGD, steps at epochs 27 and 33 (mmdet's 3x). On COCO train2017 (about 64k images
# with persons) at batch 16 that is about 144k iterations, against 48k for the 1x schedule.
_base_ = './schedule_1x.py'
train_cfg = dict(max_epochs=36)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=36, by_epoch=True, milestones=[27, 33], gamma=0.1),
]
