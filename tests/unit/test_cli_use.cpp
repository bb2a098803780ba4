// Using a fine-tuned model (issue 13): evaluate and predict from a checkpoint or an exported
// directory, the best checkpoint and early stopping, and pair and regression tasks end to end,
// all through the binary as a user runs it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "ckpt/h5.h"
#include "run_cli.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class UseCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("slimfit_use_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  // Runs slimfit with `args`; fails the test on a non-zero exit.
  std::string ok(const std::string& args) const {
    auto [rc, out] = run_slimfit(args);
    EXPECT_EQ(rc, 0) << args << "\n" << out;
    return out;
  }
  json read_json(const std::string& name) const {
    std::ifstream in(path(name));
    return json::parse(in);
  }
  std::vector<json> read_jsonl(const std::string& name) const {
    std::ifstream in(path(name));
    std::vector<json> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
    return lines;
  }
  fs::path dir_;
};

const std::string kTiny = "data=synthetic:2000 batch=8 seq_len=32 lr=2e-3 ";

TEST_F(UseCli, EvaluateGivesTheTrainersOwnFinalEvaluationExactly) {
  ok("train model=bert-tiny " + kTiny + "steps=30 checkpoint=" + path("r.h5") +
     " --summary " + path("s.json"));
  ok("evaluate checkpoint=" + path("r.h5") + " --summary " + path("e.json"));
  ok("export checkpoint=" + path("r.h5") + " --output " + path("out"));
  ok("evaluate model=" + path("out") + " data=synthetic:2000 seq_len=32 batch=8 --summary " +
     path("e2.json"));
  const json trained = read_json("s.json")["final_metrics"];
  for (const char* file : {"e.json", "e2.json"}) {
    const json e = read_json(file);
    for (const char* metric : {"accuracy", "f1", "macro_f1", "mcc", "loss", "examples"}) {
      EXPECT_EQ(e[metric], trained[metric]) << file << " " << metric;
    }
  }
  EXPECT_GT(trained["accuracy"].get<double>(), 60.0);  // it learned: the comparison means something
  // split=all scores every example, more than the held-out 20%.
  ok("evaluate checkpoint=" + path("r.h5") + " split=all --summary " + path("all.json"));
  EXPECT_EQ(read_json("all.json")["examples"], 2000);
}

TEST_F(UseCli, PredictWritesOneLinePerExampleWithTheLabelName) {
  ok("train model=bert-tiny " + kTiny + "steps=10 checkpoint=" + path("r.h5"));
  ok("predict checkpoint=" + path("r.h5") + " max_eval=16 --output " + path("p.jsonl"));
  const auto lines = read_jsonl("p.jsonl");
  ASSERT_EQ(lines.size(), 16u);
  for (const json& j : lines) {
    const auto p = j["probabilities"].get<std::vector<double>>();
    ASSERT_EQ(p.size(), 2u);
    EXPECT_NEAR(p[0] + p[1], 1.0, 1e-12);
    EXPECT_EQ(j["label"], p[1] > p[0] ? "LABEL_1" : "LABEL_0");
  }
  EXPECT_LT(lines[0]["index"].get<int64_t>(), lines[1]["index"].get<int64_t>());  // data order
  auto [rc, out] = run_slimfit("predict model=" + path("nowhere") + " checkpoint=" + path("r.h5"));
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("give exactly one model"), std::string::npos) << out;
}

