#!/usr/bin/env bash
# Installs hrpose and its whole stack into a virtual environment inside the repository.
#
#   tools/install.sh            # idempotent: does nothing when the environment is up to date
#
# Environment variables:
#   HRPOSE_VENV         where the virtual environment lives (default: <repo>/.venv)
#   HRPOSE_PYTHON       the interpreter that creates it (default: python3.11, else python3)
#   HRPOSE_MMCV_WHEEL   path to a prebuilt mmcv 2.1.0 wheel (with ops) to install instead of
#                       building one
#   HRPOSE_MMCV_CUDA    1: build mmcv's CUDA ops too; 0: CPU ops only; unset: CUDA ops when
#                       nvcc is on PATH, torch is a CUDA build and a GPU is visible
#   HRPOSE_CACHE_DIR    where built mmcv wheels are kept (default: ~/.cache/hrpose)
#   MAX_JOBS            parallel compile jobs for the mmcv build (default: number of cores)
#
# mmcv publishes no wheels for recent torch, so mmcv 2.1.0 is built from its source
# distribution with ops. Two fixes are needed for torch 2.14: its headers require C++20
# (mmcv's setup.py hard-codes -std=c++17) and mmcv's setup.py imports pkg_resources, which
# setuptools 81 dropped (torch 2.14 wants setuptools >= 77). The build takes about
# 10 minutes on 2 cores; the wheel is cached per mmcv/torch/Python/device variant.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${HRPOSE_VENV:-$REPO_ROOT/.venv}
# The mmcv build runs from another folder: the environment's path must be absolute.
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV" ;; esac
CACHE_DIR=${HRPOSE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hrpose}

TORCH_REQ="torch==2.14.1 torchvision==0.29.1"
SETUPTOOLS_REQ="setuptools>=77,<81"
MMCV_VERSION=2.1.0

log() { printf '\033[1m[hrpose install]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[hrpose install] error:\033[0m %s\n' "$*" >&2; exit 1; }

