"""hrpose's child registries reach hrpose's, mmdet's and mmengine's modules."""
import pytest

from hrpose import registry

pytestmark = pytest.mark.usefixtures('hrpose_scope')


@pytest.mark.parametrize('name', [
    'HRNet', 'HRNetWithWeightCheck', 'HRFPN', 'FasterRCNN', 'RPNHead', 'Shared2FCBBoxHead',
    'DetDataPreprocessor'
])
def test_models_from_mmdet_resolve_through_the_parent(name):
    assert registry.MODELS.get(name) is not None


@pytest.mark.parametrize('reg, name', [
    (registry.DATASETS, 'CocoDataset'),
    (registry.TRANSFORMS, 'PackDetInputs'),
    (registry.TRANSFORMS, 'LoadImageFromFile'),
    (registry.TRANSFORMS, 'LoadCheckedImage'),
    (registry.METRICS, 'CocoMetric'),
    (registry.VISUALIZERS, 'DetLocalVisualizer'),
    (registry.HOOKS, 'CheckpointHook'),
    (registry.DATA_SAMPLERS, 'AspectRatioBatchSampler'),
    (registry.PARAM_SCHEDULERS, 'MultiStepLR'),
    (registry.TASK_UTILS, 'MaxIoUAssigner'),
])
def test_other_registries_resolve(reg, name):
    assert reg.get(name) is not None


def test_registries_are_hrpose_children_of_mmdet():
    assert registry.MODELS.scope == 'hrpose'
    assert registry.MODELS.parent.scope == 'mmdet'
    assert registry.MODELS.parent.parent.scope == 'mmengine'


def test_unknown_type_is_none():
    assert registry.MODELS.get('NoSuchModelAnywhere') is None


def test_every_registry_location_imports():
    import importlib

    from mmengine.registry import Registry
    registries = [r for r in vars(registry).values() if isinstance(r, Registry)]
    assert len(registries) >= 20
    for reg in registries:
        if reg.scope != 'hrpose':
            continue
        for location in reg._locations:
            importlib.import_module(location)