TEST_F(UseCli, TheBestCheckpointIsThatOfTheBestLoggedEvaluation) {
  ok("train model=bert-tiny " + kTiny + "steps=40 eval_every=5 max_eval=64 save_best=" +
     path("best.h5") + " metrics=" + path("m.h5") + " --summary " + path("s.json"));
  auto metrics = slimfit::h5::File::open(path("m.h5"));
  metrics.set_kind("metrics file");
  const at::Tensor steps = metrics.read_tensor("/eval/step");
  const at::Tensor accuracy = metrics.read_tensor("/eval/accuracy");
  ASSERT_EQ(steps.numel(), 8);  // steps 5, 10, ..., 35 and the final one at 40
  const int64_t best = accuracy.argmax().item<int64_t>();  // the first of equal maxima
  const json s = read_json("s.json");
  EXPECT_EQ(s["best_step"], steps[best].item<int64_t>());
  EXPECT_EQ(s["best_value"], accuracy[best].item<double>());
  ok("evaluate checkpoint=" + path("best.h5") + " --summary " + path("e.json"));
  EXPECT_EQ(read_json("e.json")["accuracy"], accuracy[best].item<double>());
  auto best_file = slimfit::h5::File::open(path("best.h5"));
  best_file.set_kind("checkpoint");
  EXPECT_EQ(best_file.read_int("/data/next_step"), steps[best].item<int64_t>());
}

TEST_F(UseCli, PatienceStopsAfterEvaluationsWithoutImprovement) {
  // A learning rate too small to change the predictions: the accuracy never improves.
  const std::string out = ok("train model=bert-tiny data=synthetic:2000 batch=8 seq_len=32 "
                             "lr=1e-12 steps=40 eval_every=2 patience=2 max_eval=32 --summary " +
                             path("s.json"));
  EXPECT_EQ(read_json("s.json")["steps"], 6);  // best at 2; no better at 4 and 6
  EXPECT_NE(out.find("early stop at step 6"), std::string::npos) << out;
}

TEST_F(UseCli, PairsTrainEvaluateExportAndPredict) {
  ok("train model=bert-tiny data=synthetic-pairs:2000 batch=16 seq_len=32 lr=2e-3 steps=120 "
     "checkpoint=" + path("r.h5") + " --summary " + path("s.json"));
  EXPECT_GT(read_json("s.json")["final_accuracy"].get<double>(), 75.0);
  ok("export checkpoint=" + path("r.h5") + " --output " + path("out"));
  ok("evaluate model=" + path("out") +
     " data=synthetic-pairs:2000 seq_len=32 batch=16 --summary " + path("e.json"));
  EXPECT_EQ(read_json("e.json")["accuracy"], read_json("s.json")["final_accuracy"]);
  ok("predict model=" + path("out") + " data=synthetic-pairs:2000 seq_len=32 --output " +
     path("p.jsonl"));
  EXPECT_EQ(read_jsonl("p.jsonl").size(), 400u);
}

TEST_F(UseCli, RegressionTrainsWithMseAndReportsCorrelations) {
  ok("train model=bert-tiny data=synthetic-regression:2000 batch=16 seq_len=32 lr=2e-3 "
     "steps=120 checkpoint=" + path("r.h5") + " --summary " + path("s.json"));
  const json m = read_json("s.json")["final_metrics"];
  EXPECT_EQ(m["problem_type"], "regression");
  EXPECT_GT(m["pearson"].get<double>(), 0.5) << m;
  EXPECT_GT(m["spearman"].get<double>(), 0.5) << m;
  EXPECT_EQ(m["loss"], m["mse"]);
  ok("export checkpoint=" + path("r.h5") + " --output " + path("out"));
  std::ifstream config(path("out") + "/config.json");
  const json c = json::parse(config);
  EXPECT_EQ(c["problem_type"], "regression");
  EXPECT_EQ(c["num_labels"], 1);
  ok("evaluate model=" + path("out") +
     " data=synthetic-regression:2000 seq_len=32 batch=16 --summary " + path("e.json"));
  EXPECT_EQ(read_json("e.json")["pearson"], m["pearson"]);
  ok("predict checkpoint=" + path("r.h5") + " max_eval=8 --output " + path("p.jsonl"));
  const auto lines = read_jsonl("p.jsonl");
  ASSERT_EQ(lines.size(), 8u);
  EXPECT_TRUE(lines[0]["value"].is_number()) << lines[0];
  EXPECT_FALSE(lines[0].contains("label"));
}

}  // namespace
