from .heatmap_keypoint_head import HeatmapKeypointHead
from .top_down_heatmap_roi_head import TopDownHeatmapRoIHead

__all__ = ['HeatmapKeypointHead', 'TopDownHeatmapRoIHead']
