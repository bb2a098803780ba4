// Logging with a rank prefix. Progress lines come from rank 0 only (log_info); warnings and
// errors come from every rank. Nothing in src/ writes to std::cout directly except the CLI.
#pragma once

#include <string>

#include "common/error.h"

namespace slimfit {

// Sets the rank and world size shown in the prefix ("[slimfit 1/4] ..."); default 0/1.
void set_log_rank(int rank, int world_size);
int log_rank();
// Messages below the level are dropped: 0 = debug, 1 = info, 2 = warn, 3 = error.
void set_log_level(int level);

void log_line(int level, const std::string& message);

template <typename... Args>
void log_info(const Args&... args) {
  if (log_rank() == 0) log_line(1, str_cat(args...));
}
template <typename... Args>
void log_warn(const Args&... args) {
  log_line(2, str_cat(args...));
}
template <typename... Args>
void log_debug(const Args&... args) {
  log_line(0, str_cat(args...));
}

}  // namespace slimfit
