"""A checkpoint of another model (here: 14 keypoints for a 17-keypoint config) stops the API,
tools/test.py and training instead of going on with randomly initialised layers."""

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from hrpose.apis import init_model
from hrpose.engine import WeightShapeError
from hrpose.utils import register_all_modules
from tests.helpers import TINY_POSE_CONFIG, run_script, synthetic_cfg_dict, synthetic_cfg_options

register_all_modules(init_default_scope=False)
FINAL_CONV = 'roi_head.keypoint_head.final_conv.weight'


@pytest.fixture(scope='module')
def checkpoint_14(tmp_path_factory) -> str:
    """The tiny model built for 14 keypoints, saved as a plain state-dict checkpoint."""
    torch.manual_seed(0)
    model = init_model(
        TINY_POSE_CONFIG, None, cfg_options={'model.roi_head.keypoint_head.num_keypoints': 14})
    path = str(tmp_path_factory.mktemp('weights') / 'tiny_14.pth')
    # The first convolution negated, so that weights loaded from it cannot be mistaken for a
    # fresh initialisation.
    state = model.state_dict()
    state['backbone.conv1.weight'] = -state['backbone.conv1.weight']
    torch.save(dict(state_dict=state, meta=dict()), path)
    return path


def test_the_api_names_the_weights_and_both_shapes(checkpoint_14):
    with pytest.raises(
            WeightShapeError,
            match=rf'tiny_14\.pth does not fit this model: 2 '
            rf'weight\(s\).*{FINAL_CONV}: checkpoint \(14, 64, 1, 1\), model '
            r'\(17, 64, 1, 1\)'):
        init_model(TINY_POSE_CONFIG, checkpoint_14)


@pytest.mark.slow
def test_the_test_tool_stops(checkpoint_14, synthetic_root, tmp_path):
    printed = run_script(
        'tools/test.py',
        TINY_POSE_CONFIG,
        checkpoint_14,
        '--work-dir',
        str(tmp_path),
        '--cfg-options',
        *synthetic_cfg_options(synthetic_root),
        expect_exit=1)
    assert 'WeightShapeError' in printed and FINAL_CONV in printed


def training_runner(work_dir, data_root, load_from, **options) -> Runner:
    cfg = Config.fromfile(TINY_POSE_CONFIG)
    cfg.merge_from_dict({
        **synthetic_cfg_dict(data_root), 'train_cfg.max_iters': 1,
        'train_cfg.val_interval': 100,
        'load_from': load_from,
        **options
    })
    cfg.work_dir = str(work_dir)
    return Runner.from_cfg(cfg)


@pytest.mark.slow
def test_training_from_it_stops_unless_the_config_names_the_layers_to_reinitialise(
        checkpoint_14, synthetic_root, tmp_path):
    with pytest.raises(WeightShapeError, match=FINAL_CONV):
        training_runner(tmp_path / 'a', synthetic_root, checkpoint_14).train()
    runner = training_runner(
        tmp_path / 'b',
        synthetic_root,
        checkpoint_14,
        load_from_reinit=[r'roi_head\.keypoint_head\.final_conv'])
    runner.train()
    loaded = torch.load(checkpoint_14, map_location='cpu', weights_only=True)['state_dict']
    # The weights that fit came from the checkpoint (the backbone's first conv, moved a
    # little by the one training step); the final layer kept its own shape and its init.
    trained = runner.model.state_dict()
    assert trained[FINAL_CONV].shape == (17, 64, 1, 1)
    assert trained[FINAL_CONV].abs().max() < 0.1  # its Normal(0, 0.001) initialisation
    first = 'backbone.conv1.weight'
    assert torch.allclose(trained[first], loaded[first], atol=0.01)


def test_a_model_of_another_k_than_the_test_set_stops_before_the_first_image():
    from types import SimpleNamespace

    from hrpose.engine import WeightShapeCheckHook
    head = SimpleNamespace(num_keypoints=14)
    model = SimpleNamespace(roi_head=SimpleNamespace(keypoint_head=head))
    dataset = SimpleNamespace(metainfo=dict(num_keypoints=17))
    runner = SimpleNamespace(
        model=model, test_loop=SimpleNamespace(dataloader=SimpleNamespace(dataset=dataset)))
    with pytest.raises(
            ValueError, match=r'predicts K=14 keypoints .* test dataset\'s metainfo '
            r'has K=17'):
        WeightShapeCheckHook().before_test(runner)
    head.num_keypoints = 17
    WeightShapeCheckHook().before_test(runner)  # the same K: nothing to say
