// The slimfit binary: the only reader of argv.
#include <cstdio>

int main(int argc, char** argv) {
  std::fprintf(stderr, "usage: slimfit {memory} ...\n");
  return 2;
}
