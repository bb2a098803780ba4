// Export to Hugging Face and loading a trained model (issue 13; note [export] in
// train/trained_model.h): a trained run exported and loaded back as a model directory gives the
// checkpoint's logits exactly; regression and label names travel through config.json; mean
// pooling is refused; a directory missing a head tensor is an error naming it; a checkpoint
// without the /model group still resumes and loads; the output directory rules; the binary.
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "ckpt/h5.h"
#include "common/error.h"
#include "expect_error.h"
#include "models/config.h"
#include "models/model.h"
#include "models/safetensors.h"
#include "run_cli.h"
#include "train/adamw.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/trained_model.h"
#include "train/trainer.h"

namespace fs = std::filesystem;
using namespace slimfit;
using nlohmann::json;

namespace {

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

json read_json(const fs::path& path) { return json::parse(read_file(path)); }

void expect_same_config(const models::ModelConfig& a, const models::ModelConfig& b) {
  EXPECT_EQ(a.arch, b.arch);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.num_layers, b.num_layers);
  EXPECT_EQ(a.num_heads, b.num_heads);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.layer_norm_eps, b.layer_norm_eps);
  EXPECT_EQ(a.hidden_dropout, b.hidden_dropout);
  EXPECT_EQ(a.attention_dropout, b.attention_dropout);
  EXPECT_EQ(a.initializer_range, b.initializer_range);
  EXPECT_EQ(a.num_labels, b.num_labels);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.max_position_embeddings, b.max_position_embeddings);
  EXPECT_EQ(a.type_vocab_size, b.type_vocab_size);
  EXPECT_EQ(a.pad_token_id, b.pad_token_id);
  EXPECT_EQ(a.pooling, b.pooling);
  EXPECT_EQ(a.vocab_file, b.vocab_file);
  EXPECT_EQ(a.image_size, b.image_size);
  EXPECT_EQ(a.patch_size, b.patch_size);
  EXPECT_EQ(a.num_channels, b.num_channels);
}

// A batch with padding on rows 1.. and both token types (BERT), or random pixels (ViT).
models::Batch probe(const models::ModelConfig& c) {
  models::Batch b = models::synthetic_batch(c, 4, 16, 5);
  if (c.arch != models::Arch::kBert) return b;
  for (int64_t row = 1; row < 4; ++row) {
    b.attention_mask[row].slice(0, 16 - 3 * row).zero_();
    b.input_ids[row].slice(0, 16 - 3 * row).fill_(c.pad_token_id);
  }
  b.token_type_ids.slice(1, 8).fill_(1);
  return b;
}

at::Tensor logits(models::ClassifierImpl& model) {
  at::NoGradGuard no_grad;
  return model.forward(probe(model.config()));
}

// A freshly initialised model in eval mode (no dropout), as the loaders return theirs.
models::Classifier fresh(models::ModelConfig c, uint64_t seed = 3) {
  at::manual_seed(seed);
  models::Classifier model = models::make_model(c);
  model->eval();
  return model;
}

class ExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("slimfit_export_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // A checkpoint of `model` as train writes one, with `state`'s labels and problem type.
  void save(const std::string& file, models::ClassifierImpl& model,
            train::CheckpointState state = {}, train::TrainConfig run = {}) const {
    std::vector<std::pair<std::string, at::Tensor>> named;
    for (auto& item : model.named_parameters()) named.emplace_back(item.key(), item.value());
    train::AdamW optimizer(named, {});
    state.scheduler.scores = {0.0};
    state.scheduler.last_trained = {0};
    if (!state.rng_states.defined()) state.rng_states = at::zeros({1, 8}, at::kByte);
    train::save_checkpoint(file, run, model, optimizer, state);
  }

  fs::path dir_;
};

TEST(ConfigJson, RoundTripsEveryField) {
  models::ModelConfig bert = models::builtin_config("bert-tiny");
  bert.pooling = "mean";
  bert.hidden_dropout = 0.05;
  bert.attention_dropout = 0.125;
  bert.num_labels = 3;
  bert.vocab_file = "/somewhere/vocab.txt";
  bert.layer_norm_eps = 1e-7;
  bert.type_vocab_size = 3;
  for (const models::ModelConfig& c :
       {bert, models::builtin_config("bert-base"), models::builtin_config("vit-tiny"),
        models::config_from_json_file(std::string(SLIMFIT_FIXTURE_DIR) +
                                      "/bert_small/config.json")}) {
    SCOPED_TRACE(c.name);
    expect_same_config(models::config_from_json(models::config_to_json(c), "test"), c);
  }
  // What transformers reads: Hugging Face's keys.
  const json j = json::parse(models::config_to_json(bert));
  EXPECT_EQ(j["model_type"], "bert");
  EXPECT_EQ(j["num_hidden_layers"], 2);
  EXPECT_EQ(j["hidden_dropout_prob"], 0.05);
  EXPECT_EQ(j["slimfit_pooling"], "mean");
}

