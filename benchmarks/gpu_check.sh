#!/usr/bin/env bash
# The GPU check, sized for one unattended call on a GPU lent for 15 minutes: the machine is bare
# and offline (nvcc 13, CMake, python3 with a CUDA PyTorch and the nvidia-nccl wheel; no Open MPI,
# HDF5, nlohmann-json or GoogleTest), so it brings those as Debian packages and unpacks them with
# `dpkg -x` into a private prefix. Every stage runs under its own time limit inside one overall
# deadline, so a hang costs a stage, never the loan. Results go to ONE JSON and ONE log.
#
#   benchmarks/gpu_check.sh --prepare   here: downloads the .deb files into .gpu-carry/ (ignored)
#   benchmarks/gpu_check.sh --dry-run   here: everything without a GPU (see below); must pass
#   benchmarks/gpu_check.sh             on the GPU machine: the check itself
#
# The device call (after --prepare here; .gpu-carry/ is about 20 MiB of the 64 MiB a call carries):
#   run(command="benchmarks/gpu_check.sh", carry=[".gpu-carry"], timeout_s=480)
# It writes $OUT/gpu_check.json and $OUT/gpu_check.log when OUT is set (the device tool's result
# folder), else benchmarks/results/gpu_check.json and build-gpu/gpu_check.log.
#
# Stages (limits in seconds; the whole stays under GPU_CHECK_BUDGET, 345 by default, 7200 for
# --dry-run):
#   carry     unpack .gpu-carry/*.deb into build-gpu/carry (dpkg -x); check the relocated mpirun
#   build     configure and build slimfit and the three test binaries that hold CUDA cases,
#             against python3's torch (Release -O1, CMAKE_CUDA_ARCHITECTURES=90, NCCL from the
#             nvidia-nccl wheel)
#   ctest     ctest's CUDA cases: the op tests' *_cuda cases, the CPU-against-CUDA byte-identity
#             cases (CpuCudaBytes) and the memory ledger's (MemoryCuda); a skipped case counts
#             as a failure here, since skipping means no GPU was seen
#   measure   peak CUDA memory and warm step time, baseline against SlimFit: `slimfit memory
#             --device cuda` (bert-base seq 128, vit-b16 224 px, batch 128); the NCCL backend
#             with one rank under the carried mpirun (`slimfit train backend=nccl`, also with
#             offload_optimizer); the peer, PyTorch + transformers on the same shapes
#   accuracy  baseline against SlimFit (freeze_ratio 0.9, compressed), bert-tiny on
#             synthetic-pairs (a task a model must read both segments to solve): same data,
#             steps, evaluation and seed for both arms; passes when both exceed 75%
# --dry-run does here what needs no GPU: unpacks the carry exactly as the device does, builds the
# same targets CUDA-enabled against libtorch 2.x (PyPI's wheel via scripts/fetch-torch2.sh, since
# python3 here has no torch; linked as scripts/test-torch2.sh --cuda does) with MPI, HDF5,
# nlohmann-json and GoogleTest taken ONLY from the carry, then checks that every library the
# built binaries and the carried programs load resolves into the carry (or glibc/libstdc++,
# torch, CUDA), and that the carried mpirun runs relocated; then prints the commands the GPU
# stages would run.
# Knobs: GPU_BATCH (128), GPU_SEQ (128), GPU_STEPS (timed, 5), GPU_CHECK_BUDGET (345),
# GPU_BUILD_DIR, GPU_JOBS (nproc), GPU_CHECK_OUT, GPU_CHECK_LOG.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
self="$root/benchmarks/gpu_check.sh"
carry_dir="$root/.gpu-carry"
fail() { echo "gpu_check: $*" >&2; exit 1; }

