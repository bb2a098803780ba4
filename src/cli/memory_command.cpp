// `slimfit memory`: one training step's memory, measured on the trainer's own step
// (train/measure_step.h). It takes train's grammar: key=value pairs with train's key names, and
// --config FILE; the older --flag spellings keep working.
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "cli/args.h"
#include "cli/commands.h"
#include "common/error.h"
#include "common/log.h"
#include "common/strings.h"
#include "mem/ledger.h"
#include "train/measure_step.h"

namespace slimfit::cli {
namespace {

// The train keys that shape the measured step; data, steps and the output keys are the
// measurement's own.
const std::set<std::string> kTrainKeys = {
    "model",       "batch",         "seq_len",     "grad_accum",        "freeze_ratio",
    "compress",    "frozen_update", "coast_steps", "offload_optimizer", "dropout",
    "pooling",     "seed",          "score",       "staleness",         "budget",
    "exploration", "always_train",  "device"};

// memory's own keys: name, default, help.
const train::KeyHelp kMemoryKeys[] = {
    {"layers", "0", "override the model's number of encoder layers (0: its own)"},
    {"image_size", "0", "override a ViT's image size in pixels (0: its own)"},
    {"time_steps", "0",
     "step time: the mean of N warm steps after the measured one (0: that step)"},
    {"steady", "true",
     "count every unit as trained before (steady state: frozen units coast); false: a run's "
     "first step"},
};

// The older spellings: --flag VALUE for a key.
const std::map<std::string, std::string> kFlagKeys = {
    {"model", "model"},           {"batch", "batch"},
    {"seq", "seq_len"},           {"freeze-ratio", "freeze_ratio"},
    {"device", "device"},         {"seed", "seed"},
    {"layers", "layers"},         {"image-size", "image_size"},
    {"time-steps", "time_steps"}, {"frozen-update", "frozen_update"},
    {"budget", "budget"}};

void set_memory_key(train::StepMemoryOptions& o, const std::string& key, const std::string& value,
                    const std::string& origin) {
  if (key == "layers") {
    o.config.layers = train::parse_int(key, value, origin);
  } else if (key == "image_size") {
    o.config.image_size = train::parse_int(key, value, origin);
  } else if (key == "time_steps") {
    o.time_steps = train::parse_int(key, value, origin);
  } else if (key == "steady") {
    SLIMFIT_CHECK(value == "true" || value == "false", origin, ": steady=", value,
                  " must be true or false");
    o.steady = value == "true";
  } else {
    SLIMFIT_CHECK(kTrainKeys.count(key), origin, ": memory has no key '", key,
                  "'; see slimfit memory --help");
    train::set_key(o.config, key, value, origin);
  }
}

}  // namespace

std::string memory_help() {
  std::vector<train::KeyHelp> rows;
  const auto defaults = train::StepMemoryOptions::defaults().to_map();
  for (const train::KeyHelp& k : train::key_help()) {
    if (kTrainKeys.count(k.key)) rows.push_back({k.key, defaults.at(k.key), k.help});
  }
  rows.insert(rows.end(), std::begin(kMemoryKeys), std::end(kMemoryKeys));
  return str_cat(
      "usage: slimfit memory [key=value ...] [--config FILE] [--json]\n"
      "\n"
      "Measures one step of the trainer on synthetic data of the given shape: weights,\n"
      "gradients, optimizer state, saved activations, the peak and what was alive at it, and\n"
      "the process's peak resident memory. freeze_ratio=0 compress=false is the baseline.\n"
      "The older spellings --model --batch --seq --freeze-ratio --no-compress --device --seed\n"
      "--layers --image-size --time-steps --frozen-update --budget still work.\n"
      "\n"
      "keys (default):\n",
      format_key_table(rows));
}

int run_memory(int argc, char** argv) {
  std::set<std::string> options = {"config"};
  for (const auto& [flag, key] : kFlagKeys) options.insert(flag);
  Args args(argc, argv, 2, {"no-compress", "json"}, options);
  train::StepMemoryOptions o;
  if (args.has("config")) {
    // The file's keys over memory's defaults; those a one-step measurement sets itself (data,
    // steps, outputs) are named when the file gives them a value of their own.
    const std::string path = args.get("config", "");
    train::load_config_file(o.config, path);
    std::vector<std::string> ignored;
    const auto defaults = train::StepMemoryOptions::defaults().to_map();
    for (const auto& [key, value] : o.config.to_map()) {
      if (!kTrainKeys.count(key) && value != defaults.at(key)) ignored.push_back(key);
    }
    if (!ignored.empty()) {
      log_warn("memory: ", path, " sets ", join_first(ignored, 8),
               ", which a one-step measurement does not use (it makes its own data and steps)");
    }
  }
  for (const auto& [flag, key] : kFlagKeys) {
    if (args.has(flag)) set_memory_key(o, key, args.get(flag, ""), "--" + flag);
  }
  if (args.has("no-compress")) o.config.compress = false;
  for (const auto& [key, value] : args.key_values()) {
    set_memory_key(o, key, value, "command line");
  }
  if (o.config.device == "cpu") mem::install_counting_cpu_allocator();
  set_log_level(2);  // the trainer's progress lines are about a run; warnings still show
  const train::StepMemoryReport report = train::measure_training_step(o);
  if (args.has("json")) {
    std::cout << train::to_json(report).dump(2) << std::endl;
  } else {
    std::cout << train::to_table(report);
  }
  SLIMFIT_CHECK(std::cout.good(), "writing the report to standard output failed");
  return 0;
}

}  // namespace slimfit::cli
