// The slimfit binary: the only reader of argv. Each subcommand parses its own options and
// calls into the library; errors from the library are printed once and exit non-zero.
#include <ATen/Parallel.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "cli/args.h"
#include "cli/commands.h"
#include "comm/communicator.h"
#include "common/error.h"
#include "common/files.h"
#include "common/interrupt.h"
#include "common/launcher.h"
#include "common/log.h"
#include "common/strings.h"
#include "data/text.h"
#include "mem/ledger.h"
#include "train/config.h"
#include "train/trainer.h"

namespace slimfit::cli {
namespace {

constexpr const char* kUsage =
    "usage: slimfit <command> [options]\n"
    "\n"
    "commands:\n"
    "  memory   measure one step of the trainer: weights, gradients, optimizer state, saved\n"
    "           activations, the peak, the process's peak RSS\n"
    "           [key=value ...] (model batch seq_len freeze_ratio compress device seed\n"
    "           layers image_size time_steps ...) [--config FILE] [--json]\n"
    "  train    fine-tune a model: [key=value ...] [--config FILE] [--summary OUT.json]\n"
    "  (slimfit train --help and slimfit memory --help list every key with its default)\n"
    "  evaluate score a fine-tuned model: checkpoint=RUN.h5 or model=DIR (exported or Hugging\n"
    "           Face), [data=...] [split=heldout|all] [key=value ...] [--config FILE]\n"
    "           [--summary OUT.json]; by default the examples the run held out\n"
    "  predict  the same arguments; one JSON line per example [--output OUT.jsonl]\n"
    "  export   write a Hugging Face directory: checkpoint=RUN.h5 --output DIR\n"
    "  prepare  tokenize a CSV or JSONL text set into an HDF5 data set\n"
    "           --input FILE --output OUT.h5 --vocab vocab.txt [--text-column text]\n"
    "           [--label-column label] [--labels a,b,...] [--max-length 128] [--limit N]\n"
    "           [--text-pair-column B] (sentence pairs) [--columns label,text[,text_b]]\n"
    "           (a CSV without a header) [--regression] (float targets)\n"
    "\n"
    "  freeze_ratio=0 compress=false is the unfrozen baseline.\n";

int run_train(int argc, char** argv) {
  Args args(argc, argv, 2, {}, {"config", "summary"});
  train::TrainConfig config;
  if (args.has("config")) train::load_config_file(config, args.get("config", ""));
  for (const auto& [key, value] : args.key_values()) {
    train::set_key(config, key, value, "command line");
  }
  mem::install_counting_cpu_allocator();
  // The communicator outlives the trainer, so a failure on any rank can still abort them all.
  std::unique_ptr<comm::Communicator> comm = comm::make_communicator(config.backend, config.device);
  set_log_rank(comm->rank(), comm->size());
  const std::string summary_path = args.get("summary", "");
  if (args.has("summary") && comm->rank() == 0) check_output_path(summary_path, "--summary ");
  install_interrupt_handlers();
  train::TrainSummary summary;
  try {
    train::Trainer trainer(config, comm.get());
    summary = trainer.run();
  } catch (const Interrupted&) {
    throw;  // every rank stopped at the same step, after the checkpoint: a clean exit
  } catch (const std::exception& e) {
    if (comm->size() > 1) comm->abort(str_cat("rank ", comm->rank(), ": ", e.what()));
    throw;
  }
  if (comm->rank() != 0) return 0;
  const std::string json = train::to_json(summary).dump(2) + "\n";
  if (args.has("summary")) {
    write_file_atomically(summary_path, json);
  } else {
    std::cout << json << std::flush;
    SLIMFIT_CHECK(std::cout.good(), "writing the summary to standard output failed");
  }
  return 0;
}

std::string train_help() {
  return str_cat(
      "usage: slimfit train [key=value ...] [--config FILE] [--summary OUT.json]\n"
      "\n"
      "Fine-tunes a model. A config file holds 'key = value' lines; keys on the command line\n"
      "override it. Under mpirun every rank takes the same arguments.\n"
      "\n"
      "keys (default):\n",
      format_key_table(train::key_help()));
}

// Debian's libtorch starts with one intra-op thread when OMP_NUM_THREADS is unset. Use the
// cores, shared among the ranks of this node; OMP_NUM_THREADS still wins when set.
void configure_threads() {
  if (std::getenv("OMP_NUM_THREADS")) return;
  const int ranks_here = std::max(1, launch_info().local_size);
  const int cores = std::max(1u, std::thread::hardware_concurrency());
  at::set_num_threads(std::max(1, cores / ranks_here));
}

}  // namespace
}  // namespace slimfit::cli

namespace {

// Note [OpenMP wait policy]. libgomp's threads spin for a while after each parallel region before
// they sleep (OMP_WAIT_POLICY unset: 300,000 spins, GOMP_SPINCOUNT). Debian's libtorch uses the
// pthreads build of OpenBLAS, a second pool of threads: the spinning OpenMP threads take the
// cores that the GEMM after each region needs. Measured on 2 cores (MiniLM batch 32, seq 128,
// README "Speed and scaling"), passive waiting makes the stock baseline's warm step about 12%
// faster and the step times steadier. libgomp reads its environment once, in its initializer
// before main, so slimfit sets OMP_WAIT_POLICY=PASSIVE and restarts itself (the same process
// id, arguments and environment) when neither it nor GOMP_SPINCOUNT is set; a value the user
// set wins.
void restart_with_passive_omp_wait(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;
  if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) == 0) execv("/proc/self/exe", argv);
  std::fprintf(stderr,
               "slimfit: warning: could not restart with OMP_WAIT_POLICY=PASSIVE (%s); OpenMP "
               "threads keep spin-waiting, which slows CPU steps. Set OMP_WAIT_POLICY before "
               "starting slimfit.\n",
               std::strerror(errno));
}

// Ends the process after a failure. HDF5 1.10's library teardown (an atexit handler) crashes on
// a file whose close failed, as on a full disk, turning a clean error into a segfault; the
// failed command's files are already closed, removed or left as they were, so the exit skips
// the atexit handlers once the output is flushed.
[[noreturn]] void exit_after_failure(int code) {
  std::fflush(nullptr);
  std::_Exit(code);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace slimfit;
  restart_with_passive_omp_wait(argv);
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::fputs(cli::kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  if (argc >= 3 && (!std::strcmp(argv[2], "--help") || !std::strcmp(argv[2], "-h"))) {
    if (command == "train") return std::fputs(cli::train_help().c_str(), stdout) < 0;
    if (command == "memory") return std::fputs(cli::memory_help().c_str(), stdout) < 0;
  }
  cli::configure_threads();
  try {
    if (command == "memory") return cli::run_memory(argc, argv);
    if (command == "train") return cli::run_train(argc, argv);
    if (command == "prepare") return cli::run_prepare(argc, argv);
    if (command == "export") return cli::run_export(argc, argv);
    if (command == "evaluate") return cli::run_evaluate(argc, argv);
    if (command == "predict") return cli::run_predict(argc, argv);
    std::fprintf(stderr, "slimfit: unknown command '%s'\n\n%s", command.c_str(), cli::kUsage);
    return 2;
  } catch (const Interrupted& e) {
    // The trainer has said, on every rank, where to resume from; the ranks finalize MPI.
    return e.exit_code();
  } catch (const Error& e) {
    std::fprintf(stderr, "slimfit %s: error: %s\n", command.c_str(), e.what());
    exit_after_failure(1);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "slimfit %s: unexpected error: %s\n", command.c_str(), e.what());
    exit_after_failure(1);
  }
}
