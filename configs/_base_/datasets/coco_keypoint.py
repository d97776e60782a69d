# COCO person keypoints (train2017 / val2017) under data/coco/.
dataset_type = 'CocoKeypointDataset'
data_root = 'data/coco/'
metainfo = dict(from_file='configs/_base_/datasets/metainfo/coco_person.py')
backend_args = None

train_pipeline = [
    dict(type='LoadCheckedImage', backend_args=backend_args),
    dict(type='LoadKeypointAnnotations'),
    dict(
        type='RandomChoiceResize',
        scales=[(1333, 640), (1333, 672), (1333, 704), (1333, 736), (1333, 768), (1333, 800)],
        keep_ratio=True,
        resize_type='KeypointResize'),
    dict(type='KeypointRandomFlip', prob=0.5),
    dict(type='PackKeypointDetInputs'),
]
test_pipeline = [
    dict(type='LoadCheckedImage', backend_args=backend_args),
    dict(type='KeypointResize', scale=(1333, 800), keep_ratio=True),
    dict(type='LoadKeypointAnnotations'),
    dict(
        type='PackKeypointDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    # Each sample's augmentation seeded from (seed, epoch, index): the same with any number
    # of workers and ranks, and after a resume (hrpose/datasets/samplers.py).
    sampler=dict(type='SeededDefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/person_keypoints_train2017.json',
        data_prefix=dict(img='train2017/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/person_keypoints_val2017.json',
        data_prefix=dict(img='val2017/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='CocoKeypointMetric', ann_file=data_root + 'annotations/person_keypoints_val2017.json')
test_evaluator = val_evaluator
