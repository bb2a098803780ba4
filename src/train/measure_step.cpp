#include "train/measure_step.h"

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <sstream>

#include "common/error.h"
#include "common/strings.h"
#include "mem/device_memory.h"
#include "mem/ledger.h"
#include "models/model.h"
#include "sched/budget.h"
#include "sched/ils.h"
#include "sched/units.h"
#include "train/adamw.h"
#include "train/config.h"
#include "train/model_spec.h"

namespace slimfit::train {
namespace {

double mib(int64_t bytes) { return double(bytes) / (1024.0 * 1024.0); }

}  // namespace

StepMemoryReport measure_training_step(const StepMemoryOptions& options) {
  SLIMFIT_CHECK(options.batch > 0, "--batch must be positive, got ", options.batch);
  SLIMFIT_CHECK(options.seq > 0, "--seq must be positive, got ", options.seq);
  SLIMFIT_CHECK(options.freeze_ratio >= 0.0 && options.freeze_ratio < 1.0,
                "--freeze-ratio must be in [0, 1), got ", options.freeze_ratio);
  const at::Device device = mem::resolve_device(options.device, mem::local_rank(0));
  const mem::DeviceMemory counter(device);
  if (!counter.is_cuda()) {
    SLIMFIT_CHECK(mem::counting_cpu_allocator_installed(),
                  "the counting CPU allocator must be installed before measuring "
                  "(mem::install_counting_cpu_allocator)");
  }

  StepMemoryReport report;
  report.options = options;
  models::ModelConfig config = resolve_model_spec(options.model).config;
  SLIMFIT_CHECK(options.layers >= 0, "--layers must be >= 0, got ", options.layers);
  SLIMFIT_CHECK(options.image_size >= 0, "--image-size must be >= 0, got ", options.image_size);
  if (options.layers > 0) config.num_layers = options.layers;
  if (options.image_size > 0) {
    SLIMFIT_CHECK(config.arch == models::Arch::kVit, "--image-size applies to ViT models only");
    config.image_size = options.image_size;
  }
  models::validate_config(config);
  report.model_name = config.name;
  report.layers = config.num_layers;
  report.image_size = config.arch == models::Arch::kVit ? config.image_size : 0;
  at::manual_seed(options.seed);

  models::Classifier model;
  {
    mem::LedgerScope scope(mem::Category::kWeights);
    model = models::make_model(config);
    model->to(device);
  }
  model->train();
  model->ops()->slimfit = options.compress;

  std::vector<std::pair<std::string, at::Tensor>> named;
  for (const auto& item : model->named_parameters()) {
    named.emplace_back(item.key(), item.value());
    report.weights_bytes += item.value().nbytes();
  }
  AdamWOptions adamw;
  adamw.coast = options.coast;
  AdamW optimizer(named, adamw);
  {
    mem::LedgerScope scope(mem::Category::kOptimizer);
    optimizer.init_state();
  }
  for (AdamW::Slot& s : optimizer.slots()) s.step = 1;  // steady state: every unit has trained
  report.optimizer_bytes = optimizer.state_bytes();

  std::vector<sched::Unit> units = sched::units_of(*model);
  report.units_total = static_cast<int64_t>(units.size());
  const int64_t count =
      report.units_total - static_cast<int64_t>(std::floor(options.freeze_ratio * units.size()));
  if (options.budget == "units") {
    // Freeze floor(r * t) units, chosen by a seeded shuffle (the scheduler's first step).
    report.units_frozen = report.units_total - count;
    std::vector<size_t> order(units.size());
    std::iota(order.begin(), order.end(), 0);
    std::mt19937_64 rng(options.seed);
    std::shuffle(order.begin(), order.end(), rng);
    for (int64_t i = 0; i < report.units_frozen; ++i)
      units[order[i]].param.set_requires_grad(false);
  } else {
    SLIMFIT_CHECK(options.budget == "mean" || options.budget == "worst",
                  "--budget must be units, mean or worst, got '", options.budget, "'");
    sched::IlsOptions ils;
    ils.freeze_ratio = options.freeze_ratio;
    ils.seed = options.seed;
    const auto always = split_commas(TrainConfig().always_train);  // train's default head
    for (size_t i = 0; i < units.size(); ++i) {
      if (starts_with_any(units[i].name, always)) ils.always_train.push_back(int64_t(i));
    }
    ils.costs = sched::unit_costs(units, config, options.batch,
                                  sched::tokens_per_example(config, options.seq), options.compress);
    ils.budget = sched::budget_bytes(options.budget, ils.costs, count, ils.always_train);
    report.budget_bytes = ils.budget;
    const std::vector<uint8_t> mask = sched::IlsScheduler(report.units_total, ils).next_mask();
    for (size_t i = 0; i < units.size(); ++i) {
      units[i].param.set_requires_grad(mask[i] != 0);
      report.units_frozen += mask[i] == 0;
    }
  }

  models::Batch batch;
  {
    mem::LedgerScope scope(mem::Category::kInputs);
    batch = models::synthetic_batch(config, options.batch, options.seq, options.seed).to(device);
  }
  for (const at::Tensor& t : {batch.input_ids, batch.token_type_ids, batch.attention_mask,
                              batch.pixel_values, batch.labels}) {
    if (t.defined()) report.input_bytes += t.nbytes();
  }

  // Gradient hooks keep the ledger's count of gradient bytes, so the peak knows how much of
  // the backward pass's memory was gradients and how much was workspace.
  for (auto& [name, param] : named) {
    if (!param.requires_grad()) continue;
    param.register_hook([](const at::Tensor& grad) { mem::note_gradient_bytes(grad.nbytes()); });
  }

  counter.reset_peak();
  const auto start = std::chrono::steady_clock::now();
  const int64_t before_forward = counter.current();
  at::Tensor loss;
  {
    mem::LedgerScope scope(mem::Category::kForward);
    at::Tensor logits = model->forward(batch);
    loss = at::cross_entropy_loss(logits, batch.labels);
  }
  report.activation_bytes = counter.current() - before_forward;
  {
    mem::LedgerScope scope(mem::Category::kBackward);
    loss.backward();
    loss = at::Tensor();
  }
  for (auto& [name, param] : named) {
    if (param.grad().defined()) report.grad_bytes += param.grad().nbytes();
  }
  {
    mem::LedgerScope scope(mem::Category::kStep);
    optimizer.step(adamw.lr);
  }
  counter.synchronize();
  report.step_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  report.first_step_seconds = report.step_seconds;
  report.peak_bytes = counter.peak();

  if (!counter.is_cuda()) {
    const mem::Snapshot s = mem::snapshot();
    auto at = [&](mem::Category c) { return s.at_peak[static_cast<int>(c)]; };
    report.has_breakdown = true;
    report.peak_weights = at(mem::Category::kWeights);
    report.peak_optimizer = at(mem::Category::kOptimizer);
    report.peak_inputs = at(mem::Category::kInputs);
    report.peak_activations = at(mem::Category::kForward);
    report.peak_gradients = s.gradients_at_peak;
    report.peak_workspace = at(mem::Category::kBackward) + at(mem::Category::kStep) +
                            at(mem::Category::kOther) - s.gradients_at_peak;
  }
  optimizer.release_grads();
  mem::note_gradient_bytes(-report.grad_bytes);

  // Warm steps for timing only (the first step pays for page faults, cuBLAS/cuDNN set-up).
  if (options.time_steps > 0) {
    const auto warm = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < options.time_steps; ++i) {
      at::Tensor l = at::cross_entropy_loss(model->forward(batch), batch.labels);
      l.backward();
      optimizer.step(adamw.lr);
      optimizer.release_grads();
      mem::note_gradient_bytes(-report.grad_bytes);
    }
    counter.synchronize();
    report.step_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - warm).count() /
        double(options.time_steps);
  }
  return report;
}

