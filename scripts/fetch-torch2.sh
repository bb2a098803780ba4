#!/usr/bin/env bash
# Fetches PyPI's torch wheel (libtorch 2.x, a CUDA build) and unpacks its libtorch: torch/lib,
# torch/include and torch/share, nothing of the Python package. Prints the unpacked torch/ folder,
# which holds share/cmake/Torch. Used by scripts/test-torch2.sh and benchmarks/gpu_check.sh
# --dry-run; both reuse what an earlier run left.
#
# The wheel (about 540 MB) is kept in $TORCH2_DIR (default .torch2/, ignored by git) and
# downloaded only when missing, with `pip download --no-deps`: the nvidia-* wheels it requires
# are not needed to build, nor to run on CPU. The libtorch inside does not depend on the Python
# version, so the cp311 wheel is pinned whatever python3 this machine has.
# Knobs: TORCH2_VERSION (2.15.0), TORCH2_WHEEL (an existing wheel: no download), TORCH2_DIR.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="${TORCH2_VERSION:-2.15.0}"
dir="${TORCH2_DIR:-$root/.torch2}"
fail() { echo "fetch-torch2: $*" >&2; exit 1; }

wheel="${TORCH2_WHEEL:-}"
if [ -n "$wheel" ]; then
  [ -f "$wheel" ] || fail "TORCH2_WHEEL=$wheel is not a file"
else
  wheel="$dir/torch-$version-cp311-cp311-manylinux_2_28_x86_64.whl"
  if [ ! -f "$wheel" ]; then
    echo "fetch-torch2: downloading torch==$version (cp311, manylinux_2_28, ~540 MB) into $dir" >&2
    mkdir -p "$dir"
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.11 \
      --implementation cp --platform manylinux_2_28_x86_64 -q -d "$dir.part" "torch==$version" >&2 ||
      fail "pip download torch==$version failed (is PyPI reachable?)"
    mv "$dir.part"/torch-"$version"*.whl "$wheel" && rmdir "$dir.part"
  fi
fi

# One folder per wheel, so a different version or wheel never mixes with an earlier one.
dest="$dir/$(basename "$wheel" .whl)"
if [ ! -f "$dest/.unpacked" ]; then
  echo "fetch-torch2: unpacking the libtorch of $(basename "$wheel") into $dest" >&2
  rm -rf "$dest" && mkdir -p "$dest"
  unzip -q -o "$wheel" 'torch/lib/*' 'torch/include/*' 'torch/share/*' -d "$dest" ||
    fail "unzip of $wheel failed"
  [ -f "$dest/torch/share/cmake/Torch/TorchConfig.cmake" ] ||
    fail "$wheel holds no torch/share/cmake/Torch/TorchConfig.cmake: not a libtorch wheel"
  touch "$dest/.unpacked"
fi
echo "$dest/torch"
