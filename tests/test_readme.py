"""The README's and the docs' commands work as written: every file, tool, option and config key
they name exists, every page they link to is there, and the README stays short."""
import argparse
import glob
import importlib.util
import inspect
import itertools
import os.path as osp
import re
import sys

import pytest
from mmengine.config import Config

from hrpose.registry import DATASETS, METRICS, MODELS, TRANSFORMS
from tests.helpers import REPO_ROOT

# The README and every page it leads to: their commands, files and keys are checked alike.
DOCUMENTS = ['README.md', 'configs/hrpose/README.md'] + sorted(
    osp.relpath(p, REPO_ROOT) for p in glob.glob(osp.join(REPO_ROOT, 'docs', 'en', '*.md')))
README = '\n'.join(open(osp.join(REPO_ROOT, path), encoding='utf-8').read() for path in DOCUMENTS)
DEFAULT_CONFIG = 'configs/hrpose/hrpose_hrnet-w32_hrfpn_1x_coco.py'
# Settings the RoI head reads from model.test_cfg.rcnn besides mmdet's (see its docstring).
RCNN_TEST_SETTINGS = {'flip_test', 'rescore', 'keypoint_score_thr', 'oks_nms', 'flip_indices'}


def snippets():
    """Every fenced code block line and every inline code span of the README."""
    blocks = re.findall(r'```[a-z]*\n(.*?)```', README, flags=re.S)
    lines = [line for block in blocks for line in block.replace('\\\n', ' ').splitlines()]
    outside = re.sub(r'```[a-z]*\n.*?```', '', README, flags=re.S)
    return lines + re.findall(r'`([^`\n]+)`', outside)


def expand_braces(path):
    match = re.search(r'\{([^}]*)\}', path)
    if not match:
        return [path]
    return list(
        itertools.chain.from_iterable(
            expand_braces(path[:match.start()] + part + path[match.end():])
            for part in match.group(1).split(',')))


def test_every_named_config_and_tool_exists():
    named = set(re.findall(r'(?:configs|tools|bench|tests)/[\w/.{},\-]+\.(?:py|sh)', README))
    assert len(named) > 20
    missing = [
        path for token in named for path in expand_braces(token)
        if not osp.isfile(osp.join(REPO_ROOT, path))
    ]
    assert not missing, missing


def parser_options(script):
    """All option strings of a tool's argparse parser, its sub-commands' included."""
    captured = []

    def capture(self, *args, **kwargs):
        captured.append(self)
        raise SystemExit(0)

    spec = importlib.util.spec_from_file_location(f'readme_{osp.basename(script)[:-3]}',
                                                  osp.join(REPO_ROOT, script))
    module = importlib.util.module_from_spec(spec)
    original = argparse.ArgumentParser.parse_args
    argv, path = sys.argv, list(sys.path)
    argparse.ArgumentParser.parse_args = capture
    sys.argv = [script]
    sys.path.insert(0, osp.dirname(osp.join(REPO_ROOT, script)))  # as `python script` does
    try:
        spec.loader.exec_module(module)
        for name in ('parse_args', 'main'):
            if hasattr(module, name) and not captured:
                try:
                    getattr(module, name)()
                except SystemExit:
                    pass
    finally:
        argparse.ArgumentParser.parse_args = original
        sys.argv = argv
        sys.path[:] = path
    assert captured, f'{script}: no argparse parser found'
    options, parsers = set(), list(captured)
    while parsers:
        parser = parsers.pop()
        options |= set(parser._option_string_actions)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                parsers += list(action.choices.values())
    return options


def commands():
    """(script, [options], [cfg-options]) of every README command that runs a Python tool."""
    found = []
    for snippet in snippets():
        match = re.search(r'(?<![\w/])((?:tools|bench)/[\w/]+\.py)(.*)', snippet)
        if not match:
            continue
        script, rest = match.group(1), match.group(2)
        cfg_options = []
        cfg = re.search(r'--cfg-options\s+(.*?)(?=\s--|\]|$)', rest)
        if cfg:
            # 'key=value' is the usage line's placeholder
            cfg_options = [t for t in cfg.group(1).split() if '=' in t and t != 'key=value']
        config = re.search(r'configs/[\w/.\-]+\.py', rest)
        found.append((script, re.findall(r'(?<![\w-])(--[a-z][\w-]*)',
                                         rest), cfg_options, config.group(0) if config else None))
    return found


