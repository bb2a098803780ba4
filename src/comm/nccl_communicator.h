// NCCL backend for CUDA tensors. MPI launches the ranks and broadcasts NCCL's unique id; each
// rank binds GPU (local rank % visible GPUs). Collectives run on the current stream (libtorch's
// when it has CUDA) and are synchronised before returning, so callers see finished results.
#pragma once

#include <memory>

#include "comm/communicator.h"

namespace slimfit::comm {

class MpiCommunicator;

// Built only with NCCL (SLIMFIT_WITH_NCCL); make_communicator("nccl") says so otherwise.
std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<MpiCommunicator> bootstrap);

}  // namespace slimfit::comm
