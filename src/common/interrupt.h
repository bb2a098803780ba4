// Stopping a run cleanly on a signal.
//
// Note [interruption]: SIGTERM (what Slurm sends before it preempts a job or its time runs
// out), SIGINT (Ctrl-C) and SIGUSR1 (which mpirun forwards to every rank; launch/slurm.sbatch
// asks Slurm for it ahead of the time limit) ask a run to stop at the next step boundary with
// a checkpoint. The handler only records the signal. The trainer reads it once per micro-batch
// and the ranks agree on it in the loss check they already make, so every rank finishes the
// same step, rank 0 writes the checkpoint, and all exit with status 128 + the signal's number
// (143 for SIGTERM, 130 for SIGINT, 138 for SIGUSR1), as a shell reports a death by that
// signal. A signal that reaches one rank stops them all. A second signal ends the process at
// once, with the signal's default action.
#pragma once

#include <string>

#include "common/error.h"

namespace slimfit {

// Installs the handlers (idempotent). Call before the work that should stop cleanly.
void install_interrupt_handlers();
// The first stop signal received since install_interrupt_handlers (0: none).
int pending_interrupt();
// As if `signal` had arrived (tests; and the fault kind that simulates preemption).
void request_interrupt(int signal);
// Forgets a pending signal (tests that run several trainers in one process).
void clear_interrupt();
// "SIGTERM", "SIGINT", "SIGUSR1", or "signal N".
std::string signal_name(int signal);

// Thrown on every rank by a run that stopped for a signal, after its checkpoint is written.
class Interrupted : public Error {
 public:
  Interrupted(int signal, const std::string& what) : Error(what), signal_(signal) {}
  int signal() const { return signal_; }
  // The process exit status: 128 + the signal's number.
  int exit_code() const { return 128 + signal_; }

 private:
  int signal_;
};

}  // namespace slimfit
