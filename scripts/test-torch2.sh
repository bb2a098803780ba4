#!/usr/bin/env bash
# slimfit against libtorch 2.x, the libtorch every GPU user has: builds slimfit and its tests
# against PyPI's torch wheel (scripts/fetch-torch2.sh) and runs the CPU suite as scripts/test.sh
# does. Default build: Debian's libtorch 1.13, which this does not touch.
#
#   scripts/test-torch2.sh          CPU: build-torch2/, then the whole ctest suite
#   scripts/test-torch2.sh --cuda   CUDA-enabled (SLIMFIT_CUDA=ON, nvcc): build-torch2-cuda/,
#                                   compile and link only (this machine has no GPU)
#
# The wheel is a CUDA build (2.15.0+cu132), so:
#  - CPU: its TorchConfig.cmake insists on CUDA and its libtorch.so loads libtorch_cuda.so,
#    whose cuFile/cuSPARSELt/NVSHMEM libraries only the nvidia-* wheels bring. The build links
#    libtorch_cpu.so and libc10.so directly instead (SLIMFIT_TORCH_ROOT,
#    cmake/TorchCpuLibraries.cmake); they need libcudart.so.13 and libcupti.so.13 from a CUDA 13
#    toolkit (CUDA_HOME, else /usr/local/cuda).
#  - --cuda: find_package(Torch) through the wheel's own TorchConfig.cmake and the local CUDA
#    toolkit, as a GPU machine builds. The libraries of libtorch_cuda.so that no toolkit holds
#    are left unresolved with -Wl,--allow-shlib-undefined rather than downloading the matching
#    nvidia-* wheels: every symbol slimfit uses is still resolved (torch's libraries are all
#    there), and a GPU machine's loader finds the rest in its own nvidia-* packages.
# The wheel's C++ ABI is the new one (std::__cxx11, as Debian's gcc), so Debian's GoogleTest,
# HDF5, Open MPI and nlohmann-json link unchanged. libtorch 2.x headers need C++20.
# Knobs: TORCH2_VERSION, TORCH2_WHEEL, TORCH2_DIR (scripts/fetch-torch2.sh), SLIMFIT_JOBS (nproc).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mode=cpu
case "${1:-}" in
  "") ;;
  --cuda) mode=cuda ;;
  *) echo "usage: scripts/test-torch2.sh [--cuda]" >&2; exit 2 ;;
esac
jobs="${SLIMFIT_JOBS:-$(nproc)}"
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime

"$root/scripts/setup.sh"
torch="$("$root/scripts/fetch-torch2.sh")"
echo "test-torch2: libtorch from $torch (cmake names its version below)"

if [ "$mode" = cpu ]; then
  build="$root/build-torch2"
  args=(-DSLIMFIT_TORCH_ROOT="$torch" -DSLIMFIT_CUDA=OFF)
else
  build="$root/build-torch2-cuda"
  cuda_home="${CUDA_HOME:-/usr/local/cuda}"
  [ -x "$cuda_home/bin/nvcc" ] || { echo "test-torch2: no nvcc under $cuda_home (set CUDA_HOME)" >&2; exit 1; }
  # Caffe2_DIR, TORCH_LIBRARY, c10_LIBRARY too: TorchConfig.cmake looks for them with PATHS,
  # which come after the system folders, so Debian's libtorch 1.13 would win.
  args=(-DTorch_DIR="$torch/share/cmake/Torch" -DCaffe2_DIR="$torch/share/cmake/Caffe2"
        -DTORCH_LIBRARY="$torch/lib/libtorch.so" -Dc10_LIBRARY="$torch/lib/libc10.so" -DSLIMFIT_CUDA=ON
        -DCMAKE_CUDA_COMPILER="$cuda_home/bin/nvcc" -DCMAKE_CUDA_ARCHITECTURES=90
        "-DCMAKE_EXE_LINKER_FLAGS=-Wl,--allow-shlib-undefined"
        # The test binaries cannot start here (libtorch_cuda.so's libraries): list their cases
        # when ctest runs, on a GPU machine, not after each link.
        -DCMAKE_GTEST_DISCOVER_TESTS_DISCOVERY_MODE=PRE_TEST)
fi

start=$(date +%s)
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${args[@]}" > "$build.cmake.log" 2>&1 ||
  { tail -30 "$build.cmake.log" >&2; echo "test-torch2: cmake failed ($build.cmake.log)" >&2; exit 1; }
grep "slimfit: torch" "$build.cmake.log"
found="$(sed -n 's/^TORCH_LIBRARY:FILEPATH=//p' "$build/CMakeCache.txt")"
if [ "$mode" = cuda ] && [[ "$found" != "$torch/lib/"* ]]; then
  echo "test-torch2: cmake took libtorch from '$found', not from $torch/lib" >&2
  exit 1
fi
cmake --build "$build" -j "$jobs"
echo "test-torch2: $mode build took $(( $(date +%s) - start )) s"

if [ "$mode" = cuda ]; then
  # Nothing runs without a GPU; the link above is the check. The CUDA cases need a GPU machine:
  # benchmarks/gpu_check.sh.
  grep -q "torch CUDA=ON" "$build.cmake.log" ||
    { echo "test-torch2: the wheel's libtorch did not come with CUDA" >&2; exit 1; }
  echo "test-torch2: CUDA-enabled build of slimfit and its tests compiled and linked"
  exit 0
fi
cd "$build"
start=$(date +%s)
# As scripts/test.sh: one intra-op thread per test, tests in parallel.
OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" ctest --output-on-failure -j "$jobs"
echo "test-torch2: ctest took $(( $(date +%s) - start )) s"
