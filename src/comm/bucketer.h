// Gradient averaging fused into flat buckets (as DDP's reducer): gradients are packed in a fixed
// order into flat buffers of at most `bucket_bytes`, each all-reduced once and unpacked. Only
// tensors with a defined gradient take part, so with the freeze mask agreed before backward
// every rank builds the same buckets and traffic per step is the trainable gradient bytes.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "comm/communicator.h"

namespace slimfit::comm {

struct BucketStats {
  int64_t buckets = 0;
  int64_t bytes = 0;  // gradient bytes all-reduced by this rank
};

// grad = sum over ranks / size, for every params[i] whose grad is defined.
BucketStats average_gradients(Communicator& comm, const std::vector<at::Tensor>& params,
                              int64_t bucket_bytes);

}  // namespace slimfit::comm
