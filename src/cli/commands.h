// The subcommands that main() dispatches to, one file each under src/cli/. Each parses its own
// arguments (train's grammar: key=value pairs, --config FILE, and flags only for output files)
// and returns the process exit status; failures throw slimfit::Error.
#pragma once

#include <string>

namespace slimfit::cli {

int run_prepare(int argc, char** argv);   // prepare_command.cpp
int run_export(int argc, char** argv);    // export_command.cpp
int run_evaluate(int argc, char** argv);  // evaluate_command.cpp
int run_predict(int argc, char** argv);   // evaluate_command.cpp
int run_memory(int argc, char** argv);    // memory_command.cpp
std::string memory_help();                // memory_command.cpp

}  // namespace slimfit::cli
