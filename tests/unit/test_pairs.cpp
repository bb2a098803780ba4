// Sentence pairs and regression on the data side: prepare_text with a pair column (ids equal to
// Hugging Face's on the tokenizer fixtures, truncation included), headerless CSV (--columns),
// regression targets, loading files of the earlier layout, and the synthetic-pairs /
// synthetic-regression sets.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ckpt/h5.h"
#include "common/error.h"
#include "data/dataset.h"
#include "data/synthetic_tasks.h"
#include "data/text.h"
#include "models/config.h"
#include "models/wordpiece.h"

namespace fs = std::filesystem;
using namespace slimfit;
using namespace slimfit::data;

namespace {

const std::string kMiniLmVocab = std::string(SLIMFIT_SOURCE_DIR) + "/.assets/minilm/vocab.txt";
const std::string kFixtures = std::string(SLIMFIT_FIXTURE_DIR) + "/tokenizer_ids.json";

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no slimfit::Error thrown>";
}

#define EXPECT_HAS(msg, part) EXPECT_NE((msg).find(part), std::string::npos) << (msg)

models::ModelConfig bert_cfg(int64_t num_labels = 2) {
  models::ModelConfig c;
  c.arch = models::Arch::kBert;
  c.name = "test-bert";
  c.vocab_size = 30522;
  c.num_labels = num_labels;
  c.max_position_embeddings = 128;
  return c;
}

models::ModelConfig vit_cfg() {
  models::ModelConfig c;
  c.arch = models::Arch::kVit;
  c.name = "test-vit";
  c.image_size = 32;
  c.patch_size = 8;
  c.num_channels = 3;
  c.num_labels = 1;
  return c;
}

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

