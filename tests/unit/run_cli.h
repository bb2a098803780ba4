// Runs the slimfit binary (SLIMFIT_BINARY, set by CMake) with arguments and returns its exit
// code and combined stdout/stderr. Shared by the CLI tests.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>
#include <utility>

// env: a prefix for the shell command line, such as "env -u VAR NAME=value" (empty: none).
inline std::pair<int, std::string> run_slimfit_with_env(const std::string& env,
                                                        const std::string& args) {
  const std::string cmd = env + " " + std::string(SLIMFIT_BINARY) + " " + args + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  while (size_t n = fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
  const int status = pclose(pipe);
  return {WEXITSTATUS(status), out};
}

inline std::pair<int, std::string> run_slimfit(const std::string& args) {
  return run_slimfit_with_env("", args);
}
