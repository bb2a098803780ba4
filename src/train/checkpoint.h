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
//   /model/config_json                                the model's ModelConfig as a Hugging
//                                                     Face-style config.json
//                                                     (models::config_to_json)
//   /model/label_names                                the class names, in id order (absent:
//                                                     none, LABEL_0, LABEL_1, ...)
//   /model/problem_type                               single_label_classification | regression
// The /model group is what a trained model needs to be used later (train/trained_model.h);
// checkpoints of an older slimfit lack it and still resume.
// Written with h5::write_atomically (a temporary file renamed into place), by one rank.
// Loading refuses a checkpoint whose identity keys (TrainConfig::identity) differ from the
// resuming run's, naming every key that differs.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
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
  // Row r: rank r's CUDA generator state (dropout on the GPU draws from it); undefined when the
  // run trains on the CPU, or in an older checkpoint.
  at::Tensor cuda_rng_states;
  // The data set's class names in id order; empty: none (Hugging Face's LABEL_0, LABEL_1, ...).
  std::vector<std::string> label_names;
  // "single_label_classification" or "regression"; "" (an older checkpoint): by num_labels,
  // regression for one label, as Hugging Face infers it.
  std::string problem_type;
};

// What a checkpoint records about its model, read without building it or checking identity.
struct CheckpointModel {
  models::ModelConfig config;  // as trained (pooling, dropout, num_labels, vocab_file)
  std::vector<std::string> label_names;
  std::string problem_type;                 // never empty (inferred for older checkpoints)
  std::map<std::string, std::string> keys;  // the run's configuration (/config)
};

// Throws slimfit::Error naming the file when it is missing or not a slimfit checkpoint. A
// checkpoint of an older slimfit (no /model/config_json) gets its ModelConfig the way train made
// it: resolve_model_spec(model=), then the run's pooling= and dropout=, and num_labels from
// /weights/classifier.weight.
CheckpointModel read_checkpoint_model(const std::string& path);

// Every parameter from /weights, none may start fresh (note [loading weights]): for using a
// trained model as it is. Throws naming the file and the tensors, before changing any weight.
void load_trained_weights(const std::string& path, models::ClassifierImpl& model);

void save_checkpoint(const std::string& path, const TrainConfig& config,
                     models::ClassifierImpl& model, const AdamW& optimizer,
                     const CheckpointState& state);

// Restores weights (every tensor, note [loading weights] in models/model.h) and optimizer in
// place and returns the rest (label_names and problem_type as saved, "" for problem_type in an
// older checkpoint); the caller restores its rank's row of rng_states (and of cuda_rng_states).
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
