#!/usr/bin/env bash
# Configures and builds slimfit into build/ (or $SLIMFIT_BUILD_DIR). Extra args go to make.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${SLIMFIT_BUILD_DIR:-$root/build}"
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
jobs="${SLIMFIT_JOBS:-$(nproc)}"
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo ${SLIMFIT_CMAKE_ARGS:-} >/dev/null
fi
cmake --build "$build" -j "$jobs" -- "$@"
