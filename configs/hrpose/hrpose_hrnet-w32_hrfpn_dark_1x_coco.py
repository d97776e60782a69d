# DARK codec: Gaussian targets at the exact sub-pixel keypoint; decoding by Gaussian
# modulation, log and a Newton step (Zhang et al., CVPR 2020).
_base_ = './hrpose_hrnet-w32_hrfpn_1x_coco.py'
model = dict(roi_head=dict(keypoint_head=dict(codec=dict(type='DARKHeatmap'))))
