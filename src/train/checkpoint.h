// HDF5 checkpoints. Layout:
//   /weights/<parameter name>                        every parameter
//   /optimizer/<parameter name>/{exp_avg,exp_avg_sq}  AdamW moments (where allocated)
//   /optimizer/steps                                  int64 (P): per-parameter step counts
//   /scheduler/{scores,last_trained,step,rng_state}   the ILS state (note [ILS policy])
//   /rng/torch_cpu_ranks                              uint8 (ranks, n): each rank's libtorch
//                                                     CPU generator state (dropout)
//   /rng/torch_cpu                                    rank 0's (what older slimfit wrote)
//   /data/next_step                                   the step to run next (data position)
//   /config/keys, /config/values                      the run's configuration
// Written with h5::write_atomically (a temporary file renamed into place), by one rank.
// Loading refuses a checkpoint whose identity keys (TrainConfig::identity) differ from the
// resuming run's, naming every key that differs.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "models/model.h"
#include "sched/ils.h"
#include "train/adamw.h"
#include "train/config.h"

namespace slimfit::train {

struct CheckpointState {
  int64_t next_step = 0;
  sched::IlsState scheduler;
  // Row r: rank r's libtorch CPU generator state, gathered by the trainer before saving. A
  // checkpoint of an older slimfit loads as one row (rank 0's).
  at::Tensor rng_states;
};

void save_checkpoint(const std::string& path, const TrainConfig& config,
                     models::ClassifierImpl& model, const AdamW& optimizer,
                     const CheckpointState& state);

// Restores weights (every tensor, note [loading weights] in models/model.h) and optimizer in
// place and returns the rest; the caller restores its rank's row of rng_states.
CheckpointState load_checkpoint(const std::string& path, const TrainConfig& config,
                                models::ClassifierImpl& model, AdamW& optimizer);

// Weights only, for fine-tuning from an earlier run (`init=`): copies /weights/<name> of a
// slimfit checkpoint into every parameter whose name does not start with one of skip_prefixes;
// those keep their fresh initialisation (a new task's head). Optimizer, scheduler and data
// position are not read. Loads under note [loading weights] (models/model.h) with no head
// leniency: throws slimfit::Error naming the file and tensors, before changing any weight, when
// the file is missing or not a checkpoint, a loaded tensor is absent or has another shape, or
// the file holds tensors the model lacks (more layers: a checkpoint of another model), other
// than a pooler the model does not use. Returns the names of the skipped parameters.
std::vector<std::string> load_initial_weights(const std::string& path,
                                              models::ClassifierImpl& model,
                                              const std::vector<std::string>& skip_prefixes);

}  // namespace slimfit::train
