#include "train/measure_step.h"

#include <ATen/ATen.h>

#include <iomanip>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>

#include "comm/communicator.h"
#include "common/error.h"
#include "common/strings.h"
#include "mem/device_memory.h"
#include "mem/ledger.h"
#include "train/trainer.h"

namespace slimfit::train {
namespace {

double mib(int64_t bytes) { return double(bytes) / (1024.0 * 1024.0); }

}  // namespace

TrainConfig StepMemoryOptions::defaults() {
  TrainConfig c;
  c.model = "bert-base";
  c.batch = 4;
  return c;
}

StepMemoryReport measure_training_step(const StepMemoryOptions& options) {
  SLIMFIT_CHECK(options.time_steps >= 0, "time_steps must be >= 0, got ", options.time_steps);
  TrainConfig config = options.config;
  SLIMFIT_CHECK(config.batch > 0, "batch must be positive, got ", config.batch);
  // One epoch of synthetic examples of the requested shape, all for training; no outputs.
  config.data = str_cat("synthetic:", config.batch);
  config.eval_fraction = 0.0;
  config.kfold = 0;
  config.steps = 1 + options.time_steps;
  config.epochs = 0;
  config.backend = "self";
  config.log_every = config.steps;
  if (config.lr == 0) config.lr = 1e-4;  // the step's bytes do not depend on it
  config.checkpoint = config.metrics = config.resume = config.save_best = "";
  if (config.device == "cpu") {
    SLIMFIT_CHECK(mem::counting_cpu_allocator_installed(),
                  "the counting CPU allocator must be installed before measuring "
                  "(mem::install_counting_cpu_allocator)");
  }

  Trainer trainer(config);
  StepMemoryReport report;
  report.options = options;
  const models::ModelConfig& mc = trainer.model().config();
  report.model_name = mc.name;
  report.layers = mc.num_layers;
  report.image_size = mc.arch == models::Arch::kVit ? mc.image_size : 0;
  for (const auto& p : trainer.model().parameters()) report.weights_bytes += p.nbytes();
  report.optimizer_bytes = trainer.optimizer().state_bytes();
  report.units_total = int64_t(trainer.units().size());
  report.budget_bytes = trainer.scheduler().budget();
  if (options.steady) trainer.assume_steady_state();

  const mem::DeviceMemory device(trainer.model().parameters().front().device());
  const StepRecord first = trainer.step();
  report.max_reserved_bytes = device.max_reserved();
  for (uint8_t m : first.mask) report.units_frozen += m == 0;
  report.grad_bytes = first.grad_bytes;
  report.input_bytes = first.input_bytes;
  report.activation_bytes = first.saved_bytes;
  report.peak_bytes = first.peak_bytes;
  report.first_step_seconds = report.step_seconds = first.seconds;
  if (!device.is_cuda()) {
    auto at = [&](mem::Category c) { return first.peak.at_peak[static_cast<int>(c)]; };
    report.has_breakdown = true;
    report.peak_weights = at(mem::Category::kWeights);
    report.peak_optimizer = at(mem::Category::kOptimizer);
    report.peak_inputs = at(mem::Category::kInputs);
    report.peak_activations = at(mem::Category::kForward);
    report.peak_gradients = first.peak.gradients_at_peak;
    report.peak_snapshots = at(mem::Category::kDynamics);
    report.peak_workspace = at(mem::Category::kBackward) + at(mem::Category::kStep) +
                            at(mem::Category::kOther) - first.peak.gradients_at_peak;
  }
  // Warm steps for timing only (the first step pays for page faults, cuBLAS/cuDNN set-up).
  if (options.time_steps > 0) {
    for (int64_t i = 0; i < options.time_steps; ++i)
      report.warm_step_seconds.push_back(trainer.step().seconds);
    report.step_seconds =
        std::accumulate(report.warm_step_seconds.begin(), report.warm_step_seconds.end(), 0.0) /
        double(options.time_steps);
  }
  device.synchronize();
  if (!device.is_cuda()) report.peak_rss_bytes = mem::process_peak_rss();
  return report;
}

nlohmann::json to_json(const StepMemoryReport& r) {
  const TrainConfig& c = r.options.config;
  nlohmann::json j;
  j["model"] = r.model_name;
  j["batch"] = c.batch;
  j["seq"] = c.seq_len;
  j["layers"] = r.layers;
  j["image_size"] = r.image_size;
  j["freeze_ratio"] = c.freeze_ratio;
  j["compress"] = c.compress;
  j["frozen_update"] = c.frozen_update;
  j["budget"] = c.budget;
  if (c.budget != "units") j["budget_bytes"] = r.budget_bytes;
  j["steady"] = r.options.steady;
  j["device"] = c.device;
  j["units_total"] = r.units_total;
  j["units_frozen"] = r.units_frozen;
  j["weights_bytes"] = r.weights_bytes;
  j["grad_bytes"] = r.grad_bytes;
  j["optimizer_bytes"] = r.optimizer_bytes;
  j["input_bytes"] = r.input_bytes;
  j["activation_bytes"] = r.activation_bytes;
  j["peak_bytes"] = r.peak_bytes;
  if (r.has_breakdown) {
    j["peak_breakdown"] = {{"weights", r.peak_weights},     {"optimizer", r.peak_optimizer},
                           {"inputs", r.peak_inputs},       {"activations", r.peak_activations},
                           {"gradients", r.peak_gradients}, {"snapshots", r.peak_snapshots},
                           {"workspace", r.peak_workspace}};
  }
  if (r.peak_rss_bytes >= 0) j["peak_rss_bytes"] = r.peak_rss_bytes;
  if (r.max_reserved_bytes >= 0) j["max_reserved_bytes"] = r.max_reserved_bytes;
  j["step_seconds"] = r.step_seconds;
  j["warm_step_seconds"] = r.warm_step_seconds;
  j["timed_steps"] = std::max<int64_t>(r.options.time_steps, 1);
  j["first_step_seconds"] = r.first_step_seconds;
  j["threads"] = at::get_num_threads();
  return j;
}

std::string to_table(const StepMemoryReport& r) {
  const TrainConfig& c = r.options.config;
  std::ostringstream os;
  os << std::fixed << std::setprecision(2);
  os << "model " << r.model_name << "  batch " << c.batch << "  seq " << c.seq_len
     << "  freeze_ratio " << c.freeze_ratio << " (" << r.units_frozen << "/" << r.units_total
     << " units frozen)  compress " << (c.compress ? "on" : "off") << "  device " << c.device
     << "\n";
  auto row = [&](const char* name, int64_t bytes) {
    os << "  " << std::left << std::setw(22) << name << std::right << std::setw(12) << mib(bytes)
       << " MiB\n";
  };
  row("weights", r.weights_bytes);
  row("gradients", r.grad_bytes);
  row("optimizer state", r.optimizer_bytes);
  row("inputs", r.input_bytes);
  row("saved activations", r.activation_bytes);
  row("peak", r.peak_bytes);
  if (r.has_breakdown) {
    os << "  alive at the peak:\n";
    row("  weights", r.peak_weights);
    row("  optimizer state", r.peak_optimizer);
    row("  inputs", r.peak_inputs);
    row("  saved activations", r.peak_activations);
    row("  gradients", r.peak_gradients);
    row("  weight snapshots", r.peak_snapshots);
    row("  workspace", r.peak_workspace);
  }
  if (r.peak_rss_bytes >= 0) row("process peak RSS", r.peak_rss_bytes);
  if (r.max_reserved_bytes >= 0) row("CUDA max reserved", r.max_reserved_bytes);
  os << "  step time " << std::setprecision(3) << r.step_seconds << " s (" << at::get_num_threads()
     << " threads)\n";
  return os.str();
}

}  // namespace slimfit::train
