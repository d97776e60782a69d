# hrpose with HRNet-W32 on COCO person keypoints, 36 epochs (3x), 8 GPUs x 2 images: the
# recipe for final numbers. Run the 1x config (12 epochs, about 48k iterations) first to check
# a set-up; longer schedules add 1.5-2 keypoint AP to Keypoint R-CNN in detectron2 (3x).
_base_ = [
    '../_base_/models/hrpose_hrnet-w32_hrfpn.py',
    '../_base_/datasets/coco_keypoint.py',
    '../_base_/schedules/schedule_3x.py',
    '../_base_/default_runtime.py',
]
