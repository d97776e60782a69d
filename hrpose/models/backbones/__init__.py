from .hrnet import HRNet, pretrained_weights_location

__all__ = ['HRNet', 'pretrained_weights_location']
