// BERT and ViT against Hugging Face (transformers 4.30.2): parameter names and counts, logits,
// loss and every parameter gradient on small random models (tests/fixtures, made by
// tools/make_fixtures.py), MiniLM hidden states on real sentences, and the config/weight-loading
// errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "expect_error.h"
#include "common/error.h"
#include "models/bert.h"
#include "models/config.h"
#include "models/model.h"
#include "models/safetensors.h"
#include "models/vit.h"

namespace fs = std::filesystem;
using namespace slimfit::models;

namespace {

const std::string kFixtures = SLIMFIT_FIXTURE_DIR;

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(item);
  return out;
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("slimfit_models_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name, const std::string& text = "") const {
    const std::string p = (path_ / name).string();
    if (!text.empty()) std::ofstream(p) << text;
    return p;
  }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

int64_t count_params(ClassifierImpl& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

// Runs the HF fixture check: names in HF order, parameter count, logits, loss and every grad.
// Tolerances: logits and loss 1e-5 absolute; grads |g - g_hf| <= 1e-5 + 1e-4 |g_hf| elementwise.
void check_against_fixture(const std::string& name, const Batch& batch, const SafetensorsFile& io) {
  Classifier model = load_pretrained(kFixtures + "/" + name, /*num_labels=*/0);

  std::vector<std::string> names;
  for (const auto& item : model->named_parameters()) names.push_back(item.key());
  EXPECT_EQ(names, split_commas(io.metadata.at("parameter_names")));
  EXPECT_EQ(count_params(*model), std::stoll(io.metadata.at("num_parameters")));

  model->train();  // the fixture's dropout probabilities are 0
  model->zero_grad();
  at::Tensor logits = model->forward(batch);
  at::Tensor loss = at::cross_entropy_loss(logits, batch.labels);
  loss.backward();

  const double logits_err = max_abs_diff(logits, io.tensors.at("logits"));
  const double loss_err = max_abs_diff(loss.reshape({1}), io.tensors.at("loss"));
  EXPECT_LT(logits_err, 1e-5);
  EXPECT_LT(loss_err, 1e-5);
  double worst_grad = 0, worst_ratio = 0;
  std::string worst_name;
  for (const auto& item : model->named_parameters()) {
    const at::Tensor& ref = io.tensors.at("grad." + item.key());
    const at::Tensor& g = item.value().grad();
    ASSERT_TRUE(g.defined()) << item.key();
    ASSERT_EQ(g.sizes(), ref.sizes()) << item.key();
    at::Tensor err = (g - ref).abs();
    const double ratio = (err / (1e-5 + 1e-4 * ref.abs())).max().item<double>();
    EXPECT_LE(ratio, 1.0) << item.key() << " max abs err " << err.max().item<double>();
    if (err.max().item<double>() > worst_grad) worst_grad = err.max().item<double>();
    if (ratio > worst_ratio) {
      worst_ratio = ratio;
      worst_name = item.key();
    }
  }
  std::cout << "[ " << name << " vs HF ] logits max abs err " << logits_err << ", loss " << loss_err
            << ", grads max abs err " << worst_grad << " (worst tol ratio " << worst_ratio << " at "
            << worst_name << ")\n";
}

// ---------------------------------------------------------------- configs

TEST(Config, BuiltinsHaveTheDocumentedShapes) {
  EXPECT_EQ(builtin_config_names(),
            (std::vector<std::string>{"bert-tiny", "bert-base", "vit-tiny", "vit-b16"}));
  ModelConfig base = builtin_config("bert-base");
  EXPECT_EQ(base.arch, Arch::kBert);
  EXPECT_EQ(base.hidden_size, 768);
  EXPECT_EQ(base.num_layers, 12);
  EXPECT_EQ(base.num_heads, 12);
  EXPECT_EQ(base.intermediate_size, 3072);
  EXPECT_EQ(base.vocab_size, 30522);
  EXPECT_DOUBLE_EQ(base.hidden_dropout, 0.1);
  ModelConfig tiny = builtin_config("bert-tiny");
  EXPECT_EQ(tiny.hidden_size, 128);
  EXPECT_EQ(tiny.num_layers, 2);
  EXPECT_EQ(tiny.num_heads, 2);
  EXPECT_EQ(tiny.intermediate_size, 512);
  ModelConfig vit = builtin_config("vit-b16");
  EXPECT_EQ(vit.arch, Arch::kVit);
  EXPECT_EQ(vit.image_size, 224);
  EXPECT_EQ(vit.patch_size, 16);
  EXPECT_EQ(vit.hidden_size, 768);
  EXPECT_DOUBLE_EQ(vit.layer_norm_eps, 1e-12);
  EXPECT_DOUBLE_EQ(vit.hidden_dropout, 0.0);
  EXPECT_DOUBLE_EQ(vit.attention_dropout, 0.0);
  ModelConfig vt = builtin_config("vit-tiny");
  EXPECT_EQ(vt.image_size, 32);
  EXPECT_EQ(vt.patch_size, 4);
  EXPECT_EQ(vt.num_labels, 10);
  expect_error([] { builtin_config("bert-huge"); }, {"'bert-huge'", "bert-tiny", "vit-b16"});
}

TEST(Config, ReadsHuggingFaceConfigJson) {
  ModelConfig c = config_from_json_file(kFixtures + "/vit_small/config.json");
  EXPECT_EQ(c.arch, Arch::kVit);
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.num_layers, 2);
  EXPECT_EQ(c.patch_size, 8);
  EXPECT_EQ(c.image_size, 32);
  EXPECT_EQ(c.num_labels, 10);  // from id2label
  EXPECT_DOUBLE_EQ(c.initializer_range, 0.2);
  ModelConfig b = config_from_json_file(kFixtures + "/bert_small/config.json");
  EXPECT_EQ(b.arch, Arch::kBert);
  EXPECT_EQ(b.vocab_size, 256);
  EXPECT_EQ(b.max_position_embeddings, 64);
  EXPECT_EQ(b.num_labels, 3);
  EXPECT_DOUBLE_EQ(b.hidden_dropout, 0.0);
}

TEST(Config, ErrorsNameTheFileKeyAndValue) {
  TempDir dir;
  const std::string missing = dir.file("absent.json");
  expect_error([&] { config_from_json_file(missing); }, {missing, "cannot be opened"});
  const std::string bad = dir.file("bad.json", "{\"model_type\": \"bert\",");
  expect_error([&] { config_from_json_file(bad); }, {bad, "not valid JSON"});
  const std::string gpt = dir.file("gpt.json", R"({"model_type": "gpt2"})");
  expect_error([&] { config_from_json_file(gpt); }, {gpt, "'gpt2'", "\"bert\""});
  const std::string relu = dir.file("relu.json", R"({"model_type": "bert", "hidden_act": "relu"})");
  expect_error([&] { config_from_json_file(relu); }, {relu, "hidden_act 'relu'"});
  const std::string type = dir.file("type.json", R"({"model_type": "bert", "hidden_size": "big"})");
  expect_error([&] { config_from_json_file(type); }, {type, "'hidden_size'", "\"big\"", "number"});
  const std::string heads = dir.file(
      "heads.json", R"({"model_type": "bert", "hidden_size": 100, "num_attention_heads": 12})");
  expect_error([&] { config_from_json_file(heads); }, {heads, "hidden_size 100", "12"});
}

// ---------------------------------------------------------------- structure and init

TEST(Models, ParameterCountsEqualHuggingFace) {
  // sum(p.numel()) of BertForSequenceClassification(BertConfig()) and
  // ViTForImageClassification(ViTConfig(num_labels=1000)), and of the tiny built-ins.
  EXPECT_EQ(count_params(*make_model(builtin_config("bert-base"))), 109483778);
  EXPECT_EQ(count_params(*make_model(builtin_config("vit-b16"))), 86567656);
  EXPECT_EQ(count_params(*make_model(builtin_config("bert-tiny"))), 4386178);
  EXPECT_EQ(count_params(*make_model(builtin_config("vit-tiny"))), 412810);
}

TEST(Models, HuggingFaceNamesPresent) {
  Classifier bert = make_model(builtin_config("bert-tiny"));
  auto bp = bert->named_parameters();
  for (const char* n :
       {"bert.embeddings.word_embeddings.weight", "bert.embeddings.position_embeddings.weight",
        "bert.embeddings.token_type_embeddings.weight", "bert.embeddings.LayerNorm.weight",
        "bert.encoder.layer.0.attention.self.query.weight",
        "bert.encoder.layer.1.attention.self.value.bias",
        "bert.encoder.layer.0.attention.output.dense.weight",
        "bert.encoder.layer.0.attention.output.LayerNorm.bias",
        "bert.encoder.layer.1.intermediate.dense.weight", "bert.encoder.layer.1.output.dense.bias",
        "bert.encoder.layer.1.output.LayerNorm.weight", "bert.pooler.dense.weight",
        "classifier.weight", "classifier.bias"})
    EXPECT_NE(bp.find(n), nullptr) << n;
  EXPECT_EQ(bp.size(), 5u + 16u * 2 + 4u);
  Classifier vit = make_model(builtin_config("vit-tiny"));
  auto vp = vit->named_parameters();
  for (const char* n :
       {"vit.embeddings.cls_token", "vit.embeddings.position_embeddings",
        "vit.embeddings.patch_embeddings.projection.weight",
        "vit.encoder.layer.0.layernorm_before.weight",
        "vit.encoder.layer.1.attention.attention.key.weight",
        "vit.encoder.layer.0.attention.output.dense.bias",
        "vit.encoder.layer.0.intermediate.dense.weight", "vit.encoder.layer.1.output.dense.weight",
        "vit.encoder.layer.1.layernorm_after.bias", "vit.layernorm.weight", "classifier.weight"})
    EXPECT_NE(vp.find(n), nullptr) << n;
  EXPECT_EQ(vp.size(), 4u + 16u * 2 + 4u);
}

TEST(Models, InitialisationFollowsHuggingFace) {
  at::manual_seed(0);
  Classifier a = make_model(builtin_config("bert-tiny"));
  at::manual_seed(0);
  Classifier b = make_model(builtin_config("bert-tiny"));
  auto pa = a->named_parameters();
  auto pb = b->named_parameters();
  for (const auto& item : pa) {
    EXPECT_TRUE(at::equal(item.value(), pb[item.key()])) << "not deterministic: " << item.key();
    const std::string& n = item.key();
    const at::Tensor& t = item.value();
    if (n.find("LayerNorm.weight") != std::string::npos) {
      EXPECT_TRUE(at::equal(t, at::ones_like(t))) << n;
    } else if (n.size() > 4 && n.compare(n.size() - 4, 4, "bias") == 0) {
      EXPECT_EQ(at::count_nonzero(t).item<int64_t>(), 0) << n;
    } else if (t.numel() > 10000) {
      EXPECT_NEAR(t.std().item<double>(), 0.02, 0.001) << n;
      EXPECT_NEAR(t.mean().item<double>(), 0.0, 0.001) << n;
    }
  }
  // The padding row (pad_token_id 0) of the word embeddings is zero, as nn.Embedding does.
  EXPECT_EQ(at::count_nonzero(pa["bert.embeddings.word_embeddings.weight"][0]).item<int64_t>(), 0);
}

TEST(Models, ForwardShapesAndSyntheticBatches) {
  ModelConfig bc = builtin_config("bert-tiny");
  Classifier bert = make_model(bc);
  Batch b = synthetic_batch(bc, 3, 16, 7);
  EXPECT_EQ(b.input_ids.sizes(), (at::IntArrayRef{3, 16}));
  EXPECT_EQ(b.size(), 3);
  EXPECT_TRUE(at::equal(b.input_ids, synthetic_batch(bc, 3, 16, 7).input_ids));
  EXPECT_FALSE(at::equal(b.input_ids, synthetic_batch(bc, 3, 16, 8).input_ids));
  EXPECT_GE(b.input_ids.min().item<int64_t>(), 1);
  EXPECT_LT(b.input_ids.max().item<int64_t>(), bc.vocab_size);
  at::Tensor logits = bert->forward(b);
  EXPECT_EQ(logits.sizes(), (at::IntArrayRef{3, 2}));
  EXPECT_TRUE(at::isfinite(logits).all().item<bool>());

  ModelConfig vc = builtin_config("vit-tiny");
  Classifier vit = make_model(vc);
  Batch v = synthetic_batch(vc, 2, 0, 1);
  EXPECT_EQ(v.pixel_values.sizes(), (at::IntArrayRef{2, 3, 32, 32}));
  EXPECT_EQ(vit->forward(v).sizes(), (at::IntArrayRef{2, 10}));
  v.pixel_values = at::zeros({2, 3, 48, 48});
  expect_error([&] { vit->forward(v); }, {"(B, 3, 32, 32)", "[2, 3, 48, 48]"});
  expect_error([&] { synthetic_batch(bc, 2, 513, 0); }, {"seq 513", "512"});
}

TEST(Models, DropoutActsOnlyInTrainMode) {
  ModelConfig bc = builtin_config("bert-tiny");  // dropout 0.1
  Classifier bert = make_model(bc);
  Batch b = synthetic_batch(bc, 2, 8, 3);
  bert->eval();
  at::NoGradGuard no_grad;
  EXPECT_TRUE(at::equal(bert->forward(b), bert->forward(b)));
  bert->train();
  EXPECT_FALSE(at::equal(bert->forward(b), bert->forward(b)));
}

// ---------------------------------------------------------------- Hugging Face numerics

TEST(Models, MeanPoolingAveragesUnmaskedTokensAndHasNoPooler) {
  at::manual_seed(3);
  ModelConfig c = builtin_config("bert-tiny");
  c.pooling = "mean";
  auto model = std::dynamic_pointer_cast<BertForSequenceClassificationImpl>(make_model(c));
  ASSERT_TRUE(model);
  for (const auto& item : model->named_parameters())
    EXPECT_EQ(item.key().find("pooler"), std::string::npos) << item.key();
  model->eval();
  at::NoGradGuard no_grad;
  Batch b = synthetic_batch(c, 3, 12, 5);
  b.attention_mask = at::ones({3, 12}, at::kLong);
  b.attention_mask.index_put_({1, at::indexing::Slice(7, at::indexing::None)}, 0);  // padding
  const at::Tensor logits = model->forward(b);
  const at::Tensor h =
      model->encode(b.input_ids, b.token_type_ids, b.attention_mask).last_hidden_state;
  for (int64_t i = 0; i < 3; ++i) {
    const int64_t n = b.attention_mask[i].sum().item<int64_t>();
    const at::Tensor mean = h[i].narrow(0, 0, n).mean(0);
    const at::Tensor want = at::linear(mean, model->classifier->weight, model->classifier->bias);
    EXPECT_TRUE(at::allclose(logits[i], want, 1e-5, 1e-6)) << "row " << i;
  }
  c.pooling = "max";
  EXPECT_THROW(make_model(c), slimfit::Error);
}

TEST(HuggingFace, SmallBertLogitsAndGradients) {
  SafetensorsFile io = read_safetensors_file(kFixtures + "/bert_small/io.safetensors");
  Batch batch;
  batch.input_ids = io.tensors.at("input_ids");
  batch.attention_mask = io.tensors.at("attention_mask");
  batch.token_type_ids = io.tensors.at("token_type_ids");
  batch.labels = io.tensors.at("labels");
  ASSERT_EQ(batch.attention_mask.sum().item<int64_t>(), 3 * 12 - 3 - 7);  // padded rows
  check_against_fixture("bert_small", batch, io);
}

TEST(HuggingFace, SmallVitLogitsAndGradients) {
  SafetensorsFile io = read_safetensors_file(kFixtures + "/vit_small/io.safetensors");
  Batch batch;
  batch.pixel_values = io.tensors.at("pixel_values");
  batch.labels = io.tensors.at("labels");
  check_against_fixture("vit_small", batch, io);
}

TEST(HuggingFace, MiniLMHiddenStates) {
  const std::string dir = SLIMFIT_SOURCE_DIR "/.assets/minilm";
  if (!fs::exists(dir + "/model.safetensors"))
    GTEST_SKIP() << dir << "/model.safetensors is missing: run scripts/setup.sh to install "
                 << "sentence-transformers/all-MiniLM-L6-v2 (CI does)";
  SafetensorsFile io = read_safetensors_file(kFixtures + "/minilm_io.safetensors");
  Classifier model = load_pretrained(dir, 2);  // a bare BertModel: no "bert." prefix
  // Only the classifier is absent from the checkpoint (it has a pooler); its position_ids
  // buffer is no parameter and is ignored.
  const LoadResult r = load_pretrained_weights(*model, dir + "/model.safetensors");
  EXPECT_EQ(r.fresh, (std::vector<std::string>{"classifier.weight", "classifier.bias"}));
  EXPECT_EQ(r.ignored, (std::vector<std::string>{"embeddings.position_ids"}));
  auto* bert = dynamic_cast<BertForSequenceClassificationImpl*>(model.get());
  ASSERT_NE(bert, nullptr);
  bert->eval();
  at::NoGradGuard no_grad;
  BertOutput out = bert->encode(io.tensors.at("input_ids"), io.tensors.at("token_type_ids"),
                                io.tensors.at("attention_mask"));
  const double hidden_err = max_abs_diff(out.last_hidden_state, io.tensors.at("last_hidden_state"));
  const double pooler_err = max_abs_diff(out.pooler_output, io.tensors.at("pooler_output"));
  std::cout << "[ MiniLM vs HF ] last_hidden_state max abs err " << hidden_err << ", pooler_output "
            << pooler_err << "\n";
  EXPECT_LT(hidden_err, 1e-4);
  EXPECT_LT(pooler_err, 1e-4);
}

// The models reach autograd only through ops/functional.h: switching the shared OpsConfig to
// the reference's lossy formats leaves the forward bit-identical but changes the gradients, and
// the lossless SlimFit Functions reproduce the baseline gradients (measured max abs diff 6e-9:
// summation order, not bit-identical).
TEST(HuggingFace, ModelsRouteThroughTheOpLayer) {
  SafetensorsFile io = read_safetensors_file(kFixtures + "/bert_small/io.safetensors");
  Batch batch;
  batch.input_ids = io.tensors.at("input_ids");
  batch.attention_mask = io.tensors.at("attention_mask");
  batch.token_type_ids = io.tensors.at("token_type_ids");
  batch.labels = io.tensors.at("labels");
  Classifier model = load_pretrained(kFixtures + "/bert_small", 0);
  model->train();
  auto run = [&](const slimfit::ops::OpsConfig& cfg) {
    *model->ops() = cfg;
    model->zero_grad();
    at::Tensor logits = model->forward(batch);
    at::cross_entropy_loss(logits, batch.labels).backward();
    std::vector<at::Tensor> grads;
    for (const auto& p : model->parameters()) grads.push_back(p.grad().clone());
    return std::make_pair(logits.detach(), grads);
  };
  auto [base_logits, base_grads] = run(slimfit::ops::OpsConfig{});
  auto [lossless_logits, lossless_grads] = run(slimfit::ops::OpsConfig::lossless());
  auto [ref_logits, ref_grads] = run(slimfit::ops::OpsConfig::reference());
  EXPECT_TRUE(at::equal(base_logits, lossless_logits));
  EXPECT_TRUE(at::equal(base_logits, ref_logits));
  double lossless_err = 0, ref_err = 0;
  for (size_t i = 0; i < base_grads.size(); ++i) {
    lossless_err = std::max(lossless_err, max_abs_diff(lossless_grads[i], base_grads[i]));
    ref_err = std::max(ref_err, max_abs_diff(ref_grads[i], base_grads[i]));
  }
  std::cout << "[ op layer ] grads max abs diff: lossless " << lossless_err << ", reference "
            << ref_err << "\n";
  EXPECT_LT(lossless_err, 1e-6);
  EXPECT_GT(ref_err, 1e-4);
}

// ---------------------------------------------------------------- loading weights

// Note [loading weights] in models/model.h: all or nothing; only the task head may start fresh.

const std::string kBertSmall = kFixtures + "/bert_small";

std::map<std::string, at::Tensor> bert_small_tensors() {
  return read_safetensors(kBertSmall + "/model.safetensors");
}

ModelConfig bert_small_config() { return config_from_json_file(kBertSmall + "/config.json"); }

// Writes `tensors` as a safetensors file in `dir` and loads it as pretrained weights.
LoadResult load_file(ClassifierImpl& model, const TempDir& dir,
                     const std::map<std::string, at::Tensor>& tensors) {
  const std::string path = dir.file("weights.safetensors");
  write_safetensors(path, tensors);
  return load_pretrained_weights(model, path);
}

TEST(LoadWeights, AcceptsBareModelNamesAndRejectsWrongShapes) {
  const auto tensors = bert_small_tensors();
  TempDir dir;
  // Without the "bert." prefix, as a bare BertModel checkpoint names them: no classifier.
  std::map<std::string, at::Tensor> bare;
  for (const auto& [name, t] : tensors)
    if (name.rfind("bert.", 0) == 0) bare[name.substr(5)] = t;
  Classifier model = make_model(bert_small_config());
  EXPECT_EQ(load_file(*model, dir, bare).fresh,
            (std::vector<std::string>{"classifier.weight", "classifier.bias"}));
  auto params = model->named_parameters();
  for (const auto& [name, t] : bare) EXPECT_TRUE(at::equal(params["bert." + name], t)) << name;
  EXPECT_TRUE(params["bert.encoder.layer.0.attention.self.query.weight"].requires_grad());

  // A tensor of the wrong shape: the error names it and both shapes.
  auto wrong = tensors;
  wrong["bert.encoder.layer.1.intermediate.dense.weight"] = at::zeros({255, 64});
  expect_error([&] { load_file(*model, dir, wrong); },
               {"bert.encoder.layer.1.intermediate.dense.weight [255, 64]", "is [256, 64]",
                "(1 misshaped)"});
  // Integers where the model has floats.
  auto ints = tensors;
  ints["bert.embeddings.LayerNorm.weight"] = at::ones({64}, at::kLong);
  expect_error([&] { load_file(*model, dir, ints); },
               {"bert.embeddings.LayerNorm.weight of dtype Long", "(1 misshaped)"});
}

TEST(LoadWeights, MismatchedNamesFailListingThemAndChangeNothing) {
  std::map<std::string, at::Tensor> renamed;  // another architecture's names
  for (const auto& [name, t] : bert_small_tensors())
    renamed[name.rfind("bert.", 0) == 0 ? "roberta." + name.substr(5) : name] = t;
  TempDir dir;
  Classifier model = make_model(bert_small_config());
  const at::Tensor classifier = model->named_parameters()["classifier.weight"].clone();
  // 41 parameters: 37 body tensors missing (the pooler may start fresh); the 39 renamed ones are
  // unexpected. The first 8 of each are listed.
  expect_error([&] { load_file(*model, dir, renamed); },
               {"does not match the model", "has no bert.embeddings.word_embeddings.weight, ",
                "(29 more) (37 missing)", "holds roberta.embeddings.", "(31 more)",
                "(39 unexpected)", "another architecture or size"});
  // The classifier matched, but nothing is copied when anything else fails.
  EXPECT_TRUE(at::equal(model->named_parameters()["classifier.weight"], classifier));
}

TEST(LoadWeights, LayerCountMustMatchTheWeights) {
  const auto tensors = bert_small_tensors();  // 2 layers
  TempDir dir;
  ModelConfig deeper = bert_small_config();
  deeper.num_layers = 3;
  Classifier model = make_model(deeper);
  expect_error(
      [&] { load_file(*model, dir, tensors); },
      {"(3 layers)", "has no bert.encoder.layer.2.attention.self.query.weight", "(16 missing)"});
  ModelConfig shallower = bert_small_config();
  shallower.num_layers = 1;
  model = make_model(shallower);
  expect_error([&] { load_file(*model, dir, tensors); },
               {"(1 layers)", "holds bert.encoder.layer.1.", "(16 unexpected)"});
}

TEST(LoadWeights, OnlyTheHeadMayStartFreshAndIsNamed) {
  const auto tensors = bert_small_tensors();
  auto headless = tensors;
  for (const char* name : {"classifier.weight", "classifier.bias", "bert.pooler.dense.weight",
                           "bert.pooler.dense.bias"})
    ASSERT_EQ(headless.erase(name), 1u) << name;
  TempDir dir;
  Classifier model = make_model(bert_small_config());
  const LoadResult r = load_file(*model, dir, headless);
  EXPECT_EQ(r.fresh, (std::vector<std::string>{"bert.pooler.dense.weight", "bert.pooler.dense.bias",
                                               "classifier.weight", "classifier.bias"}));
  EXPECT_EQ(r.loaded, 37);
  EXPECT_TRUE(r.ignored.empty());
  auto params = model->named_parameters();
  for (const auto& [name, t] : headless) EXPECT_TRUE(at::equal(params[name], t)) << name;

  // pooling=mean: the model has no pooler, so the file's is ignored, not unexpected.
  ModelConfig mean = bert_small_config();
  mean.pooling = "mean";
  Classifier pooled = make_model(mean);
  const LoadResult m = load_file(*pooled, dir, tensors);
  EXPECT_TRUE(m.fresh.empty());
  EXPECT_EQ(m.ignored,
            (std::vector<std::string>{"bert.pooler.dense.bias", "bert.pooler.dense.weight"}));
  EXPECT_EQ(m.loaded, 39);
}

// The rules init= uses: skipped prefixes start fresh; the head has no leniency.
TEST(LoadWeights, SkipPrefixesAndStrictHead) {
  auto tensors = bert_small_tensors();
  Classifier model = make_model(bert_small_config());
  LoadRules rules;
  rules.skip = {"classifier"};
  rules.head_may_start_fresh = false;
  rules.name_prefix = "/weights/";
  const at::Tensor classifier = model->named_parameters()["classifier.weight"].clone();
  const LoadResult r = load_weights(*model, tensors, "init: x.h5", rules);
  EXPECT_EQ(r.fresh, (std::vector<std::string>{"classifier.weight", "classifier.bias"}));
  EXPECT_TRUE(r.ignored.empty());  // the skipped classifier's tensors are not unexpected
  EXPECT_TRUE(at::equal(model->named_parameters()["classifier.weight"], classifier));
  tensors.erase("bert.pooler.dense.bias");
  expect_error([&] { load_weights(*model, tensors, "init: x.h5", rules); },
               {"init: x.h5 does not match", "has no /weights/bert.pooler.dense.bias (1 missing)"});
}

TEST(LoadWeights, LoadPretrainedErrors) {
  TempDir dir;
  expect_error([&] { load_pretrained(dir.str() + "/nope", 2); }, {"/nope", "not a directory"});
  expect_error([&] { load_pretrained(dir.str(), 2); }, {"config.json", "cannot be opened"});
  fs::copy_file(kFixtures + "/bert_small/config.json", dir.file("config.json"));
  expect_error([&] { load_pretrained(dir.str(), 2); }, {"model.safetensors", "not found"});

  // An encoder tensor absent from the checkpoint is an error, not a silent fresh init.
  auto tensors = read_safetensors(kFixtures + "/bert_small/model.safetensors");
  tensors.erase("bert.encoder.layer.1.attention.self.key.weight");
  write_safetensors(dir.file("model.safetensors"), tensors);
  expect_error([&] { load_pretrained(dir.str(), 2); },
               {"has no bert.encoder.layer.1.attention.self.key.weight (1 missing)"});

  // Another num_labels than the checkpoint's head: the head keeps its fresh init.
  fs::copy_file(kFixtures + "/bert_small/model.safetensors", dir.file("model.safetensors"),
                fs::copy_options::overwrite_existing);
  Classifier m = load_pretrained(dir.str(), 5);
  EXPECT_EQ(m->config().num_labels, 5);
  EXPECT_EQ(m->named_parameters()["classifier.weight"].sizes(), (at::IntArrayRef{5, 64}));
}

}  // namespace
