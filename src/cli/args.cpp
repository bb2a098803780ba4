#include "cli/args.h"

#include <cstdlib>

#include "common/error.h"

namespace slimfit::cli {
namespace {
std::string join(const std::set<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "--" : ", --") + n;
  return out;
}
}  // namespace

Args::Args(int argc, char** argv, int first, const std::set<std::string>& flags,
           const std::set<std::string>& options) {
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) {
      positional_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2), value;
    const size_t eq = name.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (flags.count(name)) {
      SLIMFIT_CHECK(!inline_value, "--", name, " takes no value");
      values_[name] = "1";
    } else if (options.count(name)) {
      if (!inline_value) {
        SLIMFIT_CHECK(i + 1 < argc, "--", name, " needs a value");
        value = argv[++i];
      }
      values_[name] = value;
    } else {
      std::set<std::string> all = flags;
      all.insert(options.begin(), options.end());
      throw Error(str_cat("unknown option --", name, "; known options: ", join(all)));
    }
  }
}

std::string Args::get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

int64_t Args::get_int(const std::string& name, int64_t fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  char* end = nullptr;
  const long long v = std::strtoll(it->second.c_str(), &end, 10);
  SLIMFIT_CHECK(end && *end == '\0' && !it->second.empty(), "--", name,
                " expects an integer, got '", it->second, "'");
  return v;
}

double Args::get_double(const std::string& name, double fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  char* end = nullptr;
  const double v = std::strtod(it->second.c_str(), &end);
  SLIMFIT_CHECK(end && *end == '\0' && !it->second.empty(), "--", name, " expects a number, got '",
                it->second, "'");
  return v;
}

std::vector<std::pair<std::string, std::string>> Args::key_values() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& kv : positional_) {
    const size_t eq = kv.find('=');
    SLIMFIT_CHECK(eq != std::string::npos && eq > 0, "expected key=value, got '", kv,
                  "' (options are written key=value, or --flag for output files)");
    out.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return out;
}

std::string format_key_table(const std::vector<train::KeyHelp>& keys) {
  std::string out;
  for (const train::KeyHelp& k : keys) {
    out += str_cat("  ", k.key, " = ", k.default_value.empty() ? "(empty)" : k.default_value,
                   "\n      ", k.help, "\n");
  }
  return out;
}

}  // namespace slimfit::cli
