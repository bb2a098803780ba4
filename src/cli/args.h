// A small argv reader for the slimfit subcommands: --flag, --key value, --key=value.
#pragma once

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "train/config.h"

namespace slimfit::cli {

// Keys, their defaults and help as --help prints them: two lines per key.
std::string format_key_table(const std::vector<train::KeyHelp>& keys);

class Args {
 public:
  // Parses argv[first..argc). `flags` take no value; every other --option takes one.
  // Unknown options throw slimfit::Error listing the known ones.
  Args(int argc, char** argv, int first, const std::set<std::string>& flags,
       const std::set<std::string>& options);

  bool has(const std::string& name) const { return values_.count(name) > 0; }
  std::string get(const std::string& name, const std::string& fallback) const;
  int64_t get_int(const std::string& name, int64_t fallback) const;
  double get_double(const std::string& name, double fallback) const;
  const std::vector<std::string>& positional() const { return positional_; }
  // The positional arguments as key=value pairs, in order; any other positional argument is an
  // error that names it (so a stray word is never silently ignored).
  std::vector<std::pair<std::string, std::string>> key_values() const;

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

}  // namespace slimfit::cli