// A CSV field, quoted (RFC 4180).
std::string csv_field(const std::string& s) {
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::vector<int64_t> row(const at::Tensor& t, int64_t r) {
  const at::Tensor x = t[r].to(at::kLong).contiguous();
  return {x.data_ptr<int64_t>(), x.data_ptr<int64_t>() + x.numel()};
}

class PairsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("slimfit_pairs_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream v(path("vocab.txt"));
    // ids: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4 the=5 movie=6 was=7 great=8 bad=9 good=10
    // fun=11 ,=12 .=13 !=14
    for (const char* t : {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "movie", "was",
                          "great", "bad", "good", "fun", ",", ".", "!"})
      v << t << "\n";
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string write(const std::string& name, const std::string& content) const {
    std::ofstream(path(name), std::ios::binary) << content;
    return path(name);
  }
  PrepareTextOptions options(const std::string& input, const std::string& output) const {
    PrepareTextOptions o;
    o.input = input;
    o.output = path(output);
    o.vocab = path("vocab.txt");
    o.max_length = 16;
    return o;
  }
  fs::path dir_;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Every pair case of the tokenizer fixtures, through a CSV, prepare_text and TextDataset: the
// stored ids, token types and mask equal BertTokenizer's (truncation='longest_first'), at each
// max_length the fixtures use (24 and 16 cut most pairs; 128 cuts the long plots).
TEST_F(PairsTest, PreparedPairsMatchHuggingFaceFixtures) {
  if (!fs::exists(kMiniLmVocab)) GTEST_SKIP() << kMiniLmVocab << " is missing (scripts/setup.sh)";
  std::ifstream in(kFixtures);
  ASSERT_TRUE(in.good()) << kFixtures;
  const auto doc = nlohmann::json::parse(in);
  std::map<int64_t, std::vector<nlohmann::json>> by_length;
  for (const auto& c : doc.at("cases"))
    if (c.contains("text_pair")) by_length[c.at("max_length").get<int64_t>()].push_back(c);
  ASSERT_EQ(by_length.size(), 3u);  // 16, 24, 128
  size_t checked = 0, cut = 0;
  for (const auto& [max_length, cases] : by_length) {
    std::string csv = "label,first,second\n";
    for (size_t i = 0; i < cases.size(); ++i)
      csv += std::to_string(i % 2) + "," + csv_field(cases[i].at("text").get<std::string>()) + "," +
             csv_field(cases[i].at("text_pair").get<std::string>()) + "\n";
    PrepareTextOptions o = options(write("pairs.csv", csv), "pairs.h5");
    o.vocab = kMiniLmVocab;
    o.text_column = "first";
    o.text_pair_column = "second";
    o.max_length = max_length;
    const PrepareTextResult res = prepare_text(o);
    ASSERT_EQ(res.examples, static_cast<int64_t>(cases.size()));
    {
      h5::File f = h5::File::open(o.output);
      EXPECT_EQ(f.read_tensor("/token_type_ids").scalar_type(), at::kByte);
      EXPECT_EQ(f.read_string("/text_pair_column"), "second");
      EXPECT_EQ(f.read_string("/problem_type"), "single_label_classification");
    }
    TextDataset d(o.output);
    ASSERT_TRUE(d.is_pairs());
    const models::Batch b = d.get(iota(d.size()));
    for (size_t i = 0; i < cases.size(); ++i) {
      const auto want_ids = cases[i].at("input_ids").get<std::vector<int64_t>>();
      const auto want_types = cases[i].at("token_type_ids").get<std::vector<int64_t>>();
      const size_t n = want_ids.size();
      auto ids = row(b.input_ids, int64_t(i)), types = row(b.token_type_ids, int64_t(i)),
           mask = row(b.attention_mask, int64_t(i));
      EXPECT_EQ(std::accumulate(mask.begin(), mask.end(), int64_t{0}), int64_t(n)) << i;
      ids.resize(n);
      types.resize(n);
      EXPECT_EQ(ids, want_ids) << "max_length " << max_length << " case " << i;
      EXPECT_EQ(types, want_types) << "max_length " << max_length << " case " << i;
      EXPECT_EQ(b.labels[int64_t(i)].item<int64_t>(), int64_t(i % 2));
      cut += static_cast<int64_t>(n) == max_length;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 114u);
  EXPECT_EQ(cut, 73u);  // 73 of them fill max_length: truncation is what they test
}

// seq_len cuts a prepared pair longest first again: the same tensors as preparing at seq_len.
TEST_F(PairsTest, SeqLenTruncatesPairsLikePreparingShorter) {
  std::string csv = "label,a,b\n";
  const std::vector<std::string> texts = {
      "the movie was great , fun !",   "bad", "the movie was the movie was the movie was bad .",
      "good good good good good good", "",    "fun . fun ."};
  for (size_t i = 0; i < texts.size(); ++i)
    for (size_t j = 0; j < texts.size(); ++j)
      csv += std::to_string((i + j) % 2) + "," + csv_field(texts[i]) + "," + csv_field(texts[j]) +
             "\n";
  const std::string input = write("p.csv", csv);
  PrepareTextOptions o = options(input, "long.h5");
  o.text_column = "a";
  o.text_pair_column = "b";
  o.max_length = 24;
  prepare_text(o);
  for (int64_t seq_len : {3, 5, 8, 11}) {
    o.output = path("short.h5");
    o.max_length = seq_len;
    prepare_text(o);
    TextDataset cut(path("long.h5"), seq_len), ref(path("short.h5"));
    EXPECT_GT(cut.truncated(), 0);
    const auto all = iota(ref.size());
    const models::Batch x = cut.get(all), y = ref.get(all);
    EXPECT_TRUE(at::equal(x.input_ids, y.input_ids)) << "seq_len " << seq_len;
    EXPECT_TRUE(at::equal(x.token_type_ids, y.token_type_ids)) << "seq_len " << seq_len;
    EXPECT_TRUE(at::equal(x.attention_mask, y.attention_mask)) << "seq_len " << seq_len;
  }
  EXPECT_HAS(message_of([&] { TextDataset d(path("long.h5"), 2); }), "at least 3");
}

TEST_F(PairsTest, HeaderlessCsvNamesItsColumns) {
  PrepareTextOptions o =
      options(write("h.csv", "1,the movie was great\n0,bad\n1,\"fun, good\"\n"), "h.h5");
  o.columns = {"label", "text"};
  PrepareTextResult res = prepare_text(o);
  EXPECT_EQ(res.rows_read, 3);  // no row is taken for a header
  EXPECT_EQ(res.label_names, (std::vector<std::string>{"0", "1"}));
  TextDataset d(o.output);
  EXPECT_FALSE(d.is_pairs());
  EXPECT_EQ(d.all_labels(), (std::vector<int64_t>{1, 0, 1}));
  const models::Batch b = d.get({0, 1, 2});
  EXPECT_EQ(row(b.input_ids, 0), (std::vector<int64_t>{2, 5, 6, 7, 8, 3}));
  EXPECT_EQ(row(b.input_ids, 2), (std::vector<int64_t>{2, 11, 12, 10, 3, 0}));
  EXPECT_TRUE(b.token_type_ids.eq(0).all().item<bool>());
  {
    h5::File f = h5::File::open(o.output);
    EXPECT_EQ(f.read_strings("/columns"), (std::vector<std::string>{"label", "text"}));
  }

  // Any names, in any order; the column options refer to them; a pair from a third column.
  o.input = write("p.csv", "good,0,bad\nthe movie,1,fun\n");
  o.columns = {"s1", "y", "s2"};
  o.text_column = "s1";
  o.text_pair_column = "s2";
  o.label_column = "y";
  prepare_text(o);
  TextDataset p(o.output);
  const models::Batch pb = p.get({0, 1});
  EXPECT_EQ(row(pb.input_ids, 0), (std::vector<int64_t>{2, 10, 3, 9, 3, 0}));
  EXPECT_EQ(row(pb.token_type_ids, 0), (std::vector<int64_t>{0, 0, 0, 1, 1, 0}));
  EXPECT_EQ(row(pb.input_ids, 1), (std::vector<int64_t>{2, 5, 6, 3, 11, 3}));
  EXPECT_EQ(row(pb.token_type_ids, 1), (std::vector<int64_t>{0, 0, 0, 0, 1, 1}));

  // A record with another number of fields names its line and the columns.
  o.input = write("ragged.csv", "good,0,bad\nthe movie,1\n");
  std::string msg = message_of([&] { prepare_text(o); });
  EXPECT_HAS(msg, "line 2 has 2 fields but --columns names 3 (s1,y,s2)");
  // A column option naming no column lists the names --columns gave.
  o.input = write("ok.csv", "good,0,bad\n");
  o.label_column = "label";
  msg = message_of([&] { prepare_text(o); });
  EXPECT_HAS(msg, "no column 'label'");
  EXPECT_HAS(msg, "columns named by --columns: 's1', 'y', 's2'");
  // A file that has the header after all.
  o.label_column = "y";
  o.input = write("hdr.csv", "s1,y,s2\ngood,0,bad\n");
  EXPECT_HAS(message_of([&] { prepare_text(o); }), "drop --columns");
  // Its own names, but the label column's name where a label should be.
  o.input = write("hdr2.csv", "sentence1,y,sentence2\ngood,0,bad\n");
  EXPECT_HAS(message_of([&] { prepare_text(o); }), "looks like a header: its label is 'y'");
  o.columns = {"s1", "y", "s1"};
  EXPECT_HAS(message_of([&] { prepare_text(o); }), "names column 's1' twice");
  // JSON Lines name their fields.
  o.columns = {"s1", "y", "s2"};
  o.input = write("x.jsonl", "{\"s1\": \"good\", \"y\": 1, \"s2\": \"bad\"}\n");
  EXPECT_HAS(message_of([&] { prepare_text(o); }), "headerless CSV");
}

TEST_F(PairsTest, RegressionTargetsAreFloatsWithoutLabelNames) {
  PrepareTextOptions o =
      options(write("r.csv", "score,text\n0.5,good\n1.25,bad movie\n3,fun\n-2,the\n"), "r.h5");
  o.label_column = "score";
  const PrepareTextResult res = prepare_text(o);  // 0.5 is not whole: regression
  EXPECT_TRUE(res.regression);
  EXPECT_TRUE(res.label_names.empty());
  EXPECT_DOUBLE_EQ(res.target_min, -2.0);
  EXPECT_DOUBLE_EQ(res.target_max, 3.0);
  EXPECT_DOUBLE_EQ(res.target_mean, 0.6875);
  {
    h5::File f = h5::File::open(o.output);
    EXPECT_EQ(f.read_string("/problem_type"), "regression");
    EXPECT_EQ(f.read_tensor("/labels").scalar_type(), at::kFloat);
    EXPECT_FALSE(f.exists("/label_names"));
    EXPECT_FALSE(f.exists("/token_type_ids"));
  }
  TextDataset d(o.output);
  EXPECT_TRUE(d.is_regression());
  EXPECT_EQ(d.num_labels(), 1);
  EXPECT_TRUE(d.label_names().empty());
  EXPECT_EQ(d.all_targets(), (std::vector<double>{0.5, 1.25, 3.0, -2.0}));
  const models::Batch b = d.get({1, 3});
  EXPECT_EQ(b.labels.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(b.labels, at::tensor({1.25f, -2.0f})));
  EXPECT_EQ(row(b.input_ids, 0), (std::vector<int64_t>{2, 9, 6, 3}));
  EXPECT_HAS(message_of([&] { d.all_labels(); }), "regression set");
  EXPECT_HAS(
      message_of([&] { LabelSubsetDataset s(std::make_shared<TextDataset>(o.output), {0}); }),
      "regression set");
  // Through open_dataset it fits a model of any num_labels (the caller makes the head).
  const auto opened = open_dataset(o.output, bert_cfg(2), 16, 1);
  EXPECT_TRUE(opened->is_regression());
  EXPECT_EQ(opened->all_targets(), d.all_targets());

  // Whole numbers stay classes, unless --regression says otherwise.
  o.input = write("w.csv", "score,text\n1,good\n2,bad\n2,fun\n");
  EXPECT_FALSE(prepare_text(o).regression);
  TextDataset classes(o.output);
  EXPECT_FALSE(classes.is_regression());
  EXPECT_EQ(classes.label_names(), (std::vector<std::string>{"1", "2"}));
  EXPECT_HAS(message_of([&] { classes.all_targets(); }), "classification set");
  o.regression = true;
  EXPECT_TRUE(prepare_text(o).regression);
  EXPECT_EQ(TextDataset(o.output).all_targets(), (std::vector<double>{1.0, 2.0, 2.0}));
  o.labels = {"1", "2"};
  EXPECT_HAS(message_of([&] { prepare_text(o); }), "--regression takes no --labels");
}

TEST_F(PairsTest, MalformedRegressionTargetNamesItsLine) {
  PrepareTextOptions o = options(
      write("bad.csv", "score,text\n0.5,good\n\"0.75\",bad\n\"x\ny\",fun\nabc,the\n"), "bad.h5");
  o.label_column = "score";
  std::string msg = message_of([&] { prepare_text(o); });
  EXPECT_HAS(msg, "line 4 has 'x\ny' in the label column 'score'");  // quoted over two lines
  EXPECT_HAS(msg, "not a finite number");
  EXPECT_FALSE(fs::exists(o.output));
  o.input = write("nan.csv", "score,text\n0.5,good\nnan,bad\n");
  EXPECT_HAS(message_of([&] { prepare_text(o); }), "line 3 has 'nan'");
  o.input = write("empty.csv", "score,text\n0.5,good\n,bad\n");
  EXPECT_HAS(message_of([&] { prepare_text(o); }), "line 3 has ''");
  // With --regression, the first value can be the bad one.
  o.regression = true;
  o.input = write("first.csv", "score,text\nhigh,good\n1,bad\n");
  EXPECT_HAS(message_of([&] { prepare_text(o); }), "line 2 has 'high'");
}

// Files prepared before pairs and regression ("text-classification-v1": no /token_type_ids, no
// /problem_type) load as single-sentence classification.
TEST_F(PairsTest, FilesOfTheEarlierLayoutStillLoad) {
  {
    h5::File f = h5::File::create(path("v1.h5"));
    f.write_tensor("/input_ids", at::tensor({2, 10, 3, 0, 2, 9, 6, 3}, at::kInt).view({2, 4}));
    f.write_tensor("/attention_mask", at::tensor({1, 1, 1, 0, 1, 1, 1, 1}, at::kByte).view({2, 4}));
    f.write_tensor("/labels", at::tensor({1, 0}, at::kLong));
    f.write_strings("/label_names", {"neg", "pos"});
    f.set_attr("/", "slimfit_format", std::string("text-classification-v1"));
  }
  TextDataset d(path("v1.h5"));
  EXPECT_FALSE(d.is_regression());
  EXPECT_FALSE(d.is_pairs());
  EXPECT_EQ(d.label_names(), (std::vector<std::string>{"neg", "pos"}));
  const models::Batch b = d.get({0, 1});
  EXPECT_TRUE(b.token_type_ids.eq(0).all().item<bool>());
  EXPECT_EQ(b.labels.scalar_type(), at::kLong);
  // Label names reach a label subset in its order.
  LabelSubsetDataset s(std::make_shared<TextDataset>(path("v1.h5")), {1, 0});
  EXPECT_EQ(s.label_names(), (std::vector<std::string>{"pos", "neg"}));
  EXPECT_EQ(s.all_labels(), (std::vector<int64_t>{0, 1}));
  {
    h5::File f = h5::File::open(path("v1.h5"), /*writable=*/true);
    f.write_string("/problem_type", "multi_label_classification");
  }
  EXPECT_HAS(message_of([&] { TextDataset x(path("v1.h5")); }),
             "/problem_type is "
             "'multi_label_classification'");
}

// ---------------------------------------------------------------------------------------------
TEST(SyntheticPairs, LayoutLabelsAndBothSegmentsMatter) {
  const auto cfg = bert_cfg();
  const int64_t n = 4000, L = 32;
  SyntheticPairsDataset d(cfg, n, L, 5);
  EXPECT_EQ(d.num_labels(), 2);
  EXPECT_FALSE(d.is_regression());
  EXPECT_TRUE(d.label_names().empty());
  const int64_t la = d.len_a();
  EXPECT_EQ(la, 15);
  const models::Batch b = d.get(iota(n));
  EXPECT_EQ(b.input_ids.sizes(), (at::IntArrayRef{n, L}));
  EXPECT_EQ(b.labels.scalar_type(), at::kLong);
  std::vector<int64_t> want_types(L, 0);
  std::fill(want_types.begin() + la + 2, want_types.end(), 1);
  EXPECT_TRUE(at::equal(b.token_type_ids, at::tensor(want_types).expand({n, L})));
  EXPECT_TRUE(b.attention_mask.eq(1).all().item<bool>());
  EXPECT_TRUE(b.input_ids.select(1, 0).eq(101).all().item<bool>());
  EXPECT_TRUE(b.input_ids.select(1, la + 1).eq(102).all().item<bool>());
  EXPECT_TRUE(b.input_ids.select(1, L - 1).eq(102).all().item<bool>());
  // Each segment holds its own marker and not the other one; the label says whether they agree.
  const at::Tensor seg_a = b.input_ids.narrow(1, 1, la),
                   seg_b = b.input_ids.narrow(1, la + 2, L - la - 3);
  const at::Tensor a1 = seg_a.eq(d.marker_token(1)).any(1), a0 = seg_a.eq(d.marker_token(0)).any(1);
  const at::Tensor b1 = seg_b.eq(d.marker_token(1)).any(1), b0 = seg_b.eq(d.marker_token(0)).any(1);
  EXPECT_TRUE(at::equal(a1, a0.logical_not()));
  EXPECT_TRUE(at::equal(b1, b0.logical_not()));
  EXPECT_TRUE(at::equal(b.labels.eq(1), a1.eq(b1)));
  for (int64_t i = 0; i < 20; ++i) {
    EXPECT_EQ(d.label(i), b.labels[i].item<int64_t>());
    EXPECT_EQ(d.marker_a(i), a1[i].item<bool>() ? 1 : 0);
    EXPECT_EQ(d.marker_b(i), b1[i].item<bool>() ? 1 : 0);
  }
  // Either segment alone says nothing: within each marker of a (and of b), both labels are about
  // equally common. n/4 = 1000 per cell, binomial sd ~22.
  for (const at::Tensor& side : {a1, b1})
    for (bool m : {false, true})
      for (int64_t y : {0, 1}) {
        const int64_t count = (side.eq(m) & b.labels.eq(y)).sum().item<int64_t>();
        EXPECT_GT(count, 880) << "marker " << m << " label " << y;
        EXPECT_LT(count, 1120) << "marker " << m << " label " << y;
      }
}

TEST(SyntheticPairs, ExampleDependsOnlyOnSeedAndIndex) {
  const auto cfg = bert_cfg();
  SyntheticPairsDataset d1(cfg, 500, 24, 7), d2(cfg, 500, 24, 7), other(cfg, 500, 24, 8);
  const models::Batch one = d1.get({5}), mixed = d2.get({400, 5, 17});
  EXPECT_TRUE(at::equal(one.input_ids[0], mixed.input_ids[1]));
  EXPECT_TRUE(at::equal(one.token_type_ids[0], mixed.token_type_ids[1]));
  EXPECT_EQ(one.labels[0].item<int64_t>(), mixed.labels[1].item<int64_t>());
  EXPECT_FALSE(at::equal(other.get({5}).input_ids[0], one.input_ids[0]));
  // Through open_dataset; ViT and too short a sequence are refused.
  const auto opened = open_dataset("synthetic-pairs:300", cfg, 24, 7);
  EXPECT_EQ(opened->size(), 300);
  EXPECT_TRUE(at::equal(opened->get({5}).input_ids, one.input_ids));
  EXPECT_EQ(open_dataset("synthetic-pairs", cfg, 24, 7)->size(), 100000);
  EXPECT_HAS(message_of([&] { open_dataset("synthetic-pairs:10", vit_cfg(), 24, 7); }),
             "needs a BERT model");
  EXPECT_HAS(message_of([&] { open_dataset("synthetic-pairs:10", cfg, 4, 7); }), "seq_len 4");
  EXPECT_HAS(message_of([&] { open_dataset("synthetic-pairs:10", bert_cfg(1), 24, 7); }),
             "has 2 labels");
  EXPECT_HAS(message_of([&] { open_dataset("synthetic-pairs:x", cfg, 24, 7); }),
             "not a positive example count");
}

TEST(SyntheticRegression, BertTargetIsTheMarkedFraction) {
  const auto cfg = bert_cfg();
  const int64_t n = 2000, L = 18;
  SyntheticRegressionDataset d(cfg, n, L, 3);
  EXPECT_TRUE(d.is_regression());
  EXPECT_EQ(d.num_labels(), 1);
  EXPECT_TRUE(d.label_names().empty());
  EXPECT_EQ(d.slots(), 16);
  const models::Batch b = d.get(iota(n));
  EXPECT_EQ(b.labels.scalar_type(), at::kFloat);
  EXPECT_EQ(b.input_ids.sizes(), (at::IntArrayRef{n, L}));
  EXPECT_TRUE(b.token_type_ids.eq(0).all().item<bool>());
  EXPECT_TRUE(b.input_ids.select(1, 0).eq(101).all().item<bool>());
  EXPECT_TRUE(b.input_ids.select(1, L - 1).eq(102).all().item<bool>());
  const at::Tensor counts = b.input_ids.eq(d.marker_token()).sum(1);  // (n)
  EXPECT_TRUE(at::equal(b.labels, counts.to(at::kFloat) / 16.0f));
  EXPECT_EQ(b.labels.min().item<float>(), 0.0f);
  EXPECT_EQ(b.labels.max().item<float>(), 1.0f);
  EXPECT_NEAR(b.labels.mean().item<float>(), 0.5, 0.03);
  // all_targets and target(i) agree with the batches, bit for bit.
  const std::vector<double> targets = d.all_targets();
  ASSERT_EQ(targets.size(), size_t(n));
  for (int64_t i = 0; i < n; i += 97) {
    EXPECT_EQ(targets[size_t(i)], double(b.labels[i].item<float>()));
    EXPECT_EQ(d.target(i), b.labels[i].item<float>());
  }
  EXPECT_HAS(message_of([&] { d.all_labels(); }), "use all_targets");
  // A pure function of (seed, i).
  const auto opened = open_dataset("synthetic-regression:2000", cfg, L, 3);
  EXPECT_TRUE(opened->is_regression());
  const models::Batch again = opened->get({1999, 7});
  EXPECT_TRUE(at::equal(again.input_ids[1], b.input_ids[7]));
  EXPECT_TRUE(at::equal(again.labels[0], b.labels[1999]));
  EXPECT_FALSE(
      at::equal(SyntheticRegressionDataset(cfg, n, L, 4).get({7}).input_ids[0], b.input_ids[7]));
  EXPECT_HAS(message_of([&] { open_dataset("synthetic-regression:10", cfg, 18, 3, "0"); }),
             "regression set");
}

TEST(SyntheticRegression, VitTargetIsTheBrightPatchFraction) {
  const auto cfg = vit_cfg();
  const int64_t n = 300;
  SyntheticRegressionDataset d(cfg, n, 0, 9);
  EXPECT_EQ(d.grid(), 4);  // 32 px / 8 px patches
  EXPECT_EQ(d.slots(), 16);
  EXPECT_EQ(d.max_tokens(), 0);
  const models::Batch b = d.get(iota(n));
  EXPECT_EQ(b.pixel_values.sizes(), (at::IntArrayRef{n, 3, 32, 32}));
  EXPECT_EQ(b.labels.scalar_type(), at::kFloat);
  // A cell's mean over 3 x 8 x 8 noisy pixels is ~0 or ~2: count the bright ones.
  const at::Tensor cells = b.pixel_values.mean(1).view({n, 4, 8, 4, 8}).mean({2, 4});  // (n,4,4)
  const at::Tensor bright = cells.gt(1.0).view({n, 16}).sum(1).to(at::kFloat) / 16.0f;
  EXPECT_TRUE(at::equal(bright, b.labels));
  EXPECT_GT(b.labels.std().item<float>(), 0.25f);  // uniform over 17 values: sd ~0.31
  const models::Batch one = open_dataset("synthetic-regression:300", cfg, 0, 9)->get({42});
  EXPECT_TRUE(at::equal(one.pixel_values[0], b.pixel_values[42]));
}