TEST_F(ExportTest, TrainedRunExportsAndLoadsBackWithTheSameLogits) {
  train::TrainConfig c;
  c.model = "bert-tiny";
  c.data = "synthetic:2000";
  c.steps = 3;
  c.batch = 8;
  c.seq_len = 32;
  c.lr = 1e-3;
  c.freeze_ratio = 0.5;
  c.seed = 11;
  c.max_eval = 16;
  c.log_every = 1000;
  c.checkpoint = path("run.h5");
  train::Trainer trainer(c);
  trainer.run();

  train::export_hugging_face(path("run.h5"), path("out"));
  for (const char* f : {"config.json", "model.safetensors"})
    EXPECT_TRUE(fs::exists(path("out/") + f));
  EXPECT_FALSE(fs::exists(path("out/vocab.txt")));  // bert-tiny has no vocabulary
  EXPECT_FALSE(fs::exists(path("out/tokenizer_config.json")));

  const train::TrainedModel from_checkpoint = train::load_trained_model(path("run.h5"));
  const train::TrainedModel from_dir = train::load_model_directory(path("out"));
  EXPECT_FALSE(from_checkpoint.model->is_training());
  EXPECT_FALSE(from_dir.model->is_training());
  // The checkpoint holds the trainer's weights, and the directory the same, bit for bit.
  auto trained = trainer.model().named_parameters();
  auto exported = models::read_safetensors(path("out/model.safetensors"));
  EXPECT_EQ(exported.size(), trained.size());
  for (const auto& item : trained) {
    ASSERT_TRUE(exported.count(item.key())) << item.key();
    EXPECT_TRUE(at::equal(exported.at(item.key()), item.value().detach().cpu())) << item.key();
  }
  const at::Tensor expected = logits(*from_checkpoint.model);
  EXPECT_EQ(expected.sizes(), (std::vector<int64_t>{4, 2}));
  EXPECT_TRUE(at::equal(logits(*from_dir.model), expected))
      << (logits(*from_dir.model) - expected).abs().max();
  expect_same_config(from_dir.model->config(), [&] {
    models::ModelConfig want = from_checkpoint.model->config();
    want.name = from_dir.model->config().name;  // _name_or_path, as written
    return want;
  }());
  EXPECT_EQ(from_checkpoint.config.at("steps"), "3");
  EXPECT_TRUE(from_dir.config.empty());
  EXPECT_EQ(from_dir.problem_type, "single_label_classification");
  EXPECT_EQ(from_dir.problem_type, from_checkpoint.problem_type);

  const json config = read_json(path("out/config.json"));
  EXPECT_EQ(config["architectures"], json::array({"BertForSequenceClassification"}));
  EXPECT_EQ(config["num_labels"], 2);
  EXPECT_EQ(config["problem_type"], "single_label_classification");
  EXPECT_EQ(config["id2label"], json({{"0", "LABEL_0"}, {"1", "LABEL_1"}}));
  EXPECT_EQ(config["label2id"], json({{"LABEL_0", 0}, {"LABEL_1", 1}}));
  EXPECT_FALSE(config.contains("slimfit_pooling"));
  EXPECT_EQ(models::read_safetensors_file(path("out/model.safetensors")).metadata.at("format"),
            "pt");
}

