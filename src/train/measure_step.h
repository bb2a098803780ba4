// One measured training step (forward, backward, AdamW step): the figures behind
// `slimfit memory`. See note [memory ledger] in mem/ledger.h for how bytes are attributed.
//
// Protocol: the model and the optimizer state for every unit (steady state: every unit trains
// at some step) are built first; then floor(r * t) units are frozen (a seeded random choice, as
// the scheduler's first step makes), a batch is made, the peak is reset, and one step runs.
// The step is a steady-state one: every unit counts as having trained before, so with
// frozen_update=coast the frozen units take their coasting update (note [frozen update] in
// train/adamw.h), and its temporaries are in the peak. No unit coasts in a run's first step.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>

namespace slimfit::train {

struct StepMemoryOptions {
  std::string model = "bert-base";  // built-in name, HF checkpoint dir or config.json
  int64_t batch = 4;
  int64_t seq = 128;  // BERT sequence length; ViT uses the config's image size
  double freeze_ratio = 0.0;
  bool compress = true;  // SlimFit's compressed saved activations (false: stock ops)
  bool coast = true;     // frozen_update=coast (false: none)
  // mean | worst: the first mask of the byte-budget scheduler (note [memory budget]), the
  // classifier always training as in `train` | units: freeze floor(r t) units at random
  std::string budget = "mean";
  int64_t layers = 0;      // > 0: override the model's number of encoder layers (extrapolation)
  int64_t image_size = 0;  // > 0: override a ViT's image size (pixels)
  std::string device = "cpu";
  int64_t time_steps = 0;  // > 0: step_seconds is the mean of this many warm steps after the
                           // measured one (0: the measured step itself)
  uint64_t seed = 0;
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
  // What was alive at the peak; the six parts sum to peak_bytes exactly (CPU only).
  bool has_breakdown = false;
  int64_t peak_weights = 0, peak_optimizer = 0, peak_inputs = 0, peak_activations = 0,
          peak_gradients = 0, peak_workspace = 0;
  double step_seconds = 0.0;        // the measured step, or the mean of time_steps warm steps
  double first_step_seconds = 0.0;  // the measured (first, cold) step
};

StepMemoryReport measure_training_step(const StepMemoryOptions& options);

// The JSON contract of `slimfit memory --json` (README, "The command line").
nlohmann::json to_json(const StepMemoryReport& report);
// A human-readable table in MiB.
std::string to_table(const StepMemoryReport& report);

}  // namespace slimfit::train
