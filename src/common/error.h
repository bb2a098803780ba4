// Errors at API boundaries: every failure a user can cause is a slimfit::Error whose message
// names the value, what was expected and how to fix it. Internal invariants use SLIMFIT_ASSERT.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace slimfit {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
inline void append(std::ostringstream&) {}
template <typename T, typename... Rest>
void append(std::ostringstream& os, const T& first, const Rest&... rest) {
  os << first;
  append(os, rest...);
}
}  // namespace detail

// Concatenates its arguments with operator<< into one string.
template <typename... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  detail::append(os, args...);
  return os.str();
}

}  // namespace slimfit

// Throws slimfit::Error with the streamed message when `cond` is false.
#define SLIMFIT_CHECK(cond, ...)                                  \
  do {                                                            \
    if (!(cond)) throw ::slimfit::Error(::slimfit::str_cat(__VA_ARGS__)); \
  } while (0)

// Internal invariant: a failure is a bug in slimfit, not bad input.
#define SLIMFIT_ASSERT(cond)                                                            \
  do {                                                                                  \
    if (!(cond))                                                                        \
      throw ::slimfit::Error(::slimfit::str_cat("internal error: ", #cond, " at ", \
                                                __FILE__, ":", __LINE__));              \
  } while (0)