TEST_F(ExportTest, RegressionAndLabelNamesTravelThroughConfigJson) {
  models::ModelConfig c = models::builtin_config("bert-tiny");
  c.num_labels = 1;
  models::Classifier regression = fresh(c);
  train::CheckpointState state;
  state.problem_type = "regression";
  save(path("reg.h5"), *regression, state);
  train::export_hugging_face(path("reg.h5"), path("reg"));
  json config = read_json(path("reg/config.json"));
  EXPECT_EQ(config["problem_type"], "regression");
  EXPECT_EQ(config["num_labels"], 1);
  EXPECT_EQ(config["id2label"], json({{"0", "LABEL_0"}}));
  train::TrainedModel loaded = train::load_model_directory(path("reg"));
  EXPECT_EQ(loaded.problem_type, "regression");
  EXPECT_TRUE(loaded.label_names.empty());
  EXPECT_TRUE(at::equal(logits(*loaded.model), logits(*regression)));
  EXPECT_EQ(train::load_trained_model(path("reg.h5")).problem_type, "regression");

  c.num_labels = 3;
  models::Classifier named = fresh(c);
  state.problem_type = "single_label_classification";
  state.label_names = {"negative", "neutral", "positive"};
  save(path("named.h5"), *named, state);
  EXPECT_EQ(train::load_trained_model(path("named.h5")).label_names, state.label_names);
  train::export_hugging_face(path("named.h5"), path("named"));
  config = read_json(path("named/config.json"));
  EXPECT_EQ(config["id2label"], json({{"0", "negative"}, {"1", "neutral"}, {"2", "positive"}}));
  EXPECT_EQ(config["label2id"], json({{"negative", 0}, {"neutral", 1}, {"positive", 2}}));
  loaded = train::load_model_directory(path("named"));
  EXPECT_EQ(loaded.label_names, state.label_names);
  EXPECT_EQ(loaded.problem_type, "single_label_classification");
  EXPECT_TRUE(at::equal(logits(*loaded.model), logits(*named)));

  state.label_names = {"a", "a", "b"};  // label2id cannot hold them
  save(path("dup.h5"), *named, state);
  expect_error([&] { train::export_hugging_face(path("dup.h5"), path("dup")); },
               {"label name 'a'", "two classes"});
  EXPECT_FALSE(fs::exists(path("dup")));
}

TEST_F(ExportTest, VitExportsAndLoadsBack) {
  models::Classifier vit = fresh(models::builtin_config("vit-tiny"));
  train::TrainConfig run;
  run.model = "vit-tiny";
  save(path("vit.h5"), *vit, {}, run);
  train::export_hugging_face(path("vit.h5"), path("vit"));
  const json config = read_json(path("vit/config.json"));
  EXPECT_EQ(config["architectures"], json::array({"ViTForImageClassification"}));
  EXPECT_EQ(config["model_type"], "vit");
  EXPECT_EQ(config["image_size"], 32);
  EXPECT_EQ(config["id2label"].size(), 10u);
  const train::TrainedModel loaded = train::load_model_directory(path("vit"));
  EXPECT_TRUE(at::equal(logits(*loaded.model), logits(*vit)));
}

TEST_F(ExportTest, MeanPoolingIsRefusedWithAMessage) {
  models::ModelConfig c = models::builtin_config("bert-tiny");
  c.pooling = "mean";
  models::Classifier model = fresh(c);
  save(path("mean.h5"), *model);
  // The checkpoint itself is fine to use: it loads as trained, without a pooler.
  EXPECT_EQ(train::load_trained_model(path("mean.h5")).model->config().pooling, "mean");
  expect_error([&] { train::export_hugging_face(path("mean.h5"), path("out")); },
               {"pooling=mean", "BertForSequenceClassification", "pooling=cls"});
  EXPECT_FALSE(fs::exists(path("out")));  // refused before writing anything
  const auto [rc, out] =
      run_slimfit("export checkpoint=" + path("mean.h5") + " --output " + path("out"));
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("pooling=mean"), std::string::npos) << out;
}

TEST_F(ExportTest, ADirectoryMissingAHeadTensorFailsNamingIt) {
  models::Classifier model = fresh(models::builtin_config("bert-tiny"));
  save(path("run.h5"), *model);
  train::export_hugging_face(path("run.h5"), path("out"));
  auto tensors = models::read_safetensors(path("out/model.safetensors"));
  for (const char* name : {"classifier.weight", "bert.pooler.dense.bias"}) {
    SCOPED_TRACE(name);
    auto without = tensors;
    without.erase(name);
    models::write_safetensors(path("out/model.safetensors"), without, {{"format", "pt"}});
    expect_error([&] { train::load_model_directory(path("out")); },
                 {std::string("has no ") + name, "(1 missing)", "task head"});
  }
  expect_error([&] { train::load_model_directory(path("nope")); }, {"not a directory"});
  // A Hugging Face directory with its head loads: the bert_small fixture (3 labels, LABEL_i).
  const train::TrainedModel hf =
      train::load_model_directory(std::string(SLIMFIT_FIXTURE_DIR) + "/bert_small");
  EXPECT_EQ(hf.model->config().num_labels, 3);
  EXPECT_TRUE(hf.label_names.empty());
}

