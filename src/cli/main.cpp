// The slimfit binary: the only reader of argv. Each subcommand parses its own options and
// calls into the library; errors from the library are printed once and exit non-zero.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/args.h"
#include "common/error.h"
#include "common/log.h"
#include "mem/ledger.h"
#include "train/measure_step.h"

namespace slimfit::cli {
namespace {

constexpr const char* kUsage =
    "usage: slimfit <command> [options]\n"
    "\n"
    "commands:\n"
    "  memory   measure one training step's memory (weights, gradients, optimizer state,\n"
    "           saved activations, peak)\n"
    "           --model {bert-base|vit-b16|bert-tiny|vit-tiny|PATH} --batch B --seq L\n"
    "           --freeze-ratio R [--no-compress] [--device cpu|cuda] [--seed S] [--json]\n"
    "\n"
    "  --freeze-ratio 0 --no-compress is the unfrozen baseline.\n";

int run_memory(int argc, char** argv) {
  Args args(argc, argv, 2, {"no-compress", "json"},
            {"model", "batch", "seq", "freeze-ratio", "device", "seed"});
  train::StepMemoryOptions options;
  options.model = args.get("model", options.model);
  options.batch = args.get_int("batch", options.batch);
  options.seq = args.get_int("seq", options.seq);
  options.freeze_ratio = args.get_double("freeze-ratio", options.freeze_ratio);
  options.compress = !args.has("no-compress");
  options.device = args.get("device", options.device);
  options.seed = static_cast<uint64_t>(args.get_int("seed", 0));
  if (options.device == "cpu") mem::install_counting_cpu_allocator();
  const train::StepMemoryReport report = train::measure_training_step(options);
  if (args.has("json")) {
    std::cout << train::to_json(report).dump(2) << std::endl;
  } else {
    std::cout << train::to_table(report);
  }
  return 0;
}

}  // namespace
}  // namespace slimfit::cli

int main(int argc, char** argv) {
  using namespace slimfit;
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::fputs(cli::kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  try {
    if (command == "memory") return cli::run_memory(argc, argv);
    std::fprintf(stderr, "slimfit: unknown command '%s'\n\n%s", command.c_str(), cli::kUsage);
    return 2;
  } catch (const Error& e) {
    std::fprintf(stderr, "slimfit %s: error: %s\n", command.c_str(), e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "slimfit %s: unexpected error: %s\n", command.c_str(), e.what());
    return 1;
  }
}
