"""A plain (non-editable) install of the wheel works from any folder: configs by name,
metainfo files, the explicit set-up."""
import os
import shutil
import site
import subprocess
import sys
import zipfile

import pytest

from tests.helpers import REPO_ROOT

IGNORED = shutil.ignore_patterns('.git', '.venv', 'work_dirs', 'build', 'dist', 'data', 'outputs',
                                 '*.egg-info', '__pycache__', '.pytest_cache')


def run(args, cwd, env=None):
    proc = subprocess.run(
        list(map(str, args)), cwd=str(cwd), capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, f'{args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}'
    return proc.stdout


@pytest.mark.slow
def test_wheel_installed_in_a_fresh_venv_builds_a_model_by_config_name(tmp_path):
    # Built from a copy: a build in the checkout would leave build/ and egg-info behind.
    source = tmp_path / 'source'
    shutil.copytree(REPO_ROOT, source, ignore=IGNORED)
    run([
        sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w',
        tmp_path / 'wheels', '.'
    ],
        cwd=source)
    wheels = list((tmp_path / 'wheels').glob('hrpose-*.whl'))
    assert len(wheels) == 1
    # The package and its metadata only: no `bench`, `tests` or `tools` beside it.
    with zipfile.ZipFile(wheels[0]) as wheel:
        top_level = {name.split('/')[0] for name in wheel.namelist()}
    assert {name for name in top_level if not name.endswith('.dist-info')} == {'hrpose'}, \
        top_level

    # A venv that reuses the installed dependencies (torch, mmcv, ...) through a .pth file;
    # the editable hrpose of this environment is not visible there (its finder is a .pth
    # hook, which a path added this way does not run).
    venv = tmp_path / 'venv'
    run([sys.executable, '-m', 'venv', '--without-pip', venv], cwd=tmp_path)
    python = venv / 'bin' / 'python'
    venv_site = run([python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                    cwd=tmp_path).strip()
    with open(os.path.join(venv_site, 'dependencies.pth'), 'w') as f:
        f.write('\n'.join(site.getsitepackages()) + '\n')
    run([python, '-m', 'pip', 'install', '--no-deps', '--no-index', '-q', wheels[0]], cwd=tmp_path)

    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    code = '\n'.join([
        'import hrpose',
        'from hrpose.apis import init_model',
        "model = init_model('hrpose_hrnet-tiny_hrfpn_1k_synthetic', None)",
        'print(hrpose.__file__)',
        "print(type(model).__name__, model.dataset_meta['num_keypoints'],",
        "      type(model.backbone).__name__)",
    ])
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    lines = run([python, '-c', code], cwd=elsewhere, env=env).strip().splitlines()
    assert lines[-2].startswith(venv_site), lines  # the installed package, not the checkout
    assert lines[-1] == 'KeypointTwoStageDetector 17 HRNetWithWeightCheck'
