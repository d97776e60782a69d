"""A config naming an unknown type says where it was looked for and what is close."""
import pytest
from mmengine.config import Config

from hrpose.registry import DATASETS, MODELS
from hrpose.utils.registry_errors import UnknownTypeError, explain_unknown_types
from tests.helpers import TINY_POSE_CONFIG

pytestmark = pytest.mark.usefixtures('hrpose_scope')


def test_misspelled_nested_model_type_names_registries_and_close_matches():
    cfg = Config.fromfile(TINY_POSE_CONFIG)
    cfg.model.roi_head.type = 'TopDownHeatmapRoiHead'  # wrong case in "RoI"
    with pytest.raises(UnknownTypeError) as info, explain_unknown_types():
        MODELS.build(cfg.model)
    message = str(info.value)
    assert "type 'TopDownHeatmapRoiHead' is not registered" in message
    assert 'searched hrpose::model -> mmdet::model -> mmengine::model' in message
    assert 'close matches: TopDownHeatmapRoIHead' in message


def test_unknown_transform_in_a_pipeline_is_explained(synthetic_root):
    cfg = Config.fromfile(TINY_POSE_CONFIG)
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.data_root = synthetic_root + '/'
    dataset_cfg.pipeline[1].type = 'LoadKeypointAnnotation'
    with pytest.raises(
            UnknownTypeError,
            match=r"(?s)hrpose::transform -> mmdet::transform.*"
            r"close matches: LoadKeypointAnnotations"), explain_unknown_types():
        DATASETS.build(dataset_cfg)


def test_a_name_with_nothing_close_says_so():
    with pytest.raises(UnknownTypeError, match='no close match'), explain_unknown_types():
        MODELS.build(dict(type='Zzzzqqq'))


def test_other_key_errors_pass_through_unchanged():
    with pytest.raises(KeyError) as info, explain_unknown_types():
        raise KeyError('something else')
    assert not isinstance(info.value, UnknownTypeError)


@pytest.mark.parametrize('broken', ['child', 'base'])
def test_a_config_syntax_error_names_the_file_it_is_in(tmp_path, broken):
    from hrpose.utils.config_files import load_config
    (tmp_path / 'base.py').write_text("x = dict(a=1\n" if broken == 'base' else "x = 1\n")
    (tmp_path / 'child.py').write_text("_base_ = ['./base.py']\ny = (\n" if broken ==
                                       'child' else "_base_ = ['./base.py']\n")
    bad = tmp_path / f'{broken}.py'
    with pytest.raises(SyntaxError, match=rf'syntax error in {bad}: .*\(line \d\)'):
        load_config(str(tmp_path / 'child.py'))
