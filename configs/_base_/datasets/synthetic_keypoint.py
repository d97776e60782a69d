# hrpose's synthetic person-keypoint set (tools/misc/make_synthetic_coco.py data/synthetic).
_base_ = './coco_keypoint.py'
data_root = 'data/synthetic/'
image_scale = (320, 256)  # (w, h): the generated images' own size

train_pipeline = [
    dict(type='LoadCheckedImage'),
    dict(type='LoadKeypointAnnotations'),
    dict(type='KeypointResize', scale=image_scale, keep_ratio=True),
    dict(type='KeypointRandomFlip', prob=0.5),
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
train_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/person_keypoints_train.json',
        data_prefix=dict(img='train/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=4),
        pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/person_keypoints_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/person_keypoints_val.json')
test_evaluator = val_evaluator
