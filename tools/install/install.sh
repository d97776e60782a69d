#!/usr/bin/env bash
# Installs hrpose and its whole stack into a virtual environment inside the repository.
#
#   tools/install/install.sh            # idempotent: does nothing when the environment is up to date
#
# Environment variables:
#   HRPOSE_VENV           where the virtual environment lives (default: <repo>/.venv)
#   HRPOSE_PYTHON         the interpreter that creates it (default: python3.11, else python3)
#   HRPOSE_MMCV_WHEEL     path to a prebuilt mmcv 2.1.0 wheel (with ops) to install instead
#                         of building one
#   HRPOSE_MMCV_CUDA      1: build mmcv's CUDA ops (GPU or not, CUDA toolkit or not: a login
#                         node builds for its GPU nodes); 0: CPU ops only; unset: CUDA ops when
#                         torch is a CUDA build and a GPU is visible
#   HRPOSE_CUDA_COMPILER  auto (default): a system nvcc of torch's CUDA major version, else
#                         NVIDIA's compiler packages from PyPI in the environment;
#                         system or pip: force one
#   TORCH_CUDA_ARCH_LIST  GPU architectures of a CUDA build (default: the visible GPUs', else
#                         '8.0;9.0', A100 and H100)
#   HRPOSE_CACHE_DIR      where built mmcv wheels are kept (default: ~/.cache/hrpose)
#   MAX_JOBS              parallel compile jobs for the mmcv build (default: number of cores)
#
# mmcv publishes no wheels for recent torch, so mmcv 2.1.0 is built from its source
# distribution with ops. Two fixes are needed for torch 2.14: its headers require C++20
# (mmcv's setup.py hard-codes -std=c++17 for g++ and nvcc) and mmcv's setup.py imports
# pkg_resources, which setuptools 81 dropped (torch 2.14 wants setuptools >= 77). The CPU
# build takes about 10 minutes on 2 cores, a CUDA build for two architectures hours; the
# wheel is cached per mmcv/torch/Python/variant, and an interrupted CUDA build resumes.
# The decisions (CPU or CUDA, which compiler, which GPUs) are made by tools/install/install_plan.py.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=${HRPOSE_VENV:-$REPO_ROOT/.venv}
# The mmcv build runs from another folder: the environment's path must be absolute.
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV" ;; esac
CACHE_DIR=${HRPOSE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hrpose}

TORCH_REQ="torch==2.14.1 torchvision==0.29.1"
SETUPTOOLS_REQ="setuptools>=77,<81"
MMCV_VERSION=2.1.0

log() { printf '\033[1m[hrpose install]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[hrpose install] error:\033[0m %s\n' "$*" >&2; exit 1; }

PY="$VENV/bin/python"
PLANNER="$REPO_ROOT/tools/install/install_plan.py"

# What to build, decided by the planner with the environment's torch (after step 2 on a
# first install). Sets PLAN_VARIANT, PLAN_COMPILER, PLAN_NVCC, PLAN_ARCH_LIST,
# PLAN_PIP_PACKAGES and PLAN_MESSAGE.
make_plan() {
  local plan
  plan=$("$PY" "$PLANNER" plan) || die "install plan failed (see the message above)"
  eval "$plan"
}

