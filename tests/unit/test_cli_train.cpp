// The `slimfit train` and `slimfit prepare` command lines and the summary JSON contract
// (README, "The command line").
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "run_cli.h"

namespace {

namespace fs = std::filesystem;

fs::path temp_dir() {
  const fs::path dir = fs::temp_directory_path() / "slimfit_test_cli";
  fs::create_directories(dir);
  return dir;
}

TEST(TrainCli, WritesTheSummaryContract) {
  const std::string summary = (temp_dir() / "summary.json").string();
  fs::remove(summary);
  auto [rc, out] = run_slimfit(
      "train model=bert-tiny data=synthetic:400 steps=4 batch=4 seq_len=16 "
      "freeze_ratio=0.9 budget=units max_eval=16 --summary " +
      summary);
  ASSERT_EQ(rc, 0) << out;
  std::ifstream in(summary);
  const auto j = nlohmann::json::parse(in);
  for (const char* key : {"final_accuracy", "steps", "peak_bytes", "mean_step_seconds",
                          "comm_bytes_per_step", "world_size", "trainable_fraction"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["steps"].get<int64_t>(), 4);
  EXPECT_EQ(j["world_size"].get<int64_t>(), 1);
  EXPECT_GT(j["peak_bytes"].get<int64_t>(), 0);
  // bert-tiny has 22 units: 22 - floor(0.9 * 22) = 3 train per step.
  EXPECT_DOUBLE_EQ(j["trainable_fraction"].get<double>(), 3.0 / 22.0);
  EXPECT_NE(out.find("step 4/4"), std::string::npos) << out;  // progress line
}

TEST(TrainCli, BadKeysAndFilesFailWithAMessage) {
  auto [rc, out] = run_slimfit("train model=bert-tiny steps=2 batchsize=4");
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("unknown key 'batchsize'"), std::string::npos) << out;
  std::tie(rc, out) = run_slimfit("train --config /nonexistent/run.conf");
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("cannot open config file /nonexistent/run.conf"), std::string::npos) << out;
  std::tie(rc, out) = run_slimfit("train model=bert-tiny steps=2 resume=/nonexistent/ck.h5");
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("does not exist"), std::string::npos) << out;
}

TEST(PrepareCli, TokenizesACsvIntoATrainableDataSet) {
  const fs::path dir = temp_dir();
  {
    std::ofstream vocab(dir / "vocab.txt");
    for (const char* t : {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "good", "bad", "film", "very"}) {
      vocab << t << "\n";
    }
    std::ofstream csv(dir / "reviews.csv");
    csv << "text,label\n";
    for (int i = 0; i < 20; ++i) csv << (i % 2 ? "\"very good film\",pos\n" : "bad film,neg\n");
  }
  const std::string h5 = (dir / "reviews.h5").string();
  auto [rc, out] =
      run_slimfit("prepare --input " + (dir / "reviews.csv").string() + " --output " + h5 +
                  " --vocab " + (dir / "vocab.txt").string() + " --labels neg,pos --max-length 8");
  ASSERT_EQ(rc, 0) << out;
  ASSERT_TRUE(fs::exists(h5));
  std::tie(rc, out) =
      run_slimfit("train model=bert-tiny data=" + h5 + " steps=2 batch=4 max_eval=4");
  EXPECT_EQ(rc, 0) << out;
  std::tie(rc, out) =
      run_slimfit("prepare --input " + (dir / "reviews.csv").string() + " --output " + h5 +
                  " --vocab " + (dir / "vocab.txt").string() + " --label-column stars");
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("stars"), std::string::npos) << out;
}

}  // namespace
