"""hrpose in ONNX Runtime against the same model in PyTorch eager, timed side by side.

    python bench/onnx_runtime.py [--config W32] [--persons 1 20] [--repeats 3] [--threads 2]
        [--height 800 --width 1216] [--profile]

One image of random pixels, random weights (the cost does not depend on them), N persons:
the box branch runs as usual on its 1000 proposals and its output is then replaced by
exactly N person boxes, in both backends (PyTorch: ``force_persons``; the graph: the box
branch's result kept alive and replaced inside the exported graph), so N RoIs reach the
keypoint branch. PyTorch runs ``model.predict`` on the preprocessed tensor; ONNX Runtime
runs the exported graph on the same tensor, then the shared pose post-processing. Runs are
interleaved (PyTorch, ONNX Runtime, PyTorch, ...); each figure is the median of the repeats.

--profile adds where the time goes: ONNX Runtime's per-operator profile and torch's
profiler, both summed by operator type, at the largest N.
"""
import argparse
import glob
import json
import os
import os.path as osp
import sys
import tempfile
import time
from collections import defaultdict

import numpy as np
import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from hrpose.deploy import exportable, onnx_backend, onnx_export  # noqa: E402
from hrpose.models.roi_heads import pose_postprocessing  # noqa: E402
from hrpose.utils import benchmarking, register_all_modules  # noqa: E402
from hrpose.utils.config_files import load_config  # noqa: E402

CONFIGS = {
    'W32': 'configs/hrpose/hrpose_hrnet-w32_hrfpn_1x_coco.py',
    'W18': 'configs/hrpose/hrpose_hrnet-w18_hrfpn_1x_coco.py',
}


class ForcedPersons(exportable.ExportableKeypointDetector):
    """The exported graph with the box branch's detections replaced by fixed boxes; the
    branch still runs (its result feeds the output through a zero), as in PyTorch."""

    def __init__(self, detector, boxes: torch.Tensor) -> None:
        super().__init__(detector)
        self.register_buffer('forced_boxes', boxes.float())

    def box_detections(self, feats, proposals, img_shape):
        boxes, scores = super().box_detections(feats, proposals, img_shape)
        alive = (boxes.sum() + scores.sum()) * 0
        return self.forced_boxes + alive, self.forced_boxes[:, 0] * 0 + 1 + alive


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', choices=sorted(CONFIGS), default='W32')
    parser.add_argument('--persons', type=int, nargs='+', default=[1, 20])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=2, help='threads of both backends')
    parser.add_argument('--height', type=int, default=800)
    parser.add_argument('--width', type=int, default=1216)
    parser.add_argument('--profile', action='store_true')
    return parser.parse_args()


def build_model(config: str):
    from mmengine.registry import init_default_scope

    from hrpose.registry import MODELS
    init_default_scope('hrpose')
    cfg = load_config(config)
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(0)
    return MODELS.build(cfg.model).eval(), cfg


def onnx_session(path: str, threads: int, profile_prefix: str = None):
    _, ort = onnx_export.import_onnx_packages()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    if profile_prefix:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    return ort.InferenceSession(path, sess_options=options, providers=['CPUExecutionProvider'])


