#include "common/interrupt.h"

#include <atomic>
#include <csignal>

namespace slimfit {
namespace {

// Written by the handler, read by the trainer: lock-free, so async-signal-safe.
std::atomic<int> g_pending{0};
static_assert(std::atomic<int>::is_always_lock_free);

constexpr int kStopSignals[] = {SIGTERM, SIGINT, SIGUSR1};

extern "C" void on_stop_signal(int signal) {
  int expected = 0;
  if (g_pending.compare_exchange_strong(expected, signal)) return;
  // The second signal: the default action (which ends the process), at once.
  std::signal(signal, SIG_DFL);
  std::raise(signal);
}

}  // namespace

void install_interrupt_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // system calls in flight (a write, a read) are not cut short
  for (int signal : kStopSignals) sigaction(signal, &action, nullptr);
}

int pending_interrupt() { return g_pending.load(); }

void request_interrupt(int signal) {
  int expected = 0;
  g_pending.compare_exchange_strong(expected, signal);
}

void clear_interrupt() { g_pending.store(0); }

std::string signal_name(int signal) {
  switch (signal) {
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    case SIGUSR1:
      return "SIGUSR1";
    default:
      return str_cat("signal ", signal);
  }
}

}  // namespace slimfit
