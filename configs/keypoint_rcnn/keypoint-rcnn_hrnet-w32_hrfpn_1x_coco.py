# Keypoint R-CNN's keypoint branch on the same detector, for side-by-side comparison:
# RoIAlign 14x14 on all levels, 8 convs of 512 channels, a deconvolution to K maps and 2x
# bilinear upsampling to 56x56 logits, one-hot targets and cross-entropy over positions.
_base_ = '../hrpose/hrpose_hrnet-w32_hrfpn_1x_coco.py'
model = dict(
    roi_head=dict(
        keypoint_roi_extractor=dict(
            roi_layer=dict(output_size=(14, 14)), featmap_strides=[4, 8, 16, 32]),
        keypoint_head=dict(
            conv_channels=512,
            num_convs=8,
            num_deconvs=1,
            upsample_factor=2,
            # As detectron2's KRCNNConvDeconvUpsampleHead: the deconvolution gives the K
            # logit maps itself.
            deconv_output=True,
            codec=dict(_delete_=True, type='OneHotHeatmap', heatmap_size=(56, 56)),
            loss_keypoint=dict(_delete_=True, type='KeypointCrossEntropyLoss', loss_weight=1.0))))
