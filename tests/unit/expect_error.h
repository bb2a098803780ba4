// Shared by the unit tests: expects fn() to throw a slimfit::Error whose message holds every
// needle (each missing needle is one failure, printed with the whole message).
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

#include "common/error.h"

template <typename Fn>
void expect_error(Fn fn, std::initializer_list<std::string> needles) {
  try {
    fn();
    ADD_FAILURE() << "no error";
  } catch (const slimfit::Error& e) {
    const std::string what = e.what();
    for (const auto& n : needles) EXPECT_NE(what.find(n), std::string::npos) << what;
  }
}
