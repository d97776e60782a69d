#!/usr/bin/env bash
# The GPU numbers of hrpose on a machine that has torch and a CUDA compiler but no package
# index (an offline GPU node, a container image with torch preinstalled).
#
#   bash tools/install/gpu_machine.sh WHEELHOUSE OUT_DIR [BUILD_DIR]
#
# WHEELHOUSE holds mmcv-2.1.0.tar.gz and wheels, for the machine's Python, of mmengine 0.10.7,
# mmdet 3.3.0, pycocotools, shapely, addict, yapf, platformdirs, termcolor, terminaltables and
# setuptools < 81 (mmcv's setup.py imports pkg_resources). Fetch them where pip works:
#   pip download --no-deps --only-binary=:all: --python-version 3.12 \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d WHEELHOUSE ...
#   pip download --no-deps --no-binary :all: -d WHEELHOUSE mmcv==2.1.0
#
# It installs the wheels into BUILD_DIR/site, builds mmcv's ops with CUDA in place for the
# visible GPU's architecture (BUILD_DIR/mmcv-2.1.0; a second run resumes an interrupted
# build), then writes into OUT_DIR, one log per step:
#   mmcv_probes.log     mmcv's version probes and a CUDA nms, each in its own process
#   gpu_check_ops.log   mmcv's RoIAlign, nms and soft_nms on CUDA against the CPU
#   decode.log          bench/decode_throughput.py on the GPU
#   vs_peers.log        bench/vs_peers.py --device cuda (inference, memory, training step)
#   inference_speed.log bench/inference_speed.py --device cuda (W32 and W18 at batch 1 and 8,
#                       fp32 and fp16, eager and CUDA graphs, against Keypoint R-CNN eager
#                       fp32 and fp16 and the top-down pipeline)
#   gpu_check_train.log HRNet-W32 training with AMP on synthetic full-size images
#   gpu_check_all.log   the whole gpu_check (ops, 300-iteration W32 AMP training, inference,
#                       decoding)
#   overfit_seeds.log   bench/overfit_seeds.py on the machine's CPU cores (6 seeds side by
#                       side, 2 threads each), started in the background before the GPU
#                       steps; OVERFIT_DATA names the COCO sample folder
# Nothing here needs the repository's virtual environment.
set -uo pipefail

WHEELHOUSE=$(cd "${1:?WHEELHOUSE}" && pwd)
OUT_DIR=${2:?OUT_DIR}
BUILD_DIR=${3:-.devbuild}
PY=${PYTHON:-python3}
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mkdir -p "$OUT_DIR" "$BUILD_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
SUMMARY="$OUT_DIR/summary.txt"

log() { echo "[$(date +%T)] $*" | tee -a "$SUMMARY"; }
step() {  # step NAME COMMAND...: runs it, its output in OUT_DIR/NAME.log, the time in the summary
  local name=$1 start=$SECONDS
  shift
  log "$name: $*"
  "$@" >"$OUT_DIR/$name.log" 2>&1
  local rc=$?
  log "$name: exit $rc after $((SECONDS - start)) s"
  return $rc
}

log "machine: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -1), $(nproc) cores, $(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2)"
"$PY" - <<'EOF' 2>&1 | tee -a "$SUMMARY"
import os, sys, sysconfig, torch
include = sysconfig.get_paths()['include']
print('python', sys.version.split()[0], '| torch', torch.__version__, '| CUDA', torch.version.cuda,
      '| GPU', torch.cuda.get_device_name() if torch.cuda.is_available() else None,
      '| Python.h', os.path.exists(os.path.join(include, 'Python.h')))
EOF

# torch finds the CUDA toolkit through the nvcc on the PATH.
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi
log "nvcc: $(nvcc --version 2>&1 | grep -o 'release [0-9.]*'), $(${CXX:-g++} --version 2>&1 | head -1)"

