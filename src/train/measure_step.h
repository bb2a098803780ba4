// One measured training step: the figures behind `slimfit memory`. See note [memory ledger] in
// mem/ledger.h for how bytes are attributed.
//
// The step is the trainer's own (Trainer::step): the same model construction, scheduler mask,
// dynamics snapshots, optimizer and ops that `slimfit train` runs, on synthetic data of the
// requested shape, one process. So `memory` and `train` with the same settings report the same
// peak bytes for the same step (a test holds them to it).
//
// By default the measured step is a steady-state one (`steady`): every unit counts as having
// trained before (Trainer::assume_steady_state), so with frozen_update=coast the frozen units
// take their coasting update and its temporaries are in the peak. steady=false measures a run's
// first step instead, in which no unit coasts yet.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "train/config.h"

namespace slimfit::train {

struct StepMemoryOptions {
  // The run: model, batch, seq_len, freeze_ratio, compress, frozen_update, budget, device, seed
  // and the other step keys of train; layers and image_size override the model's shape. data,
  // steps and the output keys are set by the measurement.
  TrainConfig config = defaults();
  int64_t time_steps = 0;  // > 0: step_seconds is the mean of this many warm steps after the
                           // measured one (0: the measured step itself)
  bool steady = true;      // every unit counts as trained before the measured step

  // memory's defaults where they differ from train's: bert-base at batch 4.
  static TrainConfig defaults();
};

struct StepMemoryReport {
  StepMemoryOptions options;
  std::string model_name;
  int64_t layers = 0;      // encoder layers measured
  int64_t image_size = 0;  // ViT image size measured (0 for BERT)
  int64_t units_total = 0;
  int64_t units_frozen = 0;
  double budget_bytes = 0.0;     // budget mean | worst: the byte budget
  int64_t weights_bytes = 0;     // all parameters
  int64_t grad_bytes = 0;        // gradients after backward
  int64_t optimizer_bytes = 0;   // AdamW moments of every unit that will ever train
  int64_t input_bytes = 0;       // the batch
  int64_t activation_bytes = 0;  // alive after forward that was not alive before it
  int64_t peak_bytes = 0;        // highest live bytes during the step
  // What was alive at the peak; the seven parts sum to peak_bytes exactly (CPU only).
  bool has_breakdown = false;
  int64_t peak_weights = 0, peak_optimizer = 0, peak_inputs = 0, peak_activations = 0,
          peak_gradients = 0, peak_snapshots = 0, peak_workspace = 0;
  // What the operating system saw: the process's peak resident set (CPU; the whole process,
  // libtorch's code and the allocator's retained heap included), and on CUDA the caching
  // allocator's most reserved bytes during the measured step (-1 when not applicable).
  int64_t peak_rss_bytes = -1;
  int64_t max_reserved_bytes = -1;
  double step_seconds = 0.0;              // the measured step, or the mean of time_steps warm steps
  double first_step_seconds = 0.0;        // the measured (first, cold) step
  std::vector<double> warm_step_seconds;  // each of the time_steps warm steps, in order
};

StepMemoryReport measure_training_step(const StepMemoryOptions& options);

// The JSON contract of `slimfit memory --json` (README, "The command line").
nlohmann::json to_json(const StepMemoryReport& report);
// A human-readable table in MiB.
std::string to_table(const StepMemoryReport& report);

}  // namespace slimfit::train