# Debian 12 (bookworm) packages: headers and CMake files to build, and the shared libraries
# (with their own dependencies, down to glibc) to run. Open MPI's transport plugins (libfabric,
# UCX, verbs, PSM) come along so that loading them cannot fail there.
carry_packages=(
  libopenmpi-dev libhdf5-dev nlohmann-json3-dev libgtest-dev zlib1g-dev
  libopenmpi3 openmpi-bin openmpi-common libpmix2 libmunge2 libhwloc15 libudev1 zlib1g
  libevent-core-2.1-7 libevent-pthreads-2.1-7
  libfabric1 libucx0 libibverbs1 librdmacm1 libnl-3-200 libnl-route-3-200 libpsm2-2
  libpsm-infinipath1 libnuma1 libatomic1 libuuid1 ibverbs-providers
  libhdf5-103-1 libsz2 libaec0 libcurl4 libbrotli1 libgssapi-krb5-2 libidn2-0 libldap-2.5-0
  libnghttp2-14 libpsl5 librtmp1 libssh2-1 libssl3 libzstd1 libgnutls30 libgmp10 libhogweed6
  libnettle8 libp11-kit0 libtasn1-6 libunistring2 libffi8 libsasl2-2 libsasl2-modules-db libdb5.3
  libcom-err2 libk5crypto3 libkeyutils1 libkrb5-3 libkrb5support0
)
carry_max_mib=40  # leaves the tree (about 7 MiB) and room to spare under the 64 MiB a call carries

mode="${1:-check}"
case "$mode" in
  check | --prepare | --dry-run | --stage) ;;
  *) echo "usage: benchmarks/gpu_check.sh [--prepare | --dry-run]" >&2; exit 2 ;;
esac

if [ "$mode" = --prepare ]; then
  command -v apt-get > /dev/null || fail "--prepare needs apt-get (Debian 12)"
  rm -rf "$carry_dir.part" && mkdir -p "$carry_dir.part"
  (cd "$carry_dir.part" && apt-get download "${carry_packages[@]}") ||
    fail "apt-get download failed (run apt-get update first?)"
  mib=$(( $(du -sb "$carry_dir.part" | cut -f1) / 1048576 ))
  (( mib <= carry_max_mib )) || fail "the carry is ${mib} MiB, over its ${carry_max_mib} MiB"
  rm -rf "$carry_dir" && mv "$carry_dir.part" "$carry_dir"
  echo "gpu_check: $(ls "$carry_dir"/*.deb | wc -l) packages, ${mib} MiB in $carry_dir"
  exit 0
fi

# --- what every stage shares (derived again in each, since each runs as its own process) ------
dry=false
[ "$mode" = --dry-run ] && dry=true
[ "$mode" = --stage ] && dry="${GPU_CHECK_DRY:-false}"
if $dry; then build="${GPU_BUILD_DIR:-$root/build-gpu-dry}"; else build="${GPU_BUILD_DIR:-$root/build-gpu}"; fi
prefix="$build/carry"
work="$build/check"
batch="${GPU_BATCH:-128}" seq="${GPU_SEQ:-128}" steps="${GPU_STEPS:-5}"
# The last two are where Debian's alternatives and UCX keep plugin libraries.
libdirs="$prefix/usr/lib/x86_64-linux-gnu:$prefix/lib/x86_64-linux-gnu:$prefix/usr/lib/libpsm1"
libdirs+=":$prefix/usr/lib/x86_64-linux-gnu/ucx"
bin="$build/slimfit"
cuda_regex='_cuda$|^Codecs/CpuCudaBytes\.|^MemoryCuda\.'
test_targets=(slimfit test_slimfit_ops test_codecs test_memory)

