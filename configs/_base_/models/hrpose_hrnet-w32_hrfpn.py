# hrpose: HRNet-W32 -> HRFPN -> RPN -> box head + heatmap keypoint head, one network.
_base_ = './faster-rcnn_hrnet-w32_hrfpn.py'

model = dict(
    type='KeypointTwoStageDetector',
    roi_head=dict(
        type='TopDownHeatmapRoIHead',
        keypoint_roi_extractor=dict(
            type='SingleRoIExtractor',
            # RoIAlign on the stride-4 level at half the heatmap size: (h, w) = (32, 24).
            # sampling_ratio=0 samples ceil(RoI size / bins) points per bin, as mmdet's and
            # detectron2's extractors do: a fixed 2x2 would read 2 of the ~6 feature pixels
            # per bin of a 600-pixel person and alias.
            roi_layer=dict(type='RoIAlign', output_size=(32, 24), sampling_ratio=0, aligned=True),
            out_channels=256,
            featmap_strides=[4]),
        keypoint_head=dict(
            type='HeatmapKeypointHead',
            num_keypoints=17,  # must equal the dataset's K (its metainfo)
            in_channels=256,
            conv_channels=128,
            num_convs=4,
            num_deconvs=1,
            deconv_channels=128,
            # One codec object encodes the targets and decodes the predictions, so training
            # and testing geometry cannot drift apart (variants override it here only).
            codec=dict(type='MSRAHeatmap', heatmap_size=(48, 64), sigma=2.0, roi_padding=1.25),
            loss_keypoint=dict(type='KeypointMSELoss', use_target_weight=True,
                               loss_weight=1000.0))),
    train_cfg=dict(rcnn=dict(max_keypoint_rois_per_img=64)),
    # COCO's protocols: up to 100 box results per image (mmdet's default, inherited), and
    # the 20 best poses (COCOeval's maxDets for keypoints) after rescoring and OKS-NMS over
    # every box detection.
    test_cfg=dict(rcnn=dict(max_poses_per_img=20)))
