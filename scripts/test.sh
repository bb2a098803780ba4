#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what is missing, builds, runs ctest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
cd "${SLIMFIT_BUILD_DIR:-$root/build}"
# ctest runs tests in parallel: one intra-op thread each, so they do not oversubscribe the cores.
OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" ctest --output-on-failure -j "${SLIMFIT_JOBS:-$(nproc)}"
