# UDP with 'combined' targets: a classification map and x/y offset maps per keypoint
# (3K output channels), trained with the combined-target loss (Huang et al., CVPR 2020).
_base_ = './hrpose_hrnet-w32_hrfpn_1x_coco.py'
model = dict(
    roi_head=dict(
        keypoint_head=dict(
            # A codec of its own arguments (no Gaussian sigma): replaced, not merged.
            codec=dict(
                _delete_=True,
                type='UDPCombinedHeatmap',
                heatmap_size=(48, 64),
                roi_padding=1.25,
                radius_factor=0.0546875),
            loss_keypoint=dict(_delete_=True, type='CombinedTargetMSELoss', loss_weight=1000.0))))
