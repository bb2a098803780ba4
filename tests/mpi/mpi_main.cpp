// main() for the multi-rank GoogleTest binaries: MPI lives for the whole run, and only rank 0
// prints GoogleTest's report (every rank still asserts; see the collective-test habit: ranks
// combine their verdicts with an all-reduce before asserting, so nobody returns early).
#include <gtest/gtest.h>
#include "comm/mpi_c.h"

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int failed = RUN_ALL_TESTS();
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return failed;
}
