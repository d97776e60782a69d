# The tiny hrpose config memorising the 4 real COCO sample images (tests/test_tools): the
# data root is given on the command line (the samples live outside the repository).
_base_ = ['../../configs/hrpose/hrpose_hrnet-tiny_hrfpn_1k_synthetic.py']
image_scale = (320, 214)
# Memorising needs every keypoint channel to light up, the left one of each pair apart from
# the right one. With the tiny config's head (2 convs: each heatmap pixel sees 5 of the
# RoI's 32x24 bins) and the tiny backbone, the features at an ankle do not show the rest of
# the person, which is what tells the left ankle from the right: a run first fires both
# channels at both ankles, and which ankle wins for which channel is then memorised
# person by person, slowly and seed by seed (the left-ankle channel stayed on the right
# ankle of every person at 400 iterations on some seeds and CPUs: median error 0.45 of the
# person scale, keypoint AP 0.815-0.89, other seeds 0.97). Four convs with dilations 1, 2,
# 4 and 8 let every heatmap pixel see 31 bins, the whole RoI: every pair separates by about
# 250 iterations. 16 keypoint RoIs per image double the heatmap supervision per
# iteration, and the learning rate drops at 50 % of 500 iterations, so that the poses
# settle well before 70 % (bench/overfit_seeds.py measures this over seeds).
model = dict(
    roi_head=dict(keypoint_head=dict(num_convs=4, conv_dilations=(1, 2, 4, 8))),
    train_cfg=dict(rcnn=dict(max_keypoint_rois_per_img=16)))
data_root = 'set-by-the-test/'
train_pipeline = [
    dict(type='LoadCheckedImage'),
    dict(type='LoadKeypointAnnotations'),
    dict(type='KeypointResize', scale=image_scale, keep_ratio=True),
    dict(type='PackKeypointDetInputs'),
]
test_pipeline = [
    dict(type='LoadCheckedImage'),
    dict(type='KeypointResize', scale=image_scale, keep_ratio=True),
    dict(type='LoadKeypointAnnotations'),
    dict(
        type='PackKeypointDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
# Repeated so that an epoch is long: mmengine pauses 2 s at every epoch boundary of an
# iteration-based loop, which would otherwise cost more than the training itself.
train_dataloader = dict(
    batch_size=2,
    dataset=dict(
        _delete_=True,
        type='RepeatDataset',
        times=100,
        dataset=dict(
            type='CocoKeypointDataset',
            data_root=data_root,
            metainfo=dict(from_file='configs/_base_/datasets/metainfo/coco_person.py'),
            ann_file='test_coco.json',
            data_prefix=dict(img=''),
            filter_cfg=dict(filter_empty_gt=True, min_size=4),
            pipeline=train_pipeline)))
val_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file='test_coco.json',
        data_prefix=dict(img=''),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'test_coco.json')
test_evaluator = val_evaluator

max_iters = 500
LR_DROP_AT = 0.5  # of max_iters
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=30),
    dict(
        type='MultiStepLR',
        by_epoch=False,
        begin=0,
        end=max_iters,
        milestones=[int(max_iters * LR_DROP_AT)],
        gamma=0.1),
]
default_hooks = dict(checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