TEST_F(ExportTest, CheckpointWithoutTheModelGroupStillResumesAndLoads) {
  models::Classifier model = fresh(models::builtin_config("bert-tiny"));
  train::CheckpointState state;
  state.problem_type = "single_label_classification";
  state.label_names = {"no", "yes"};
  save(path("old.h5"), *model, state);
  {
    h5::File f = h5::File::open(path("old.h5"), /*writable=*/true);
    ASSERT_TRUE(f.exists("/model/config_json"));
    f.remove("/model");
    f.close();
  }
  models::Classifier resumed = fresh(models::builtin_config("bert-tiny"), 99);
  std::vector<std::pair<std::string, at::Tensor>> named;
  for (auto& item : resumed->named_parameters()) named.emplace_back(item.key(), item.value());
  train::AdamW optimizer(named, {});
  const train::CheckpointState loaded =
      train::load_checkpoint(path("old.h5"), train::TrainConfig{}, *resumed, optimizer);
  EXPECT_TRUE(loaded.label_names.empty());
  EXPECT_EQ(loaded.problem_type, "");
  EXPECT_TRUE(at::equal(logits(*resumed), logits(*model)));

  const train::TrainedModel trained = train::load_trained_model(path("old.h5"));
  EXPECT_EQ(trained.problem_type, "single_label_classification");  // inferred: 2 labels
  EXPECT_TRUE(at::equal(logits(*trained.model), logits(*model)));
}

// Resume repeats a run only if every rank's generators continue: the CPU's, and on a GPU the
// device's (dropout there draws from it). Both come back byte for byte; a CPU run's checkpoint
// holds no device state.
TEST_F(ExportTest, EveryRanksGeneratorStatesRoundTrip) {
  models::Classifier model = fresh(models::builtin_config("bert-tiny"));
  std::vector<std::pair<std::string, at::Tensor>> named;
  for (auto& item : model->named_parameters()) named.emplace_back(item.key(), item.value());
  train::AdamW optimizer(named, {});
  train::CheckpointState state;
  state.rng_states = at::randint(0, 256, {2, 5056}, at::kByte);
  save(path("cpu.h5"), *model, state);
  state.cuda_rng_states = at::randint(0, 256, {2, 16}, at::kByte);
  save(path("gpu.h5"), *model, state);

  const train::CheckpointState cpu =
      train::load_checkpoint(path("cpu.h5"), train::TrainConfig{}, *model, optimizer);
  EXPECT_TRUE(at::equal(cpu.rng_states, state.rng_states));
  EXPECT_FALSE(cpu.cuda_rng_states.defined());
  const train::CheckpointState gpu =
      train::load_checkpoint(path("gpu.h5"), train::TrainConfig{}, *model, optimizer);
  EXPECT_TRUE(at::equal(gpu.rng_states, state.rng_states));
  ASSERT_TRUE(gpu.cuda_rng_states.defined());
  EXPECT_TRUE(at::equal(gpu.cuda_rng_states, state.cuda_rng_states));
}

TEST_F(ExportTest, OutputDirectoryIsCheckedAndAPreviousExportReplaced) {
  models::Classifier model = fresh(models::builtin_config("bert-tiny"));
  save(path("run.h5"), *model);
  std::ofstream(path("file")) << "x";
  expect_error([&] { train::export_hugging_face(path("run.h5"), path("file")); },
               {"is not a directory"});
  fs::create_directories(path("other"));
  std::ofstream(path("other/notes.txt")) << "mine";
  expect_error([&] { train::export_hugging_face(path("run.h5"), path("other")); },
               {"notes.txt", "new or empty directory"});
  EXPECT_FALSE(fs::exists(path("other/config.json")));

  // A previous export (here with a vocabulary this model lacks) is replaced, file by file.
  train::export_hugging_face(path("run.h5"), path("out"));
  std::ofstream(path("out/vocab.txt")) << "[PAD]\n";
  models::Classifier other = fresh(models::builtin_config("bert-tiny"), 4);
  save(path("run2.h5"), *other);
  train::export_hugging_face(path("run2.h5"), path("out"));
  EXPECT_FALSE(fs::exists(path("out/vocab.txt")));
  EXPECT_TRUE(at::equal(logits(*train::load_model_directory(path("out")).model), logits(*other)));
  for (const auto& e : fs::directory_iterator(path("out")))
    EXPECT_FALSE(e.path().extension() == ".tmp") << e.path();
}

