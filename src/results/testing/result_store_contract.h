// The ResultStore contract suite: every behaviour result_store.h promises, as value-parameterized
// tests. An implementation runs the same cases by providing a harness factory and one line:
//
//   INSTANTIATE_RESULT_STORE_CONTRACT(Fs, &MakeFsHarness);
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "results/result_store.h"

namespace stipple {

// Owns one fresh, empty store.
class ResultStoreHarness {
 public:
  virtual ~ResultStoreHarness() = default;
  virtual ResultStore& store() = 0;
};

using ResultStoreHarnessFactory = std::unique_ptr<ResultStoreHarness> (*)();

class ResultStoreContract : public ::testing::TestWithParam<ResultStoreHarnessFactory> {
 protected:
  void SetUp() override { harness_ = GetParam()(); }
  void TearDown() override { harness_.reset(); }
  ResultStore& store() { return harness_->store(); }

  std::unique_ptr<ResultStoreHarness> harness_;
};

}  // namespace stipple

// Runs the whole suite against the stores `factory` makes; tests are named
// NAME/ResultStoreContract.Behaviour/store.
#define INSTANTIATE_RESULT_STORE_CONTRACT(NAME, factory)                          \
  INSTANTIATE_TEST_SUITE_P(NAME, ResultStoreContract, ::testing::Values(factory), \
                           [](const auto&) { return std::string("store"); })