# Without .gpu-carry/ (docker/Dockerfile's image has the libraries installed) the machine's own
# packages are used, and with_carry runs commands unchanged.
use_carry=false
ls "$carry_dir"/*.deb > /dev/null 2>&1 && use_carry=true
$dry && ! $use_carry && fail "no .deb files in $carry_dir: run benchmarks/gpu_check.sh --prepare first"

# Runs a command with the carried libraries and the relocated Open MPI; nothing else sees them,
# so python3 and its torch keep the machine's own libraries.
with_carry() {
  if ! $use_carry; then "$@"; return; fi
  LD_LIBRARY_PATH="$libdirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" OPAL_PREFIX="$prefix/usr" \
    PATH="$prefix/usr/bin:$PATH" OMPI_MCA_mca_base_component_show_load_errors=0 "$@"
}

accuracy_args() {  # accuracy_args ARM: the train command line of one arm of the accuracy smoke
  local common=(train device=cuda model=bert-tiny data=synthetic-pairs:4000 seq_len=64 batch=32
                lr=2e-3 steps=150 max_eval=800 log_every=50 seed=0)
  case "$1" in
    baseline) echo "${common[*]} freeze_ratio=0 compress=false" ;;
    slimfit) echo "${common[*]} freeze_ratio=0.9 compress=true" ;;
  esac
}

stage_carry() {
  if ! $use_carry; then
    echo "carry: no .gpu-carry/*.deb: using this machine's Open MPI, HDF5, nlohmann-json, GoogleTest"
    return
  fi
  rm -rf "$prefix" && mkdir -p "$prefix"
  local deb
  for deb in "$carry_dir"/*.deb; do
    if command -v dpkg > /dev/null; then
      dpkg -x "$deb" "$prefix" || fail "dpkg -x $deb failed"
    else  # not a Debian-based image: a .deb is an ar archive around data.tar.*
      (cd "$prefix" && ar p "$deb" "$(ar t "$deb" | grep '^data\.tar')" | tar -xJ) ||
        fail "unpacking $deb with ar and tar failed"
    fi
  done
  # Debian points these at /etc/alternatives, which dpkg -x does not create.
  ln -sf libmpi.so.40 "$prefix/usr/lib/x86_64-linux-gnu/libmpi.so"
  ln -sf orterun "$prefix/usr/bin/mpirun"
  ln -sf libpsm_infinipath.so.1.16 "$prefix/usr/lib/libpsm1/libpsm_infinipath.so.1"
  # Relocated, Open MPI must find its plugins under the prefix, not a system copy.
  local pkglib
  pkglib="$(with_carry ompi_info --parsable --path pkglibdir | sed -n 's/^path:pkglibdir://p')"
  [[ "$pkglib" == "$prefix"/* ]] || fail "the carried Open MPI looks for its plugins in '$pkglib'"
  with_carry mpirun --allow-run-as-root -np 1 true || fail "the carried mpirun cannot start a process"
  echo "carry: $(ls "$carry_dir"/*.deb | wc -l) packages unpacked into $prefix; mpirun runs relocated"
}

stage_build() {
  local torch_dir nvcc nccl=()
  nvcc="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
  [ -x "$nvcc" ] || fail "nvcc not found"
  if $dry; then
    torch_dir="$("$root/scripts/fetch-torch2.sh")/share/cmake/Torch"
    local cuda_home; cuda_home="$(dirname "$(dirname "$nvcc")")"
    nccl=(-DNCCL_INCLUDE_DIR="$cuda_home/include" -DNCCL_LIBRARY="$cuda_home/lib64/libnccl.so.2")
  else
    torch_dir="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')/Torch"
    # The nvidia-nccl wheel ships libnccl.so.2 only, which find_library(nccl) does not match.
    local nccl_home
    nccl_home="$(python3 -c 'import nvidia.nccl as m; print(list(m.__path__)[0])' 2>/dev/null || true)"
    if [ -n "$nccl_home" ] && [ -f "$nccl_home/include/nccl.h" ] && [ -f "$nccl_home/lib/libnccl.so.2" ]; then
      nccl=(-DNCCL_INCLUDE_DIR="$nccl_home/include" -DNCCL_LIBRARY="$nccl_home/lib/libnccl.so.2")
    else
      echo "build: no nvidia-nccl wheel with headers found: the NCCL backend is left out" >&2
    fi
  fi
  local torch_lib; torch_lib="$(cd "$torch_dir/../../../lib" && pwd)"
  local lib="$prefix/usr/lib/x86_64-linux-gnu" deps=() link="-Wl,--allow-shlib-undefined"
  # Every dependency named explicitly inside the carry, and no compiler wrappers (mpicc, h5cc),
  # which would report the paths Debian was built for. The compilers and cmake run without the
  # carry's libraries (Debian's libzstd or libcurl could be older than what they were built
  # against there); the linker is shown where the carried libraries' own dependencies are.
  $use_carry && link+=" -Wl,-rpath-link,$libdirs" && deps=(
    -DMPI_SKIP_COMPILER_WRAPPER=ON -DMPI_SKIP_GUESSING=ON -DMPI_C_LIB_NAMES=mpi
    -DMPI_mpi_LIBRARY="$lib/libmpi.so.40" -DMPI_C_HEADER_DIR="$lib/openmpi/include"
    -DMPIEXEC_EXECUTABLE="$prefix/usr/bin/mpirun"
    -DHDF5_ROOT="$lib/hdf5/serial" -DHDF5_NO_FIND_PACKAGE_CONFIG_FILE=ON
    -DGTest_DIR="$lib/cmake/GTest" -Dnlohmann_json_DIR="$prefix/usr/share/cmake/nlohmann_json"
    -DZLIB_ROOT="$prefix/usr")
  # Caffe2_DIR, TORCH_LIBRARY, c10_LIBRARY: TorchConfig.cmake looks for them with PATHS, which
  # come after the system folders, so a system libtorch (Debian's 1.13 here) would otherwise win.
  # Tests are discovered when ctest runs, so the build never has to run a CUDA program. As
  # scripts/test-torch2.sh --cuda, libraries that libtorch_cuda.so needs are not looked for at
  # link time (here the wheel's nvidia-* libraries are absent; there, a library the linker
  # cannot place must not cost the loan: ctest loads everything anyway).
  # A fresh configure each time (objects are kept): a cache from another configuration, say one
  # that saw this machine's libraries, would outlive it.
  rm -f "$build/CMakeCache.txt"
  # pkg-config is kept blind: FindMPI asks it before anything else, and it would answer with
  # this machine's Open MPI, or with the carried one's paths before relocation.
  PKG_CONFIG_LIBDIR="$prefix/no-pkgconfig" PKG_CONFIG_PATH="" \
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -DNDEBUG" -DSLIMFIT_CUDA=ON -DCMAKE_CUDA_COMPILER="$nvcc" \
    -DCMAKE_CUDA_ARCHITECTURES=90 -DTorch_DIR="$torch_dir" -DCaffe2_DIR="$torch_dir/../Caffe2" \
    -DTORCH_LIBRARY="$torch_lib/libtorch.so" -Dc10_LIBRARY="$torch_lib/libc10.so" "${nccl[@]}" \
    -DCMAKE_EXE_LINKER_FLAGS="$link" \
    -DCMAKE_GTEST_DISCOVER_TESTS_DISCOVERY_MODE=PRE_TEST "${deps[@]}" > "$work/cmake.log" 2>&1 ||
    { tail -40 "$work/cmake.log"; fail "cmake failed ($work/cmake.log)"; }
  grep "slimfit: torch" "$work/cmake.log"
  grep -q "torch CUDA=ON" "$work/cmake.log" || fail "configured without CUDA tensors"
  local found; found="$(sed -n 's/^TORCH_LIBRARY:FILEPATH=//p' "$build/CMakeCache.txt")"
  [[ "$found" == "$torch_lib"/* ]] || fail "cmake took libtorch from '$found', not from $torch_lib"
  cmake --build "$build" -j "${GPU_JOBS:-$(nproc)}" --target "${test_targets[@]}" \
    > "$work/build.log" 2>&1 || { grep -m 30 -E "error|Error|fatal" "$work/build.log"; fail "build failed"; }
  echo "build: ${test_targets[*]}"
}

# The dry-run's proof that the build took nothing from this machine that the device lacks.
stage_closure() {
  local cache="$build/CMakeCache.txt" bad=0
  for var in MPI_mpi_LIBRARY MPI_C_HEADER_DIR HDF5_C_INCLUDE_DIR HDF5_hdf5_LIBRARY_RELEASE GTest_DIR \
             nlohmann_json_DIR ZLIB_INCLUDE_DIR ZLIB_LIBRARY_RELEASE; do
    local v; v="$(sed -n "s/^$var:[A-Z]*=//p" "$cache")"
    [[ "$v" == "$prefix"/* ]] || { echo "closure: $var=$v is not in the carry"; bad=1; }
  done
  # The compiler's own record of the headers it read: none of these from this machine.
  local leaked
  leaked="$(find "$build" -path "$prefix" -prune -o -type f -name '*.d' -exec grep -l -E \
    '(^| )/usr/(include/(nlohmann|gtest|hdf5|mpi|zlib\.h)|lib/x86_64-linux-gnu/(openmpi|hdf5))' {} + | head -5 || true)"
  [ -z "$leaked" ] || { echo "closure: this machine's MPI/HDF5/JSON/GoogleTest/zlib headers read by: $leaked"; bad=1; }
  # Base libraries any glibc system has, and the libraries of torch and CUDA, which the device
  # brings itself. Anything else must resolve into the carry.
  local base='^(linux-vdso|libc|libm|libdl|libpthread|librt|libresolv|libutil|ld-linux-x86-64|libstdc\+\+|libgcc_s)\.so'
  local torch_lib; torch_lib="$(sed -n 's/^Torch_DIR:[A-Z]*=//p' "$cache")/../../../lib"
  torch_lib="$(readlink -f "$torch_lib")"
  local cuda_lib
  cuda_lib="$(readlink -f "$(dirname "$(dirname "$(sed -n 's/^CMAKE_CUDA_COMPILER:[A-Z]*=//p' "$cache")")")")"
  # The wheel's CUDA libraries missing here (scripts/test-torch2.sh) are python3's torch's there.
  local wheel_only='^(libcufile|libcusparseLt|libnvshmem_host)\.so'
  local files=("$bin" "$build"/tests/test_slimfit_ops "$build"/tests/test_codecs "$build"/tests/test_memory)
  while IFS= read -r f; do files+=("$f"); done < <(find "$prefix" -type f \( -name '*.so*' -o -path '*/usr/bin/*' \) |
    while read -r f; do file -b "$f" | grep -q ELF && echo "$f"; done)
  local f
  for f in "${files[@]}"; do
    while read -r name arrow path _; do
      [ "$arrow" = "=>" ] || continue
      [[ "$name" =~ $base ]] && continue
      if [ "$path" = not ]; then
        [[ "$name" =~ $wheel_only ]] || { echo "closure: $f needs $name: not found"; bad=1; }
        continue
      fi
      case "$(readlink -f "$path")" in
        "$prefix"/* | "$torch_lib"/* | "$cuda_lib"/*) ;;
        *) echo "closure: $f loads $name from $path, outside the carry"; bad=1 ;;
      esac
    done < <(with_carry ldd "$f" 2>/dev/null)
  done
  ((bad == 0)) || fail "the build or the carry depends on this machine (see above)"
  echo "closure: ${#files[@]} binaries and carried libraries load only the carry, torch, CUDA and glibc"
}

stage_ctest() {
  cd "$build"
  # -j 4: each case is its own process with its own CUDA context; more would queue on one GPU.
  with_carry ctest -R "$cuda_regex" -j 4 --timeout 120 --output-on-failure \
    --output-junit "$work/ctest.xml"
}

# Each run that fails is named and the others still run; the stage then fails.
stage_measure() {
  local model method args ok=true
  for model in bert-base vit-b16; do
    for method in baseline slimfit; do
      case $method in
        baseline) args=(--freeze-ratio 0 --no-compress) ;;
        slimfit) args=(--freeze-ratio 0.9) ;;
      esac
      with_carry "$bin" memory --device cuda --model "$model" --batch "$batch" --seq "$seq" \
        --time-steps "$steps" "${args[@]}" --json > "$work/memory-$model-$method.json" ||
        { echo "measure: slimfit memory failed for $model $method" >&2; ok=false
          rm -f "$work/memory-$model-$method.json"; }
    done
  done
  for method in baseline slimfit slimfit_offload; do
    case $method in
      baseline) args=(freeze_ratio=0 compress=false) ;;
      slimfit) args=(freeze_ratio=0.9 compress=true) ;;
      slimfit_offload) args=(freeze_ratio=0.9 compress=true offload_optimizer=true) ;;
    esac
    with_carry mpirun --allow-run-as-root -np 1 "$bin" train device=cuda backend=nccl \
      model=bert-base data=synthetic:4096 "batch=$batch" "seq_len=$seq" "steps=$((steps + 1))" \
      warmup_steps=1 max_eval=256 log_every=1 "${args[@]}" --summary "$work/nccl-$method.json" ||
      { echo "measure: the NCCL leg failed for $method" >&2; ok=false; }
  done
  python3 "$root/benchmarks/gpu_peer.py" "$batch" "$seq" "$steps" > "$work/peer.json" ||
    { echo "measure: the peer failed" >&2; ok=false; rm -f "$work/peer.json"; }
  $ok
}

stage_accuracy() {
  local arm
  for arm in baseline slimfit; do
    # shellcheck disable=SC2046
    with_carry "$bin" $(accuracy_args "$arm") --summary "$work/accuracy-$arm.json"
  done
  # Both arms must have learned the task (tests/unit/test_cli_use.cpp asks the same of the
  # baseline on CPU at a smaller schedule); their difference is reported, not judged.
  python3 - "$work" <<'PY'
import json, sys
acc = {arm: json.load(open(f"{sys.argv[1]}/accuracy-{arm}.json"))["final_accuracy"]
       for arm in ["baseline", "slimfit"]}
print(f"accuracy: baseline {acc['baseline']:.2f}%, SlimFit {acc['slimfit']:.2f}%")
sys.exit(0 if min(acc.values()) > 75.0 else 1)
PY
}

if [ "$mode" = --stage ]; then
  "stage_$2"
  exit 0
fi

# --- the driver -------------------------------------------------------------------------------
mkdir -p "$work"
rm -f "$work"/*.json "$work/ctest.xml" "$work/stages.jsonl"
if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then out_dir="$OUT"; fi
if $dry; then
  out="${GPU_CHECK_OUT:-$work/gpu_check.json}" log="${GPU_CHECK_LOG:-$work/gpu_check.log}"
else
  out="${GPU_CHECK_OUT:-${out_dir:-$root/benchmarks/results}/gpu_check.json}"
  log="${GPU_CHECK_LOG:-${out_dir:-$build}/gpu_check.log}"
fi
mkdir -p "$(dirname "$out")" "$(dirname "$log")"
: > "$log"
exec > >(tee -a "$log") 2>&1
# The dry-run builds on whatever this machine is, so it gets hours, not the device's minutes.
if $dry; then budget="${GPU_CHECK_BUDGET:-7200}"; else budget="${GPU_CHECK_BUDGET:-345}"; fi
deadline=$(( $(date +%s) + budget ))
export GPU_CHECK_DRY="$dry" GPU_BUILD_DIR="$build"

# stage NAME LIMIT: runs `gpu_check.sh --stage NAME` under min(LIMIT, time left) seconds and
# records its status, exit code and duration. Returns non-zero when the stage did not pass.
stage() {
  local name=$1 limit=$2 left rc=0 t0 status
  left=$(( deadline - $(date +%s) ))
  if (( left < 15 )); then
    echo "== $name: skipped, the check's ${budget} s are spent"
    printf '{"stage": "%s", "status": "skipped: out of time", "seconds": 0}\n' "$name" >> "$work/stages.jsonl"
    return 1
  fi
  (( limit > left )) && limit=$left
  echo "== $name (limit ${limit} s)"
  t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$self" --stage "$name" || rc=$?
  case $rc in
    0) status=ok ;;
    124 | 137) status="timed out after $limit s" ;;
    *) status="failed (exit $rc)" ;;
  esac
  echo "== $name: $status in $(( $(date +%s) - t0 )) s"
  printf '{"stage": "%s", "status": "%s", "rc": %d, "seconds": %d, "limit_s": %d}\n' \
    "$name" "$status" "$rc" "$(( $(date +%s) - t0 ))" "$limit" >> "$work/stages.jsonl"
  return $rc
}

if $dry; then
  echo "gpu_check --dry-run: carry, build and closure here; the GPU stages are printed, not run"
  stage carry 120 && stage build 3600 && stage closure 300 || true
else
  command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c 'import torch, sys; print("python3 torch", torch.__version__); sys.exit(0 if torch.cuda.is_available() else 1)' ||
    fail "python3's torch sees no CUDA device"
  # The build gates the rest; measure and accuracy do not need ctest to pass.
  if stage carry 30 && stage build 210; then
    stage ctest 75 || true
    stage measure 150 || true
    stage accuracy 60 || true
  fi
fi

if $dry; then
  echo "== on the GPU machine, after carry and build, it runs:"
  echo "   ctest -R '$cuda_regex' -j 4 --timeout 120 --output-junit $work/ctest.xml"
  echo "   $bin memory --device cuda --model {bert-base,vit-b16} --batch $batch --seq $seq" \
       "--time-steps $steps {--freeze-ratio 0 --no-compress | --freeze-ratio 0.9} --json"
  echo "   mpirun -np 1 $bin train device=cuda backend=nccl model=bert-base data=synthetic:4096" \
       "batch=$batch seq_len=$seq steps=$((steps + 1)) {baseline | slimfit | slimfit + offload_optimizer}"
  echo "   python3 benchmarks/gpu_peer.py $batch $seq $steps"
  for arm in baseline slimfit; do echo "   $bin $(accuracy_args $arm)"; done
fi

python3 "$root/benchmarks/gpu_check_report.py" "$work" "$dry" "$batch" "$seq" > "$out.part"
mv "$out.part" "$out"
cat "$out"
echo "gpu_check: wrote $out and $log"
python3 -c 'import json, sys; sys.exit(0 if json.load(open(sys.argv[1]))["passed"] else 1)' "$out"