SITE="$BUILD_DIR/site"
if [ ! -d "$SITE/mmdet" ]; then
  step install_wheels "$PY" -m pip install -q --no-index --no-deps --no-compile \
    --disable-pip-version-check --target "$SITE" "$WHEELHOUSE"/*.whl || exit 1
fi
MMCV_SRC="$BUILD_DIR/mmcv-2.1.0"
export PYTHONPATH="$SITE:$MMCV_SRC:$REPO_ROOT${PYTHONPATH:+:$PYTHONPATH}"

if ! ls "$MMCV_SRC"/mmcv/_ext*.so >/dev/null 2>&1; then
  if [ ! -f "$MMCV_SRC/setup.py" ]; then
    tar -xzf "$WHEELHOUSE/mmcv-2.1.0.tar.gz" -C "$BUILD_DIR"
    # As tools/install/install.sh: recent torch headers want C++20 where mmcv asks for C++17.
    sed -i 's/-std=c++17/-std=c++20/g' "$MMCV_SRC/setup.py"
  fi
  arch=${TORCH_CUDA_ARCH_LIST:-$("$PY" -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability())')}
  (cd "$MMCV_SRC" && export MMCV_WITH_OPS=1 FORCE_CUDA=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
    TORCH_CUDA_ARCH_LIST="$arch" && step mmcv_build "$PY" setup.py build_ext --inplace) || {
    grep -E -B2 -A6 'error:|Error ' "$OUT_DIR/mmcv_build.log" | tail -n 40
    exit 1
  }
fi
cd "$REPO_ROOT"
export PYTHONUNBUFFERED=1 PYTHONFAULTHANDLER=1  # a crash in compiled code still names its Python line
# Each of mmcv's version probes alone, in its own process, so that a crash names its culprit.
step mmcv_compiler "$PY" -c 'import torch; from mmcv.ops import get_compiler_version as v; print("mmcv ops compiler", v())'
step mmcv_cuda_version "$PY" -c 'import torch; from mmcv.ops import get_compiling_cuda_version as v; print("mmcv ops CUDA", v())'
step mmcv_cuda_kernels "$PY" -c 'from hrpose.utils.setup_env import mmcv_cuda_kernels_found as f; print("mmcv CUDA kernels run:", f())'
for name in mmcv_compiler mmcv_cuda_version mmcv_cuda_kernels; do
  { echo "===== $name"; cat "$OUT_DIR/$name.log"; } >>"$OUT_DIR/mmcv_probes.log"
  tail -n 3 "$OUT_DIR/$name.log" | tee -a "$SUMMARY"
  rm "$OUT_DIR/$name.log"
done

SEEDS_PID=
case " ${STEPS:-} " in
  *" overfit_seeds "*)
    log "overfit_seeds: started in the background"
    # On the CPU (no GPU visible to it): another CPU's rounding, as the tests run.
    CUDA_VISIBLE_DEVICES= "$PY" bench/overfit_seeds.py --seeds 0 1 2 3 4 5 --jobs 6 --threads 2 \
      --data "${OVERFIT_DATA:?OVERFIT_DATA}" --work-dir "$BUILD_DIR/overfit_seeds" \
      >"$OUT_DIR/overfit_seeds.log" 2>&1 &
    SEEDS_PID=$! ;;
esac

for what in ${STEPS:-gpu_check_ops decode vs_peers inference_speed gpu_check_train}; do
  case $what in
    overfit_seeds) continue ;;
    gpu_check_all) step gpu_check_all "$PY" tools/analysis_tools/gpu_check.py \
      --iters "${TRAIN_ITERS:-300}" --work-dir "$BUILD_DIR/gpu_check" ;;
    gpu_check_ops) step gpu_check_ops "$PY" tools/analysis_tools/gpu_check.py --skip train dist inference ;;
    decode) step decode "$PY" bench/decode_throughput.py --device cuda --rois 1000 --repeats 20 ;;
    vs_peers) step vs_peers "$PY" bench/vs_peers.py --device cuda --repeats 10 --train-repeats 5 ;;
    inference_speed) step inference_speed "$PY" bench/inference_speed.py --device cuda --repeats 10 --rpn-half ;;
    gpu_check_train) step gpu_check_train "$PY" tools/analysis_tools/gpu_check.py \
      --skip ops dist inference --iters "${TRAIN_ITERS:-100}" --work-dir "$BUILD_DIR/gpu_check" ;;
    *) log "unknown step $what" ;;
  esac
  echo "===== $what"
  grep -v -E 'SyntaxWarning|^  """' "$OUT_DIR/$what.log" | tail -n 30
done

if [ -n "$SEEDS_PID" ]; then
  wait "$SEEDS_PID"
  log "overfit_seeds: exit $?"
  echo "===== overfit_seeds"
  tail -n 12 "$OUT_DIR/overfit_seeds.log"
  # every seed's own log, for the record
  for f in "$BUILD_DIR"/overfit_seeds/seed*/train_output.log; do
    cp "$f" "$OUT_DIR/overfit_$(basename "$(dirname "$f")").log"
  done
fi
