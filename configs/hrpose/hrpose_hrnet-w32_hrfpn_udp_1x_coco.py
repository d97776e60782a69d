# UDP codec: the unbiased coordinate transform (RoI edges on the first and last heatmap pixel
# centres) in encoding, pooling, decoding and flips (Huang et al., CVPR 2020).
_base_ = './hrpose_hrnet-w32_hrfpn_1x_coco.py'
model = dict(roi_head=dict(keypoint_head=dict(codec=dict(type='UDPHeatmap'))))
