#include "common/log.h"

#include <cstdio>
#include <mutex>

namespace slimfit {
namespace {
int g_rank = 0;
int g_world = 1;
int g_level = 1;
std::mutex g_mutex;
}  // namespace

void set_log_rank(int rank, int world_size) {
  g_rank = rank;
  g_world = world_size;
}
int log_rank() { return g_rank; }
void set_log_level(int level) { g_level = level; }

void log_line(int level, const std::string& message) {
  if (level < g_level) return;
  static const char* kNames[] = {"debug", "info", "warn", "error"};
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_world > 1) {
    std::fprintf(stderr, "[slimfit %d/%d %s] %s\n", g_rank, g_world, kNames[level & 3],
                 message.c_str());
  } else {
    std::fprintf(stderr, "[slimfit %s] %s\n", kNames[level & 3], message.c_str());
  }
}

}  // namespace slimfit
