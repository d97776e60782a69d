from .hrnet import HRNetWithWeightCheck, pretrained_weights_location

__all__ = ['HRNetWithWeightCheck', 'pretrained_weights_location']
