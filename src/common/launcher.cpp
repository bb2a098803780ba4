#include "common/launcher.h"

#include <cstdlib>
#include <algorithm>
#include <initializer_list>

namespace slimfit {
namespace {

// The first of `vars` that is set, as a non-negative integer; -1 when none is.
int first_set(std::initializer_list<const char*> vars) {
  for (const char* var : vars) {
    if (const char* v = std::getenv(var)) return std::max(0, std::atoi(v));
  }
  return -1;
}

LaunchInfo read_launch_info() {
  LaunchInfo info;
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS", "PMIX_RANK"}) {
    info.by_mpi = info.by_mpi || std::getenv(var) != nullptr;
  }
  info.local_rank = first_set({"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"});
  info.local_size =
      first_set({"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"});
  return info;
}

}  // namespace

const LaunchInfo& launch_info() {
  static const LaunchInfo info = read_launch_info();
  return info;
}

}  // namespace slimfit
