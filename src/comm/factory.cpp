// The only place that knows which backends exist (backend #ifs live here and in the backends).
#include "comm/communicator.h"
#include "comm/mpi_communicator.h"
#include "comm/nccl_communicator.h"
#include "comm/self_communicator.h"
#include "common/error.h"
#include "common/launcher.h"

namespace slimfit::comm {

// One process: there is nobody else to stop, so the failure is an ordinary error.
void SelfCommunicator::abort(const std::string& message) { throw Error(message); }

std::unique_ptr<Communicator> make_communicator(const std::string& backend,
                                                const std::string& device) {
  if (backend == "self") return std::make_unique<SelfCommunicator>();
  if (backend == "auto") {
    if (!launch_info().by_mpi) return std::make_unique<SelfCommunicator>();
#ifdef SLIMFIT_WITH_NCCL
    if (device == "cuda") return make_nccl_communicator(std::make_unique<MpiCommunicator>());
#endif
    return std::make_unique<MpiCommunicator>();
  }
  if (backend == "mpi") return std::make_unique<MpiCommunicator>();
  if (backend == "nccl") return make_nccl_communicator(std::make_unique<MpiCommunicator>());
  throw Error(str_cat("unknown backend '", backend, "': expected auto, mpi, nccl or self"));
}

}  // namespace slimfit::comm