nlohmann::json to_json(const StepMemoryReport& r) {
  nlohmann::json j;
  j["model"] = r.model_name;
  j["batch"] = r.options.batch;
  j["seq"] = r.options.seq;
  j["layers"] = r.layers;
  j["image_size"] = r.image_size;
  j["freeze_ratio"] = r.options.freeze_ratio;
  j["compress"] = r.options.compress;
  j["frozen_update"] = r.options.coast ? "coast" : "none";
  j["budget"] = r.options.budget;
  if (r.options.budget != "units") j["budget_bytes"] = r.budget_bytes;
  j["device"] = r.options.device;
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
                           {"gradients", r.peak_gradients}, {"workspace", r.peak_workspace}};
  }
  j["step_seconds"] = r.step_seconds;
  j["timed_steps"] = std::max<int64_t>(r.options.time_steps, 1);
  j["first_step_seconds"] = r.first_step_seconds;
  return j;
}

std::string to_table(const StepMemoryReport& r) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(2);
  os << "model " << r.model_name << "  batch " << r.options.batch << "  seq " << r.options.seq
     << "  freeze_ratio " << r.options.freeze_ratio << " (" << r.units_frozen << "/"
     << r.units_total << " units frozen)  compress " << (r.options.compress ? "on" : "off")
     << "  device " << r.options.device << "\n";
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
    row("  workspace", r.peak_workspace);
  }
  os << "  step time " << std::setprecision(3) << r.step_seconds << " s\n";
  return os.str();
}

}  // namespace slimfit::train
