// Weights load completely or not at all (note [loading weights] in models/model.h), through
// train's one entry point (train::resolve_model_spec + load_model_weights) and the binary:
// a model directory without weights, mismatched names, more layers in config.json than in the
// weights, init= and resume= from damaged checkpoints. Only the task head may start fresh, and
// the log names it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "expect_error.h"
#include "ckpt/h5.h"
#include "common/error.h"
#include "models/model.h"
#include "models/safetensors.h"
#include "run_cli.h"
#include "train/model_spec.h"

namespace fs = std::filesystem;
using namespace slimfit;

namespace {

const std::string kBertSmall = std::string(SLIMFIT_FIXTURE_DIR) + "/bert_small";

// A per-test directory holding a copy of the bert_small fixture (config.json, model.safetensors).
class LoadingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("slimfit_loading_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "model");
    fs::copy_file(kBertSmall + "/config.json", dir_ / "model/config.json");
    fs::copy_file(kBertSmall + "/model.safetensors", dir_ / "model/model.safetensors");
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string model_dir() const { return path("model"); }
  void write_weights(const std::map<std::string, at::Tensor>& tensors) const {
    models::write_safetensors(path("model/model.safetensors"), tensors);
  }
  // Loads model=model_dir() the way train does.
  models::Classifier load() const {
    const train::ModelSpec spec = train::resolve_model_spec(model_dir());
    models::Classifier model = models::make_model(spec.config);
    train::load_model_weights(*model, spec, "", {});
    return model;
  }
  // `slimfit train` on model=model_dir() for one step: (exit code, output).
  std::pair<int, std::string> train(const std::string& extra = "") const {
    return run_slimfit("train model=" + model_dir() +
                       " data=synthetic:64 batch=4 seq_len=16 steps=1 log_every=1 " + extra);
  }
  fs::path dir_;
};

std::map<std::string, at::Tensor> fixture_tensors() {
  return models::read_safetensors(kBertSmall + "/model.safetensors");
}

TEST_F(LoadingTest, DirectoryWithoutWeightsIsAnError) {
  fs::remove(path("model/model.safetensors"));
  expect_error([&] { train::resolve_model_spec(model_dir()); },
               {path("model/model.safetensors"), "not found", "model=" + path("model/config.json"),
                "bert-tiny"});
  // A config.json path asks for a fresh initialisation explicitly.
  EXPECT_TRUE(train::resolve_model_spec(path("model/config.json")).weights.empty());

  const auto [rc, out] = train();
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("model.safetensors not found"), std::string::npos) << out;
  EXPECT_EQ(out.find("step 1/1"), std::string::npos) << out;  // refused before training
}

TEST_F(LoadingTest, VocabTxtBecomesTheModelsVocabulary) {
  EXPECT_EQ(train::resolve_model_spec(model_dir()).config.vocab_file, "");
  std::ofstream(path("model/vocab.txt")) << "[PAD]\n[UNK]\n[CLS]\n[SEP]\n";
  EXPECT_EQ(train::resolve_model_spec(model_dir()).config.vocab_file, path("model/vocab.txt"));
}

TEST_F(LoadingTest, MismatchedNamesAreAnErrorBeforeStepOne) {
  std::map<std::string, at::Tensor> renamed;
  for (const auto& [name, t] : fixture_tensors()) renamed["encoder_" + name] = t;
  write_weights(renamed);
  expect_error([&] { load(); }, {"(37 missing)", "(41 unexpected)", "has no bert.embeddings."});
  const auto [rc, out] = train();
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("does not match the model"), std::string::npos) << out;
  EXPECT_NE(out.find("holds encoder_bert."), std::string::npos) << out;
  EXPECT_EQ(out.find("step 1/1"), std::string::npos) << out;
}

TEST_F(LoadingTest, MoreLayersInConfigThanInTheWeightsIsAnError) {
  std::ifstream in(path("model/config.json"));
  nlohmann::json config = nlohmann::json::parse(in);
  config["num_hidden_layers"] = 4;  // the weights have 2
  std::ofstream(path("model/config.json")) << config.dump(2);
  expect_error([&] { load(); }, {"(4 layers)", "has no bert.encoder.layer.2.", "(32 missing)"});
  const auto [rc, out] = train();
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("(32 missing)"), std::string::npos) << out;
}

