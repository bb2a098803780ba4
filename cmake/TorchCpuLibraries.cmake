# libtorch from a CUDA build of PyTorch (PyPI's torch wheel), linked through its CPU libraries
# alone, on a machine that lacks the CUDA libraries the wheel was built with.
#
# Why not find_package(Torch): the wheel's TorchConfig.cmake insists on a CUDA toolkit, and its
# libtorch.so loads libtorch_cuda.so, which needs cuFile, cuSPARSELt, NVSHMEM, cuDNN and NCCL
# libraries that only the nvidia-* wheels bring. libtorch_cpu.so and libc10.so hold every CPU
# kernel, autograd and the C++ frontend; they need only the CUDA runtime and CUPTI (libcudart.so.13,
# libcupti.so.13), which a CUDA toolkit provides (CUDA_HOME, else /usr/local/cuda).
#
# In: SLIMFIT_TORCH_ROOT, the unpacked wheel's torch/ folder (include/, lib/, share/).
# Out: what find_package(Torch) defines and the rest of the build reads: TORCH_LIBRARIES,
# TORCH_INCLUDE_DIRS, Torch_VERSION, and an empty TORCH_CUDA_LIBRARIES (no CUDA tensors).

set(_root "${SLIMFIT_TORCH_ROOT}")
if(NOT EXISTS "${_root}/share/cmake/Torch/TorchConfigVersion.cmake")
  message(FATAL_ERROR "SLIMFIT_TORCH_ROOT=${_root} is not a libtorch tree: no "
                      "share/cmake/Torch/TorchConfigVersion.cmake under it (point it at the "
                      "unpacked wheel's torch/ folder)")
endif()
# TorchConfigVersion.cmake sets PACKAGE_VERSION and nothing else we keep.
include("${_root}/share/cmake/Torch/TorchConfigVersion.cmake")
set(Torch_VERSION "${PACKAGE_VERSION}")

# Looked up afresh at every configure: a cached path would outlive a change of SLIMFIT_TORCH_ROOT.
foreach(_var SLIMFIT_TORCH_CPU_LIBRARY SLIMFIT_C10_LIBRARY SLIMFIT_TORCH_CUDART_LIBRARY
             SLIMFIT_TORCH_CUPTI_LIBRARY)
  unset(${_var} CACHE)
endforeach()
find_library(SLIMFIT_TORCH_CPU_LIBRARY torch_cpu PATHS "${_root}/lib" NO_DEFAULT_PATH REQUIRED)
find_library(SLIMFIT_C10_LIBRARY c10 PATHS "${_root}/lib" NO_DEFAULT_PATH REQUIRED)
# Named explicitly so the linker resolves libtorch_cpu.so's own needs and the build tree's RPATH
# finds them at run time; the wheel's RPATH points at nvidia/ wheels that are not installed.
set(_cuda_lib_dirs "$ENV{CUDA_HOME}/lib64" /usr/local/cuda/lib64)
find_library(SLIMFIT_TORCH_CUDART_LIBRARY NAMES libcudart.so.13 cudart PATHS ${_cuda_lib_dirs})
find_library(SLIMFIT_TORCH_CUPTI_LIBRARY NAMES libcupti.so.13 cupti
             PATHS ${_cuda_lib_dirs} /usr/local/cuda/extras/CUPTI/lib64)
if(NOT SLIMFIT_TORCH_CUDART_LIBRARY OR NOT SLIMFIT_TORCH_CUPTI_LIBRARY)
  message(FATAL_ERROR "libtorch_cpu.so in ${_root}/lib needs libcudart.so.13 and libcupti.so.13; "
                      "found cudart='${SLIMFIT_TORCH_CUDART_LIBRARY}', "
                      "cupti='${SLIMFIT_TORCH_CUPTI_LIBRARY}'. Install a CUDA 13 toolkit or set "
                      "CUDA_HOME to one")
endif()

set(TORCH_INCLUDE_DIRS "${_root}/include" "${_root}/include/torch/csrc/api/include")
add_library(slimfit_torch_cpu INTERFACE)
target_include_directories(slimfit_torch_cpu SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
target_link_libraries(slimfit_torch_cpu INTERFACE ${SLIMFIT_TORCH_CPU_LIBRARY} ${SLIMFIT_C10_LIBRARY}
                                                  ${SLIMFIT_TORCH_CUDART_LIBRARY}
                                                  ${SLIMFIT_TORCH_CUPTI_LIBRARY})
# libtorch 2.x headers refuse anything below C++20 (torch/all.h); 1.13 never comes this way.
target_compile_features(slimfit_torch_cpu INTERFACE cxx_std_20)
set(TORCH_LIBRARIES slimfit_torch_cpu)
set(TORCH_CUDA_LIBRARIES "")
message(STATUS "slimfit: libtorch ${Torch_VERSION} CPU libraries from ${_root}/lib")