TEST_F(ExportTest, VocabularyAndTokenizerConfigAreWritten) {
  fs::create_directories(path("assets"));
  const std::string vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n";
  std::ofstream(path("assets/vocab.txt")) << vocab;
  std::ofstream(path("assets/tokenizer_config.json"))
      << R"({"do_lower_case": false, "model_max_length": 128, "tokenizer_class": "BertTokenizer"})";
  models::ModelConfig c = models::builtin_config("bert-tiny");
  c.vocab_file = path("assets/vocab.txt");
  models::Classifier model = fresh(c);
  save(path("run.h5"), *model);
  EXPECT_EQ(train::load_trained_model(path("run.h5")).vocab_file, c.vocab_file);
  train::export_hugging_face(path("run.h5"), path("out"));
  EXPECT_EQ(read_file(path("out/vocab.txt")), vocab);
  const json tok = read_json(path("out/tokenizer_config.json"));
  EXPECT_EQ(tok["tokenizer_class"], "BertTokenizer");
  EXPECT_EQ(tok["do_lower_case"], false);
  EXPECT_EQ(tok["model_max_length"], 128);
  EXPECT_FALSE(read_json(path("out/config.json")).contains("slimfit_vocab_file"));
  EXPECT_EQ(train::load_model_directory(path("out")).vocab_file, path("out/vocab.txt"));

  fs::remove(path("assets/vocab.txt"));  // gone: refused before writing
  expect_error([&] { train::export_hugging_face(path("run.h5"), path("out2")); },
               {"vocabulary", "is gone"});
}

TEST_F(ExportTest, TheBinaryExportsWithTrainsGrammar) {
  models::Classifier model = fresh(models::builtin_config("bert-tiny"));
  save(path("run.h5"), *model);
  std::ofstream(path("run.conf")) << "checkpoint = " << path("run.h5") << "\nsteps = 30\n";
  auto [rc, out] = run_slimfit("export --config " + path("run.conf") + " --output " + path("out") +
                               " --logits " + path("logits.json"));
  ASSERT_EQ(rc, 0) << out;
  EXPECT_TRUE(fs::exists(path("out/model.safetensors")));
  const json probe = read_json(path("logits.json"));
  EXPECT_EQ(probe["arch"], "bert");
  EXPECT_EQ(probe["logits"]["shape"], json::array({4, 2}));
  EXPECT_EQ(probe["input_ids"]["shape"], json::array({4, 32}));
  // The logits are the checkpoint model's on the file's own inputs.
  auto as_long = [&](const char* key) {
    return at::tensor(probe[key]["data"].get<std::vector<int64_t>>()).view({4, 32});
  };
  models::Batch b;
  b.input_ids = as_long("input_ids");
  b.attention_mask = as_long("attention_mask");
  b.token_type_ids = as_long("token_type_ids");
  EXPECT_EQ(b.attention_mask.sum().item<int64_t>(), 4 * 32 - (4 + 8 + 12));
  at::Tensor want;
  {
    at::NoGradGuard no_grad;
    want = model->forward(b).to(at::kDouble).flatten();
  }
  EXPECT_TRUE(at::equal(at::tensor(probe["logits"]["data"].get<std::vector<double>>()), want));

  std::tie(rc, out) = run_slimfit("export checkpoint=" + path("run.h5") + " model=bert-base " +
                                  "--output " + path("out"));
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("checkpoint=RUN.h5 only"), std::string::npos) << out;
  std::tie(rc, out) = run_slimfit("export checkpoint=" + path("run.h5"));
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("--output DIR"), std::string::npos) << out;
}

TEST_F(ExportTest, SafetensorsWritesAreAtomicAndChecked) {
  const std::map<std::string, at::Tensor> t = {{"a", at::arange(6, at::kFloat).view({2, 3})}};
  models::write_safetensors(path("x.safetensors"), t, {{"format", "pt"}});
  const models::SafetensorsFile back = models::read_safetensors_file(path("x.safetensors"));
  EXPECT_TRUE(at::equal(back.tensors.at("a"), t.at("a")));
  EXPECT_EQ(back.metadata.at("format"), "pt");
  expect_error([&] { models::write_safetensors(path("missing/x.safetensors"), t); },
               {"missing/x.safetensors", "cannot create"});
  EXPECT_FALSE(fs::exists(path("x.safetensors.tmp")));
}

}  // namespace