# The stamp records what the last successful install was made from; when nothing changed
# the whole install is skipped, so `make test` costs nothing extra on the second run.
stamp_inputs() {
  cat "$REPO_ROOT/tools/install.sh" "$REPO_ROOT/setup.py" "$REPO_ROOT/setup.cfg" \
    "$REPO_ROOT"/requirements/*.txt 2>/dev/null
  echo "${HRPOSE_MMCV_WHEEL:-}" "${HRPOSE_MMCV_CUDA:-}"
}
STAMP_FILE="$VENV/.hrpose-install-stamp"
STAMP=$(stamp_inputs | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP_FILE" ] && [ "$(cat "$STAMP_FILE")" = "$STAMP" ] && [ -x "$VENV/bin/python" ]; then
  log "environment $VENV is up to date"
  exit 0
fi

# 1. The virtual environment.
if [ ! -x "$VENV/bin/python" ]; then
  PYTHON=${HRPOSE_PYTHON:-$(command -v python3.11 || command -v python3 || true)}
  [ -n "$PYTHON" ] || die "no python3 found; install Python 3.11 or set HRPOSE_PYTHON"
  log "creating virtual environment $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV" || die "could not create $VENV (is the venv module installed? on Debian: apt-get install python3-venv)"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check)

# 2. torch first: everything below builds or checks against it.
log "installing build tools and $TORCH_REQ"
"${PIP[@]}" -q "$SETUPTOOLS_REQ" wheel ninja psutil $TORCH_REQ

# 3. mmcv with ops: a given wheel, a cached wheel, or a build from source.
TORCH_VERSION=$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')
TORCH_CUDA=$("$PY" -c 'import torch; print(torch.version.cuda or "")')
PY_TAG=$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')

want_cuda_ops() {
  case "${HRPOSE_MMCV_CUDA:-}" in
    1) return 0 ;;
    0) return 1 ;;
  esac
  # A CUDA toolkit alone is not enough: compiling the CUDA kernels on a machine that cannot
  # run them costs an hour on a small CPU for nothing.
  [ -n "$TORCH_CUDA" ] && command -v nvcc >/dev/null 2>&1 &&
    "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'
}
if want_cuda_ops; then
  [ -n "$TORCH_CUDA" ] || die "HRPOSE_MMCV_CUDA=1 but torch $TORCH_VERSION is a CPU build"
  command -v nvcc >/dev/null 2>&1 || die "HRPOSE_MMCV_CUDA=1 but nvcc is not on PATH"
  VARIANT="cu${TORCH_CUDA//./}"
else
  VARIANT=cpu
fi
MMCV_CACHE="$CACHE_DIR/mmcv-$MMCV_VERSION-torch$TORCH_VERSION-$PY_TAG-$VARIANT"

mmcv_ops_ok() {
  "$PY" - <<'EOF' 2>/dev/null
import sys
import mmcv
from mmcv.ops import RoIAlign, nms, soft_nms  # noqa: F401  (fails when ops were not built)
sys.exit(0 if mmcv.__version__ == '2.1.0' else 1)
EOF
}

build_mmcv_wheel() {
  local work="$1"
  log "building mmcv $MMCV_VERSION with ops ($VARIANT) from source: 10 to 30 minutes on 2 cores, once (the wheel is cached)"
  "$PY" -m pip download -q --disable-pip-version-check --no-deps --no-build-isolation \
    --no-binary :all: "mmcv==$MMCV_VERSION" -d "$work" ||
    die "could not download the mmcv $MMCV_VERSION source distribution (is the package index reachable?)"
  tar -xzf "$work/mmcv-$MMCV_VERSION.tar.gz" -C "$work"
  local src="$work/mmcv-$MMCV_VERSION"
  # torch >= 2.14 headers: '#error C++20 or later compatible compiler is required'.
  sed -i 's/-std=c++17/-std=c++20/g; s#/std:c++17#/std:c++20#g' "$src/setup.py"
  grep -q -- '-std=c++20' "$src/setup.py" || die "could not raise the C++ standard in $src/setup.py"
  local force_cuda=0
  [ "$VARIANT" = cpu ] || force_cuda=1
  local build_log="$work/build.log"
  if ! (cd "$src" && MMCV_WITH_OPS=1 FORCE_CUDA=$force_cuda MAX_JOBS=${MAX_JOBS:-$(nproc)} \
        "$PY" -m pip wheel --no-deps --no-build-isolation -w "$work/dist" . >"$build_log" 2>&1); then
    echo "----- last compiler messages (full log: $build_log) -----" >&2
    grep -E -B2 -A6 'error:|Error ' "$build_log" | tail -n 40 >&2 || tail -n 40 "$build_log" >&2
    die "the mmcv $MMCV_VERSION build failed. Check that g++ (>= 10, for C++20) and the Python \
headers are installed (Debian: apt-get install g++ python3-dev), or build mmcv elsewhere and \
point HRPOSE_MMCV_WHEEL at the wheel."
  fi
  mkdir -p "$MMCV_CACHE"
  cp "$work"/dist/mmcv-*.whl "$MMCV_CACHE/"
  log "cached $(basename "$work"/dist/mmcv-*.whl) in $MMCV_CACHE"
}

MMCV_WHEEL=()
if [ -n "${HRPOSE_MMCV_WHEEL:-}" ]; then
  [ -f "$HRPOSE_MMCV_WHEEL" ] || die "HRPOSE_MMCV_WHEEL=$HRPOSE_MMCV_WHEEL: no such file"
  log "using the given mmcv wheel $HRPOSE_MMCV_WHEEL"
  MMCV_WHEEL=("$HRPOSE_MMCV_WHEEL")
elif mmcv_ops_ok; then
  log "mmcv $MMCV_VERSION with ops already installed"
else
  if ! ls "$MMCV_CACHE"/mmcv-*.whl >/dev/null 2>&1; then
    work=$(mktemp -d "${TMPDIR:-/tmp}/hrpose-mmcv-build.XXXXXX")
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
log "installing mmengine, mmdet, pycocotools, mmcv and the test tools"
"${PIP[@]}" -q -r "$REPO_ROOT/requirements/runtime.txt" -r "$REPO_ROOT/requirements/tests.txt"
if [ ${#MMCV_WHEEL[@]} -gt 0 ]; then
  "${PIP[@]}" -q --no-deps --force-reinstall "${MMCV_WHEEL[@]}"
fi
if "$PY" -m pip show -q opencv-python >/dev/null 2>&1; then
  "$PY" -m pip uninstall -q -y opencv-python
  "${PIP[@]}" -q --force-reinstall --no-deps "$(grep -E '^opencv-python-headless' "$REPO_ROOT/requirements/runtime.txt")"
fi
mmcv_ops_ok || die "mmcv $MMCV_VERSION is installed but its ops do not import; remove $MMCV_CACHE and run again"
log "installing hrpose (editable)"
"${PIP[@]}" -q --no-deps --no-build-isolation -e "$REPO_ROOT"
"$PY" -c 'import hrpose; print("hrpose", hrpose.__version__, "ready")' ||
  die "hrpose does not import after the install"

echo "$STAMP" >"$STAMP_FILE"
log "done: activate with 'source $VENV/bin/activate'"
