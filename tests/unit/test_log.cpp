#include <gtest/gtest.h>

#include "common/error.h"

TEST(Error, CheckThrowsWithMessage) {
  try {
    SLIMFIT_CHECK(1 + 1 == 3, "expected ", 3, " got ", 2);
    FAIL() << "no throw";
  } catch (const slimfit::Error& e) {
    EXPECT_STREQ(e.what(), "expected 3 got 2");
  }
}