def ort_profile_by_op(profile_file: str, runs: int) -> dict:
    """Seconds per run spent in each operator type, from ONNX Runtime's profile."""
    with open(profile_file) as f:
        events = json.load(f)
    totals = defaultdict(float)
    for event in events:
        if event.get('cat') == 'Node' and event['name'].endswith('_kernel_time'):
            totals[event['args']['op_name']] += event['dur'] / 1e6 / runs
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def main() -> None:
    args = parse_args()
    register_all_modules()
    torch.set_num_threads(args.threads)
    model, cfg = build_model(CONFIGS[args.config])
    rng = np.random.RandomState(0)
    image = rng.randint(0, 256, (args.height, args.width, 3)).astype(np.uint8)
    tensor = torch.from_numpy(image).permute(2, 0, 1).contiguous()
    sample = benchmarking.unresized_sample(args.height, args.width)
    data = model.data_preprocessor(dict(inputs=[tensor], data_samples=[sample]), False)
    inputs = data['inputs']
    feeds = dict(
        inputs=inputs.numpy(),
        img_shape=np.array([args.height, args.width], np.float32),
        scale_factor=np.ones(2, np.float32))
    generator = torch.Generator().manual_seed(0)
    rcnn_cfg = cfg.model.test_cfg.rcnn
    meta = dict(keypoint_sigmas=[0.05] * 17)
    tmp = tempfile.mkdtemp(prefix='hrpose_onnx_bench_')
    print(f'hrpose {args.config}, one {args.width}x{args.height} image, CPU, {args.threads} '
          f'threads in both backends, random weights, runs interleaved, median of '
          f'{args.repeats}; onnxruntime {onnx_export.import_onnx_packages()[1].__version__}, '
          f'torch {torch.__version__}')
    rows = []
    for n in args.persons:
        boxes = benchmarking.random_person_boxes(n, args.height, args.width, generator)
        path = osp.join(tmp, f'persons_{n}.onnx')
        start = time.perf_counter()
        onnx_export.trace_to_onnx(
            ForcedPersons(model, boxes).eval(),
            (inputs, torch.tensor(feeds['img_shape']), torch.ones(2)),
            path,
            dynamic=False)
        export_s = time.perf_counter() - start
        session = onnx_session(path, args.threads)

        def run_pytorch():
            benchmarking.force_persons(model.roi_head, boxes)
            with torch.no_grad():
                results = model.predict(inputs, [sample.clone()])
            assert len(results[0].pred_instances) == n

        def run_onnx():
            outputs = session.run(None, feeds)
            detections = onnx_backend.graph_detections(outputs)
            poses = pose_postprocessing.postprocess_poses(detections, meta, rcnn_cfg)
            assert len(outputs[0]) == n and len(poses) <= n

        timings = defaultdict(list)
        run_pytorch(), run_onnx()  # warm-up
        for _ in range(args.repeats):
            for name, run in (('pytorch', run_pytorch), ('onnxruntime', run_onnx)):
                start = time.perf_counter()
                run()
                timings[name].append(time.perf_counter() - start)
        pytorch_s, onnx_s = (float(np.median(timings[k])) for k in ('pytorch', 'onnxruntime'))
        rows.append((n, pytorch_s, onnx_s, export_s))
        if args.profile and n == max(args.persons):
            profile(model, boxes, inputs, sample, path, feeds, args, tmp)
    print(f'\n{"persons":>8s} {"PyTorch eager s":>16s} {"ONNX Runtime s":>15s} '
          f'{"speed-up":>9s} {"export s":>9s}')
    for n, pytorch_s, onnx_s, export_s in rows:
        print(f'{n:8d} {pytorch_s:16.3f} {onnx_s:15.3f} {pytorch_s / onnx_s:8.2f}x '
              f'{export_s:9.1f}')


def profile(model, boxes, inputs, sample, path, feeds, args, tmp) -> None:
    """Per-operator-type seconds of one run in each backend."""
    runs = max(args.repeats, 1)
    session = onnx_session(path, args.threads, profile_prefix=osp.join(tmp, 'ort_profile'))
    for _ in range(runs):
        session.run(None, feeds)
    by_op = ort_profile_by_op(session.end_profiling(), runs)
    print(f'\nONNX Runtime, {len(boxes)} persons: seconds per run by operator type')
    for op, seconds in list(by_op.items())[:10]:
        print(f'  {op:24s} {seconds:8.3f}')
    benchmarking.force_persons(model.roi_head, boxes)
    with torch.no_grad(), torch.profiler.profile() as prof:
        for _ in range(runs):
            model.predict(inputs, [sample.clone()])
    print(f'\nPyTorch eager, {len(boxes)} persons: seconds per run by operator')
    events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:10]
    for event in events:
        print(f'  {event.key:24s} {event.self_cpu_time_total / 1e6 / runs:8.3f}')
    for leftover in glob.glob(osp.join(tmp, 'ort_profile*')):
        os.remove(leftover)


if __name__ == '__main__':
    main()
