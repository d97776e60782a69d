# The Keypoint R-CNN branch on the tiny synthetic-set detector (CPU tests and comparisons).
_base_ = '../hrpose/hrpose_hrnet-tiny_hrfpn_1k_synthetic.py'
model = dict(
    roi_head=dict(
        keypoint_roi_extractor=dict(
            roi_layer=dict(output_size=(14, 14)), featmap_strides=[4, 8, 16, 32]),
        keypoint_head=dict(
            conv_channels=64,
            num_convs=4,
            num_deconvs=1,
            upsample_factor=2,
            deconv_output=True,
            codec=dict(_delete_=True, type='OneHotHeatmap', heatmap_size=(56, 56)),
            loss_keypoint=dict(_delete_=True, type='KeypointCrossEntropyLoss', loss_weight=1.0))))