def test_every_tool_option_exists():
    checked = 0
    options_of = {}
    for script, options, _, _ in commands():
        if script not in options_of:
            options_of[script] = parser_options(script)
        unknown = [o for o in options if o not in options_of[script]]
        assert not unknown, f'{script}: {unknown} are not options of it'
        checked += len(options)
    assert checked > 15


def accepted_keys(parent):
    """Keys a config dict may be given beyond the ones it has: its type's arguments."""
    if not isinstance(parent, dict) or 'type' not in parent:
        return set()
    type_name = parent['type']
    if not isinstance(type_name, str):
        return set()
    for registry in (MODELS, METRICS, TRANSFORMS, DATASETS):
        cls = registry.get(type_name)
        if cls is not None:
            keys = set()
            for klass in inspect.getmro(cls):
                if '__init__' in vars(klass):
                    keys |= set(inspect.signature(klass.__init__).parameters)
            return keys
    return set()


def check_key(cfg, key):
    """None if ``key`` (dotted, list indices allowed) can be set in ``cfg``, else why not."""
    node, parts = cfg, key.split('.')
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                return f'{".".join(parts[:depth])} has no item {part}'
            node = node[int(part)]
            continue
        if not isinstance(node, dict):
            return f'{".".join(parts[:depth])} is not a dict'
        if part in node:
            node = node[part]
            continue
        path = '.'.join(parts[:depth])
        if last and (part in accepted_keys(node) or
                     (path.endswith('test_cfg.rcnn') and part in RCNN_TEST_SETTINGS)):
            return None
        return f'{path or "the config"} has no key {part!r}'
    return None


def test_every_config_key_exists():
    """--cfg-options keys in commands, and `a.b.c=value` switches in the text."""
    keys = []
    for _, _, cfg_options, config in commands():
        keys += [(config or DEFAULT_CONFIG, option.split('=', 1)[0]) for option in cfg_options]
    for snippet in snippets():
        match = re.fullmatch(
            r'((?:model|train_cfg|test_cfg|val_cfg|train_dataloader|'
            r'test_dataloader|val_dataloader|test_evaluator|val_evaluator|'
            r'optim_wrapper|default_hooks)(?:\.\w+)+)=.*', snippet.strip())
        if match:
            keys.append((DEFAULT_CONFIG, match.group(1)))
    assert len(keys) > 8
    configs = {}
    problems = []
    for config, key in keys:
        if config not in configs:
            configs[config] = Config.fromfile(osp.join(REPO_ROOT, config)).to_dict()
        why = check_key(configs[config], key)
        if why:
            problems.append(f'{key} ({config}): {why}')
    assert not problems, problems


@pytest.mark.parametrize(
    'key, ok',
    [
        ('model.test_cfg.rcnn.flip_test', True),  # a setting the RoI head reads
        ('test_cfg.rcnn.flip_test', False),  # top-level test_cfg is the test loop
        ('model.backbone.init_cfg', True),
        ('test_evaluator.outfile_prefix', True),  # an argument of CocoKeypointMetric
        ('test_evaluator.outfile_prefx', False),
        ('train_dataloader.dataset.pipeline.3.prob', True),
        ('train_dataloader.dataset.pipeline.9.prob', False),
    ])
def test_key_check_itself(key, ok):
    cfg = Config.fromfile(osp.join(REPO_ROOT, DEFAULT_CONFIG)).to_dict()
    assert (check_key(cfg, key) is None) is ok, check_key(cfg, key)


def test_readme_is_short_and_every_linked_page_exists():
    readme = open(osp.join(REPO_ROOT, 'README.md'), encoding='utf-8').read()
    assert len(readme.splitlines()) <= 150
    assert len(DOCUMENTS) >= 8
    missing = []
    for path in DOCUMENTS:
        text = open(osp.join(REPO_ROOT, path), encoding='utf-8').read()
        for target in re.findall(r'\]\(([^)#]+?)(?:#[^)]*)?\)', text):
            if not target.startswith('http') and not osp.exists(
                    osp.join(REPO_ROOT, osp.dirname(path), target)):
                missing.append(f'{path} -> {target}')
    assert not missing, missing