# The stamp records what the last successful install was made from, the variant of mmcv's
# ops included: a stamp written by a CPU-only install does not match on a GPU node.
stamp_inputs() {
  cat "$REPO_ROOT/tools/install/install.sh" "$PLANNER" "$REPO_ROOT/setup.py" "$REPO_ROOT/setup.cfg" \
    "$REPO_ROOT"/requirements/*.txt 2>/dev/null
  echo "${HRPOSE_MMCV_WHEEL:-}" "$1"
}
STAMP_FILE="$VENV/.hrpose-install-stamp"
if [ -f "$STAMP_FILE" ] && [ -x "$PY" ]; then
  make_plan
  if [ "$(cat "$STAMP_FILE")" = "$(stamp_inputs "$PLAN_VARIANT" | sha256sum | cut -d' ' -f1)" ] &&
     "$PY" "$PLANNER" check-mmcv "$PLAN_VARIANT"; then
    log "environment $VENV is up to date (mmcv ops: $PLAN_VARIANT)"
    exit 0
  fi
fi

# 1. The virtual environment.
if [ ! -x "$PY" ]; then
  PYTHON=${HRPOSE_PYTHON:-$(command -v python3.11 || command -v python3 || true)}
  [ -n "$PYTHON" ] || die "no python3 found; install Python 3.11 or set HRPOSE_PYTHON"
  log "creating virtual environment $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV" || die "could not create $VENV (is the venv module installed? on Debian: apt-get install python3-venv)"
fi
PIP=("$PY" -m pip install --disable-pip-version-check)

# 2. torch first: everything below builds or checks against it.
log "installing build tools and $TORCH_REQ"
"${PIP[@]}" -q "$SETUPTOOLS_REQ" wheel ninja psutil $TORCH_REQ

# 3. mmcv with ops: a given wheel, a cached wheel, or a build from source.
make_plan
log "mmcv ops: $PLAN_MESSAGE"
TORCH_VERSION=$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')
PY_TAG=$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
MMCV_CACHE="$CACHE_DIR/mmcv-$MMCV_VERSION-torch$TORCH_VERSION-$PY_TAG-$PLAN_VARIANT"
SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

# Points CUDA_HOME at the chosen toolkit: the system one, or NVIDIA's PyPI packages, which
# install nvcc, headers and libraries into site-packages/nvidia/cu<major>/.
setup_cuda_toolkit() {
  local work="$1"
  if [ "$PLAN_COMPILER" = system ]; then
    export CUDA_HOME
    CUDA_HOME=$(dirname "$(dirname "$(readlink -f "$PLAN_NVCC")")")
  else
    log "installing NVIDIA's compiler from PyPI: $PLAN_PIP_PACKAGES"
    # shellcheck disable=SC2086
    "${PIP[@]}" -q $PLAN_PIP_PACKAGES || die "could not install $PLAN_PIP_PACKAGES"
    local cuda_major
    cuda_major=$("$PY" -c 'import torch; print(torch.version.cuda.split(".")[0])')
    export CUDA_HOME="$SITE/nvidia/cu$cuda_major"
    [ -x "$CUDA_HOME/bin/nvcc" ] || die "no nvcc at $CUDA_HOME/bin/nvcc after installing $PLAN_PIP_PACKAGES"
    # The packages ship libcudart.so.<major> only; the linker's -lcudart wants libcudart.so.
    mkdir -p "$work/cuda-link"
    ln -sf "$CUDA_HOME/lib/libcudart.so.$cuda_major" "$work/cuda-link/libcudart.so"
    export LIBRARY_PATH="$work/cuda-link${LIBRARY_PATH:+:$LIBRARY_PATH}"
  fi
  export PATH="$CUDA_HOME/bin:$PATH"
  export TORCH_CUDA_ARCH_LIST="$PLAN_ARCH_LIST"
  log "CUDA_HOME=$CUDA_HOME ($("$CUDA_HOME/bin/nvcc" --version | grep -o 'release [0-9.]*')), TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST"
}

build_mmcv_wheel() {
  local work="$1"
  log "building mmcv $MMCV_VERSION with ops ($PLAN_VARIANT) from source, once (the wheel is cached): about 10 minutes on 2 cores for CPU ops, hours for CUDA ops (log: $work/build.log)"
  local src="$work/mmcv-$MMCV_VERSION"
  if [ ! -f "$src/setup.py" ]; then
    "$PY" -m pip download -q --disable-pip-version-check --no-deps --no-build-isolation \
      --no-binary :all: "mmcv==$MMCV_VERSION" -d "$work" ||
      die "could not download the mmcv $MMCV_VERSION source distribution (is the package index reachable?)"
    tar -xzf "$work/mmcv-$MMCV_VERSION.tar.gz" -C "$work"
  else
    log "resuming the build in $src (compiled objects are kept)"
  fi
  # torch >= 2.14 headers: '#error C++20 or later compatible compiler is required'. The same
  # flag reaches g++ ('cxx') and nvcc: setup.py lists both with -std=c++17.
  sed -i 's/-std=c++17/-std=c++20/g; s#/std:c++17#/std:c++20#g' "$src/setup.py"
  grep -q "extra_compile_args\['nvcc'\] += \['-std=c++20'\]" "$src/setup.py" ||
    die "could not raise nvcc's C++ standard in $src/setup.py"
  grep -q -- '-std=c++20' "$src/setup.py" || die "could not raise the C++ standard in $src/setup.py"
  local force_cuda=0
  if [ "$PLAN_VARIANT" != cpu ]; then
    force_cuda=1
    setup_cuda_toolkit "$work"
  fi
  local build_log="$work/build.log"
  if ! (cd "$src" && MMCV_WITH_OPS=1 FORCE_CUDA=$force_cuda MAX_JOBS=${MAX_JOBS:-$(nproc)} \
        "$PY" -m pip wheel --no-deps --no-build-isolation -w "$work/dist" . >>"$build_log" 2>&1); then
    echo "----- last compiler messages (full log: $build_log) -----" >&2
    grep -E -B2 -A6 'error:|Error ' "$build_log" | tail -n 40 >&2 || tail -n 40 "$build_log" >&2
    die "the mmcv $MMCV_VERSION build failed. Check that g++ (>= 10, for C++20) and the Python \
headers are installed (Debian: apt-get install g++ python3-dev), or build mmcv elsewhere and \
point HRPOSE_MMCV_WHEEL at the wheel. Running make install again resumes the build."
  fi
  mkdir -p "$MMCV_CACHE"
  cp "$work"/dist/mmcv-*.whl "$MMCV_CACHE/"
  # The log and ninja's per-file compile times stay beside the wheel.
  cp "$build_log" "$MMCV_CACHE/build.log"
  find "$src/build" -name .ninja_log -exec cp {} "$MMCV_CACHE/ninja_log.txt" \; 2>/dev/null || true
  log "cached $(basename "$work"/dist/mmcv-*.whl) in $MMCV_CACHE"
}

MMCV_WHEEL=()
if [ -n "${HRPOSE_MMCV_WHEEL:-}" ]; then
  [ -f "$HRPOSE_MMCV_WHEEL" ] || die "HRPOSE_MMCV_WHEEL=$HRPOSE_MMCV_WHEEL: no such file"
  log "using the given mmcv wheel $HRPOSE_MMCV_WHEEL"
  MMCV_WHEEL=("$HRPOSE_MMCV_WHEEL")
elif "$PY" "$PLANNER" check-mmcv "$PLAN_VARIANT" 2>/dev/null; then
  log "mmcv $MMCV_VERSION with $PLAN_VARIANT ops already installed"
else
  if ! ls "$MMCV_CACHE"/mmcv-*.whl >/dev/null 2>&1; then
    # A CUDA build runs for hours: it works in a folder that survives an interruption, and
    # running the install again resumes it (ninja recompiles only what is missing).
    work="$CACHE_DIR/build-mmcv-$MMCV_VERSION-torch$TORCH_VERSION-$PY_TAG-$PLAN_VARIANT"
    mkdir -p "$work"
    build_mmcv_wheel "$work"
    rm -rf "$work"
  else
    log "reusing cached mmcv wheel from $MMCV_CACHE"
  fi
  MMCV_WHEEL=("$MMCV_CACHE"/mmcv-*.whl)
fi

# 4. The rest of the stack, then mmcv without its declared dependencies: a wheel built where
# opencv-python-headless was absent asks for opencv-python, a second copy of cv2 that would
# overwrite the headless one; mmcv's real needs are listed in requirements/runtime.txt.
log "installing mmengine, mmdet, pycocotools, mmcv, the test tools and the ONNX tools"
"${PIP[@]}" -q -r "$REPO_ROOT/requirements/runtime.txt" -r "$REPO_ROOT/requirements/tests.txt" \
  -r "$REPO_ROOT/requirements/deploy.txt"
if [ ${#MMCV_WHEEL[@]} -gt 0 ]; then
  "${PIP[@]}" -q --no-deps --force-reinstall "${MMCV_WHEEL[@]}"
fi
if "$PY" -m pip show -q opencv-python >/dev/null 2>&1; then
  "$PY" -m pip uninstall -q -y opencv-python
  "${PIP[@]}" -q --force-reinstall --no-deps "$(grep -E '^opencv-python-headless' "$REPO_ROOT/requirements/runtime.txt")"
fi
"$PY" "$PLANNER" check-mmcv "$PLAN_VARIANT" ||
  die "mmcv $MMCV_VERSION is installed but its ops do not import or are not $PLAN_VARIANT ops; remove $MMCV_CACHE and run again"
log "installing hrpose (editable)"
"${PIP[@]}" -q --no-deps --no-build-isolation -e "$REPO_ROOT"
"$PY" -c 'import hrpose; print("hrpose", hrpose.__version__, "ready")' ||
  die "hrpose does not import after the install"

stamp_inputs "$PLAN_VARIANT" | sha256sum | cut -d' ' -f1 >"$STAMP_FILE"
log "done (mmcv ops: $PLAN_VARIANT): activate with 'source $VENV/bin/activate'"
