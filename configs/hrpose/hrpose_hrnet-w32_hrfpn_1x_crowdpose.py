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
# CrowdPose's own protocol: OKS areas of 0.53 x the box area (its json has no area), and AP
# by crowd index (easy / medium / hard) besides AP, AP50, AP75, AR.
val_evaluator = dict(
    ann_file=data_root + 'annotations/mmpose_crowdpose_test.json',
    iou_types=('keypoints_crowd', 'bbox'),
    use_area=False)
test_evaluator = val_evaluator
