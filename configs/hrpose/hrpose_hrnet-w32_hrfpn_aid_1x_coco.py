# AID: information dropping inside person boxes during training (Huang et al., 2020).
_base_ = './hrpose_hrnet-w32_hrfpn_1x_coco.py'
train_pipeline = [
    dict(type='LoadCheckedImage'),
    dict(type='LoadKeypointAnnotations'),
    dict(
        type='RandomChoiceResize',
        scales=[(1333, 640), (1333, 672), (1333, 704), (1333, 736), (1333, 768), (1333, 800)],
        keep_ratio=True,
        resize_type='KeypointResize'),
    dict(type='KeypointRandomFlip', prob=0.5),
    dict(
        type='PersonInformationDropping',
        prob=0.5,
        mode='cutout',
        num_patches=(1, 3),
        patch_ratio=(0.1, 0.3),
        fill='noise'),
    dict(type='PackKeypointDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
