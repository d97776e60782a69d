# hrpose with HRNet-W32 on CrowdPose (14 keypoints), 12 epochs, 8 GPUs x 2 images.
_base_ = './hrpose_hrnet-w32_hrfpn_1x_coco.py'
data_root = 'data/crowdpose/'
metainfo = dict(from_file='configs/_base_/datasets/metainfo/crowdpose.py')
model = dict(roi_head=dict(keypoint_head=dict(num_keypoints=14)))
train_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/mmpose_crowdpose_trainval.json',
        data_prefix=dict(img='images/')))
val_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/mmpose_crowdpose_test.json',
        data_prefix=dict(img='images/')))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/mmpose_crowdpose_test.json')
test_evaluator = val_evaluator
