"""Device synchronisations that a GPU pays for: one finite check of the losses per iteration,
one copy of the OKS matrix per image for OKS-NMS. On the CPU the Python-level reads of a
tensor (bool, item, tolist, copies to the host) are counted instead."""
import pytest
import torch

from hrpose.models.detectors import KeypointTwoStageDetector, NonFiniteLossError
from hrpose.models.roi_heads.pose_postprocessing import oks_nms

COCO_SIGMAS = torch.tensor(
    [.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]) / 10.0


@pytest.fixture
def host_reads(monkeypatch):
    """Counts bool(), int(), float(), .item(), .tolist() and .cpu() of tensors."""
    counts = dict(bool=0, int=0, float=0, item=0, tolist=0, cpu=0)
    for name, attr in (('bool', '__bool__'), ('int', '__int__'), ('float', '__float__'),
                       ('item', 'item'), ('tolist', 'tolist'), ('cpu', 'cpu')):
        original = getattr(torch.Tensor, attr)

        def counting(self, *args, _original=original, _name=name, **kwargs):
            counts[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, attr, counting)
    return counts


def make_detector():
    # parse_losses needs no sub-module: skip TwoStageDetector's construction.
    detector = KeypointTwoStageDetector.__new__(KeypointTwoStageDetector)
    torch.nn.Module.__init__(detector)
    detector.non_finite_loss = 'error'
    detector.skipped_steps = 0
    return detector


def test_finite_losses_are_checked_with_one_host_read(host_reads):
    detector = make_detector()
    losses = dict(
        loss_rpn_cls=torch.tensor(0.5),
        loss_rpn_bbox=torch.tensor(0.2),
        loss_cls=torch.tensor(0.3),
        loss_bbox=torch.tensor(0.1),
        loss_keypoint=torch.tensor(1.5),
        acc=torch.tensor(90.0))
    loss, log_vars = detector.parse_losses(losses)
    assert sum(host_reads.values()) == 1
    assert loss.item() == pytest.approx(2.6)


def test_a_non_finite_term_is_still_named(host_reads):
    detector = make_detector()
    losses = dict(loss_cls=torch.tensor(0.3), loss_keypoint=torch.tensor(float('nan')))
    with pytest.raises(NonFiniteLossError, match='loss_keypoint=nan'):
        detector.parse_losses(losses)


def test_oks_nms_copies_to_the_host_once(host_reads):
    gen = torch.Generator().manual_seed(0)
    people = torch.rand(8, 17, 2, generator=gen) * 100 + torch.arange(8.)[:, None, None] * 200
    keypoints = torch.cat([people, people + 1.0])  # every person found twice
    scores = torch.rand(16, generator=gen)
    areas = torch.full((16, ), 100. * 200.)
    keep = oks_nms(keypoints, scores, areas, COCO_SIGMAS, iou_threshold=0.9)
    reads = dict(host_reads)
    assert reads['cpu'] <= 2
    assert reads['bool'] == reads['int'] == reads['float'] == reads['item'] == 0
    assert len(keep) == 8  # one pose per person: the better scored of each pair
    assert sorted((keep % 8).tolist()) == list(range(8))
    assert torch.equal(scores[keep], scores[keep].sort(descending=True)[0])


@pytest.mark.parametrize('precision', ['fp32', 'bf16'])
def test_the_keypoint_branch_reads_nothing_on_the_host(host_reads, precision):
    """From person boxes to decoded, rescaled keypoints (expansion, RoIAlign, the head,
    decoding) and the pose results without OKS-NMS (rescoring, ordering, the cap): no
    Python-level read of a tensor, so no device synchronisation on a GPU, half precision
    included."""
    from mmengine.structures import InstanceData

    from hrpose.apis import init_model
    from hrpose.utils.benchmarking import unresized_sample
    from tests.helpers import COCO_METAINFO, TINY_POSE_CONFIG
    torch.manual_seed(0)
    model = init_model(
        TINY_POSE_CONFIG,
        cfg_options={
            'test_dataloader.dataset.metainfo': COCO_METAINFO,
            'model.test_cfg.rcnn.rescore': True,
            'model.test_cfg.rcnn.oks_nms': None
        },
        precision=precision)
    with torch.no_grad():
        features = model.image_part(torch.randn(1, 3, 224, 320), with_rpn=False)[0]
    detections = InstanceData(
        bboxes=torch.tensor([[10., 20, 80, 200], [100, 30, 160, 210]]),
        scores=torch.tensor([0.9, 0.8]),
        labels=torch.zeros(2, dtype=torch.long))
    meta = dict(unresized_sample(224, 320).metainfo, scale_factor=(0.5, 0.5))
    for name in host_reads:
        host_reads[name] = 0
    with torch.no_grad():
        results = model.roi_head.predict_keypoints(features, [detections], [meta], rescale=True)
        poses = model.roi_head.postprocess_poses(results, [meta])
    assert all(count == 0 for count in host_reads.values()), host_reads
    assert poses[0].keypoints.shape == (2, 17, 2) and poses[0].keypoints.dtype == torch.float32
