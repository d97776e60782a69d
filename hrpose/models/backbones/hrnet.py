"""mmdet's HRNet, with a clear message when its pretrained weights cannot be fetched."""
import os.path as osp

import torch
from mmdet.models.backbones import HRNet as MMDetHRNet
from mmengine.runner.checkpoint import get_external_models

from hrpose.registry import MODELS


def pretrained_weights_location(checkpoint: str) -> tuple:
    """(URL, local path) of a pretrained checkpoint name such as 'open-mmlab://msra/...'.

    The local path is where mmengine looks before downloading (torch hub's checkpoint
    folder), so a file put there by hand is used without network access.
    """
    url = checkpoint
    for prefix in ('open-mmlab://', 'openmmlab://'):
        if checkpoint.startswith(prefix):
            url = get_external_models().get(checkpoint[len(prefix):], checkpoint)
    if not url.startswith(('http://', 'https://')):
        return url, url
    return url, osp.join(torch.hub.get_dir(), 'checkpoints', osp.basename(url))


@MODELS.register_module()
class HRNetWithWeightCheck(MMDetHRNet):
    """mmdet's ``HRNet`` (same arguments); a failed weight download names the file to fetch.

    A name of its own (hrpose's configs say ``type='HRNetWithWeightCheck'``): ``type='HRNet'``
    remains mmdet's class.
    """

    def init_weights(self) -> None:
        try:
            super().init_weights()
        except Exception as e:
            init_cfg = self.init_cfg if isinstance(self.init_cfg, dict) else {}
            checkpoint = init_cfg.get('checkpoint')
            if init_cfg.get('type') != 'Pretrained' or checkpoint is None:
                raise
            url, local_path = pretrained_weights_location(checkpoint)
            raise RuntimeError(
                f'could not load the pretrained HRNet weights {checkpoint!r} ({type(e).__name__}:'
                f' {e}). Download {url} and put it at {local_path} (it is used from there '
                'without network access), or train from scratch with --cfg-options '
                'model.backbone.init_cfg=None') from e
