"""hrpose says what to install when mmcv, mmengine or mmdet are off."""
import importlib.metadata

import pytest

import hrpose


def test_installed_stack_passes():
    hrpose._check_dependencies()


def test_wrong_mmcv_version_names_the_fix(monkeypatch):
    real_version = importlib.metadata.version

    def fake_version(name):
        return '2.2.0' if name == 'mmcv' else real_version(name)

    monkeypatch.setattr(hrpose, '_installed_version', fake_version)
    expected = r'mmcv 2\.2\.0 is installed.*mmcv>=2\.0\.0rc4,<2\.2\.0.*make install'
    with pytest.raises(ImportError, match=expected):
        hrpose._check_dependencies()


def test_missing_mmdet_is_reported(monkeypatch):
    real_version = importlib.metadata.version

    def fake_version(name):
        if name == 'mmdet':
            raise importlib.metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(hrpose, '_installed_version', fake_version)
    with pytest.raises(ImportError, match='mmdet is not installed'):
        hrpose._check_dependencies()
