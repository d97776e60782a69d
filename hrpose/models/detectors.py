"""The two-stage keypoint detector: mmdet's TwoStageDetector plus the flip test."""
from mmdet.models.detectors import TwoStageDetector
from mmdet.structures import SampleList
from torch import Tensor

from hrpose.registry import MODELS


@MODELS.register_module()
class KeypointTwoStageDetector(TwoStageDetector):
    """HRNet/HRFPN -> RPN -> ``TopDownHeatmapRoIHead``, one network for boxes and poses.

    Identical to mmdet's ``TwoStageDetector`` except at test time with
    ``test_cfg.rcnn.flip_test=True``: the mirrored batch also goes through the backbone and
    neck, and its features reach the RoI head, which averages each person's heatmaps with
    those of its mirror image.
    """

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Boxes and poses per image.

        Args:
            batch_inputs: (B, 3, H, W) normalised, padded images.
            batch_data_samples: their data samples.
            rescale: return coordinates in the original images.
        """
        x = self.extract_feat(batch_inputs)
        if batch_data_samples[0].get('proposals', None) is None:
            rpn_results_list = self.rpn_head.predict(x, batch_data_samples, rescale=False)
        else:
            rpn_results_list = [sample.proposals for sample in batch_data_samples]
        x_flipped = None
        if (self.roi_head.test_cfg or {}).get('flip_test', False):
            x_flipped = self.extract_feat(batch_inputs.flip(-1))
        results_list = self.roi_head.predict(
            x, rpn_results_list, batch_data_samples, rescale=rescale, x_flipped=x_flipped)
        return self.add_pred_to_datasample(batch_data_samples, results_list)