TEST_F(LoadingTest, OnlyAMissingHeadStartsFreshAndTheLogNamesIt) {
  auto tensors = fixture_tensors();
  tensors.erase("classifier.weight");
  tensors.erase("classifier.bias");
  write_weights(tensors);
  const models::Classifier model = load();
  auto params = model->named_parameters();
  for (const auto& [name, t] : tensors) EXPECT_TRUE(at::equal(params[name], t)) << name;

  const auto [rc, out] = train("num_labels=3");
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("loaded 39 tensors from " + path("model/model.safetensors") +
                     "; starting fresh: classifier.weight, classifier.bias\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("step 1/1"), std::string::npos) << out;
}

// init= reads a slimfit checkpoint under the same rules, with init_skip for the head: a missing
// tensor and an extra layer are both errors naming the /weights dataset.
TEST_F(LoadingTest, InitIsStrictAboutMissingAndExtraTensors) {
  const train::ModelSpec spec = train::resolve_model_spec(model_dir());
  models::Classifier model = models::make_model(spec.config);
  auto write_init = [&](const std::string& drop, const std::string& add) {
    h5::write_atomically(path("init.h5"), [&](h5::File& f) {
      for (const auto& item : model->named_parameters())
        if (item.key() != drop) f.write_tensor("/weights/" + item.key(), item.value());
      if (!add.empty()) f.write_tensor("/weights/" + add, at::zeros({64}));
    });
  };
  write_init("", "");
  train::load_model_weights(*model, spec, path("init.h5"), {"classifier"});

  write_init("bert.encoder.layer.0.output.dense.bias", "");
  expect_error([&] { train::load_model_weights(*model, spec, path("init.h5"), {"classifier"}); },
               {"init: " + path("init.h5"),
                "has no /weights/bert.encoder.layer.0.output.dense.bias (1 missing)", "init_skip"});
  write_init("", "bert.encoder.layer.7.output.dense.bias");
  expect_error([&] { train::load_model_weights(*model, spec, path("init.h5"), {"classifier"}); },
               {"holds /weights/bert.encoder.layer.7.output.dense.bias", "(1 unexpected)"});
}

// resume= restores every tensor: a checkpoint lacking one is refused, naming it.
TEST_F(LoadingTest, ResumeNamesAMissingTensor) {
  const std::string ck = path("ck.h5");
  const std::string args = "train model=bert-tiny data=synthetic:64 batch=4 seq_len=16 steps=1 ";
  auto [rc, out] = run_slimfit(args + "checkpoint=" + ck);
  ASSERT_EQ(rc, 0) << out;
  {
    h5::File f = h5::File::open(ck, /*writable=*/true);
    f.remove("/weights/bert.encoder.layer.1.output.dense.weight");
  }
  std::tie(rc, out) = run_slimfit(args + "resume=" + ck);
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("resume: checkpoint " + ck + " does not match the model"), std::string::npos)
      << out;
  EXPECT_NE(out.find("has no /weights/bert.encoder.layer.1.output.dense.weight (1 missing)"),
            std::string::npos)
      << out;
}

// A flipped bit in a checkpoint tensor (note [checksums] in ckpt/h5.cpp) stops resume with the
// tensor's name, instead of training on from a damaged weight.
TEST_F(LoadingTest, ResumeRefusesAFlippedBit) {
  const std::string ck = path("ck.h5");
  const std::string args = "train model=bert-tiny data=synthetic:64 batch=4 seq_len=16 steps=1 ";
  auto [rc, out] = run_slimfit(args + "checkpoint=" + ck);
  ASSERT_EQ(rc, 0) << out;
  const std::string name = "/weights/bert.encoder.layer.0.attention.self.query.weight";
  const at::Tensor w = h5::File::open(ck).read_tensor(name).contiguous();
  const std::string pattern(static_cast<const char*>(w.data_ptr()), w.nbytes());
  std::ifstream in(ck, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  const size_t at = bytes.find(pattern);
  ASSERT_NE(at, std::string::npos);
  bytes[at + pattern.size() / 2] ^= 0x01;
  std::ofstream(ck, std::ios::binary | std::ios::trunc) << bytes;

  std::tie(rc, out) = run_slimfit(args + "resume=" + ck);
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("dataset " + name + " in checkpoint " + ck + " fails its checksum"),
            std::string::npos)
      << out;
}

}  // namespace
