// Datasets: synthetic determinism and learnability, CSV/JSONL parsing, prepare_text ->
// TextDataset, splits, Fashion-MNIST, open_dataset.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <numeric>
#include <set>
#include <string>

#include <hdf5.h>

#include "ckpt/h5.h"
#include "common/error.h"
#include "data/dataset.h"
#include "data/fashion_mnist.h"
#include "data/text.h"
#include "models/config.h"
#include "models/wordpiece.h"

namespace fs = std::filesystem;
using namespace slimfit;
using namespace slimfit::data;

namespace {

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no slimfit::Error thrown>";
}

models::ModelConfig bert_cfg() {
  models::ModelConfig c;
  c.arch = models::Arch::kBert;
  c.name = "test-bert";
  c.vocab_size = 30522;
  c.num_labels = 3;
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
  c.num_labels = 4;
  return c;
}

class DataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("slimfit_data_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream v(path("vocab.txt"));
    for (const char* t :
         {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "movie", "was", "great", "bad",
          "good",  "fun",   ",",     ".",     "!",      "\"",  "not",   "##s", "line",  "two"})
      v << t << "\n";
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string write(const std::string& name, const std::string& content) const {
    std::ofstream(path(name), std::ios::binary) << content;
    return path(name);
  }
  fs::path dir_;
};

void expect_same_example(const models::Batch& a, int64_t ra, const models::Batch& b, int64_t rb) {
  EXPECT_EQ(a.labels[ra].item<int64_t>(), b.labels[rb].item<int64_t>());
  if (a.input_ids.defined()) {
    EXPECT_TRUE(at::equal(a.input_ids[ra], b.input_ids[rb]));
    EXPECT_TRUE(at::equal(a.attention_mask[ra], b.attention_mask[rb]));
  } else {
    EXPECT_TRUE(at::equal(a.pixel_values[ra], b.pixel_values[rb]));
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
TEST(SyntheticData, ExampleDependsOnlyOnSeedAndIndex) {
  for (const auto& cfg : {bert_cfg(), vit_cfg()}) {
    SyntheticDataset d1(cfg, 1000, 32, 7), d2(cfg, 1000, 32, 7), other(cfg, 1000, 32, 8);
    models::Batch single = d1.get({5});
    models::Batch mixed = d1.get({900, 5, 17});
    models::Batch again = d2.get({17, 5});
    expect_same_example(single, 0, mixed, 1);
    expect_same_example(single, 0, again, 1);
    expect_same_example(mixed, 2, again, 0);
    models::Batch o = other.get({5});
    if (cfg.arch == models::Arch::kBert)
      EXPECT_FALSE(at::equal(o.input_ids[0], single.input_ids[0]));
    else
      EXPECT_FALSE(at::equal(o.pixel_values[0], single.pixel_values[0]));
  }
}

TEST(SyntheticData, ShapesAndTokenRanges) {
  auto cfg = bert_cfg();
  SyntheticDataset d(cfg, 100, 16, 1);
  EXPECT_EQ(d.size(), 100);
  EXPECT_EQ(d.num_labels(), 3);
  models::Batch b = d.get({0, 1, 2, 3});
  EXPECT_EQ(b.input_ids.sizes(), (at::IntArrayRef{4, 16}));
  EXPECT_EQ(b.input_ids.scalar_type(), at::kLong);
  EXPECT_EQ(b.token_type_ids.sizes(), (at::IntArrayRef{4, 16}));
  EXPECT_TRUE(b.attention_mask.eq(1).all().item<bool>());
  EXPECT_TRUE(b.input_ids.select(1, 0).eq(101).all().item<bool>());
  EXPECT_GE(b.input_ids.min().item<int64_t>(), 5);
  EXPECT_LT(b.input_ids.max().item<int64_t>(), cfg.vocab_size);
  EXPECT_EQ(b.labels.scalar_type(), at::kLong);
  EXPECT_THROW(d.get({100}), Error);
  EXPECT_THROW(d.get({}), Error);

  auto v = vit_cfg();
  SyntheticDataset dv(v, 50, 0, 1);
  models::Batch bv = dv.get({3, 4});
  EXPECT_EQ(bv.pixel_values.sizes(), (at::IntArrayRef{2, 3, 32, 32}));
  EXPECT_EQ(bv.pixel_values.scalar_type(), at::kFloat);
}

// The label is recoverable by a trivial rule (what a small model learns), and labels are
// balanced.
TEST(SyntheticData, LabelsBalancedAndLearnable) {
  auto cfg = bert_cfg();
  const int64_t n = 3000;
  SyntheticDataset d(cfg, n, 24, 3);
  std::vector<int64_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  models::Batch b = d.get(idx);
  at::Tensor counts = at::bincount(b.labels, {}, cfg.num_labels);
  for (int64_t c = 0; c < cfg.num_labels; ++c) {
    EXPECT_GT(counts[c].item<int64_t>(), n / cfg.num_labels * 8 / 10);
    // Marker c is present exactly in the examples of label c.
    at::Tensor has = b.input_ids.eq(d.marker_token(c)).any(1);
    EXPECT_TRUE(at::equal(has, b.labels.eq(c)));
  }
  for (int64_t i = 0; i < 10; ++i) EXPECT_EQ(d.label(i), b.labels[i].item<int64_t>());

  // ViT: the bright grid cell gives the label.
  auto v = vit_cfg();
  SyntheticDataset dv(v, 400, 0, 3);
  std::vector<int64_t> vi(400);
  std::iota(vi.begin(), vi.end(), 0);
  models::Batch bv = dv.get(vi);
  // grid = 2 for 4 labels, cells of 16x16: mean brightness per cell.
  at::Tensor cells = bv.pixel_values.mean(1).view({400, 2, 16, 2, 16}).mean({2, 4}).view({400, 4});
  EXPECT_TRUE(at::equal(cells.argmax(1), bv.labels));
  EXPECT_GT(at::bincount(bv.labels).min().item<int64_t>(), 60);
}

// ---------------------------------------------------------------------------------------------
TEST(Splits, SplitDisjointCoveringDeterministic) {
  auto [train, eval] = split_indices(1000, 0.2, 42);
  EXPECT_EQ(eval.size(), 200u);
  EXPECT_EQ(train.size(), 800u);
  std::set<int64_t> all(train.begin(), train.end());
  for (int64_t i : eval) EXPECT_TRUE(all.insert(i).second) << "index in both: " << i;
  EXPECT_EQ(all.size(), 1000u);
  EXPECT_EQ(*all.rbegin(), 999);
  EXPECT_EQ(split_indices(1000, 0.2, 42).second, eval);
  EXPECT_NE(split_indices(1000, 0.2, 43).second, eval);
  EXPECT_TRUE(std::is_sorted(eval.begin(), eval.end()));
  EXPECT_THROW(split_indices(10, 1.5, 0), Error);
}

TEST(Splits, KFoldDisjointCovering) {
  const int64_t n = 103, k = 5;
  std::vector<int> seen(n, 0);
  for (int64_t f = 0; f < k; ++f) {
    auto [train, eval] = kfold_indices(n, k, f, 9);
    EXPECT_EQ(static_cast<int64_t>(train.size() + eval.size()), n);
    EXPECT_GE(eval.size(), static_cast<size_t>(n / k));
    EXPECT_LE(eval.size(), static_cast<size_t>(n / k + 1));
    std::set<int64_t> t(train.begin(), train.end());
    for (int64_t i : eval) {
      EXPECT_EQ(t.count(i), 0u);
      ++seen[i];
    }
    EXPECT_EQ(kfold_indices(n, k, f, 9).second, eval);
  }
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(seen[i], 1) << i;
  EXPECT_THROW(kfold_indices(n, 1, 0, 0), Error);
  EXPECT_THROW(kfold_indices(n, 5, 5, 0), Error);
}

// ---------------------------------------------------------------------------------------------
TEST(LabelSubset, ParsesListsAndRangesInOrder) {
  EXPECT_EQ(parse_label_list("5-9"), (std::vector<int64_t>{5, 6, 7, 8, 9}));
  EXPECT_EQ(parse_label_list("3,0,7-8"), (std::vector<int64_t>{3, 0, 7, 8}));
  EXPECT_NE(message_of([] { parse_label_list("4-2"); }).find("range '4-2' runs backwards"),
            std::string::npos);
  EXPECT_NE(message_of([] { parse_label_list("1,x"); }).find("'x' is not a label"),
            std::string::npos);
  EXPECT_NE(message_of([] { parse_label_list("1,2,1-3"); }).find("names label 1 twice"),
            std::string::npos);
  EXPECT_NE(message_of([] { parse_label_list(","); }).find("names no label"), std::string::npos);
}

TEST(LabelSubset, KeepsTheChosenLabelsRelabelledAndTheExamplesUnchanged) {
  auto cfg = bert_cfg();  // 3 labels
  auto base = std::make_shared<SyntheticDataset>(cfg, 300, 16, 11);
  LabelSubsetDataset subset(base, {2, 0});  // 2 -> 0, 0 -> 1
  std::vector<int64_t> expected_base, expected_labels;
  for (int64_t i = 0; i < base->size(); ++i) {
    if (base->label(i) == 2) expected_base.push_back(i), expected_labels.push_back(0);
    if (base->label(i) == 0) expected_base.push_back(i), expected_labels.push_back(1);
  }
  ASSERT_EQ(subset.size(), int64_t(expected_base.size()));
  EXPECT_EQ(subset.num_labels(), 2);
  EXPECT_EQ(subset.all_labels(), expected_labels);
  // The default all_labels (via get) agrees with the synthetic set's own labels.
  const std::vector<int64_t> base_labels = base->all_labels();
  for (int64_t i = 0; i < base->size(); ++i) ASSERT_EQ(base_labels[size_t(i)], base->label(i));
  std::vector<int64_t> picked(size_t(subset.size()));
  std::iota(picked.begin(), picked.end(), int64_t{0});
  const models::Batch got = subset.get(picked);
  const models::Batch want = base->get(expected_base);
  EXPECT_TRUE(at::equal(got.input_ids, want.input_ids));
  EXPECT_EQ(std::vector<int64_t>(got.labels.data_ptr<int64_t>(),
                                 got.labels.data_ptr<int64_t>() + got.labels.numel()),
            expected_labels);
  EXPECT_NE(message_of([&] {
              LabelSubsetDataset(base, {1, 3});
            }).find("label 3 is outside the data set's labels [0, 3)"),
            std::string::npos);
  EXPECT_THROW(subset.get({subset.size()}), Error);
}

TEST(Csv, QuotesCommasNewlines) {
  const std::string csv =
      "\xEF\xBB\xBF"
      "label,text,extra\r\n"
      "fresh,\"great, fun movie\",x\r\n"
      "rotten,\"say \"\"bad\"\"\nline two\",\n"
      "\n"
      "plot,plain,\"\"\n"
      "fresh,\"\",last";
  auto r = parse_csv(csv, "t.csv");
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(r[0], (std::vector<std::string>{"label", "text", "extra"}));
  EXPECT_EQ(r[1], (std::vector<std::string>{"fresh", "great, fun movie", "x"}));
  EXPECT_EQ(r[2], (std::vector<std::string>{"rotten", "say \"bad\"\nline two", ""}));
  EXPECT_EQ(r[3], (std::vector<std::string>{"plot", "plain", ""}));
  EXPECT_EQ(r[4], (std::vector<std::string>{"fresh", "", "last"}));

  std::string msg = message_of([] { parse_csv("a,b\n\"open,x\n", "bad.csv"); });
  EXPECT_NE(msg.find("bad.csv"), std::string::npos) << msg;
  EXPECT_NE(msg.find("never closed"), std::string::npos) << msg;
  msg = message_of([] { parse_csv("a,b\nx\"y,z\n", "bad.csv"); });
  EXPECT_NE(msg.find("line 2"), std::string::npos) << msg;
}

TEST_F(DataTest, PrepareTextRoundTrip) {
  std::string csv = write("reviews.csv",
                          "category,text,movie\n"
                          "fresh,\"The movie was great, fun!\",m1\n"
                          "plot,\"A plot summary\nover two lines\",m2\n"
                          "rotten,\"The movie was \"\"not\"\" good.\",m3\n"
                          "fresh,great great great great great great great great great great,m4\n");
  PrepareTextOptions o;
  o.input = csv;
  o.output = path("reviews.h5");
  o.vocab = path("vocab.txt");
  o.text_column = "text";
  o.label_column = "category";
  o.labels = {"rotten", "fresh"};
  o.max_length = 8;
  PrepareTextResult res = prepare_text(o);
  EXPECT_EQ(res.rows_read, 4);
  EXPECT_EQ(res.examples, 3);
  EXPECT_EQ(res.skipped, 1);
  EXPECT_EQ(res.label_counts, (std::vector<int64_t>{1, 2}));
  EXPECT_FALSE(fs::exists(o.output + ".tmp"));

  {
    h5::File f = h5::File::open(o.output);
    EXPECT_EQ(f.read_tensor("/input_ids").scalar_type(), at::kInt);
    EXPECT_EQ(f.read_tensor("/attention_mask").scalar_type(), at::kByte);
    EXPECT_EQ(f.read_int("/max_length"), 8);
    EXPECT_EQ(f.read_string("/source"), csv);
  }

  TextDataset d(o.output);
  EXPECT_EQ(d.size(), 3);
  EXPECT_EQ(d.num_labels(), 2);
  EXPECT_EQ(d.label_names(), (std::vector<std::string>{"rotten", "fresh"}));
  EXPECT_EQ(d.max_length(), 8);
  models::Batch b = d.get({0, 1, 2});
  EXPECT_EQ(b.input_ids.scalar_type(), at::kLong);
  EXPECT_EQ(b.attention_mask.scalar_type(), at::kLong);
  EXPECT_TRUE(at::equal(b.labels, at::tensor({1, 0, 1}, at::kLong)));
  EXPECT_TRUE(b.token_type_ids.eq(0).all().item<bool>());
  // Ids: [CLS]=2 the=5 movie=6 was=7 great=8 ,=12 fun=11 !=14 -> truncated to 8 with [SEP]=3.
  EXPECT_TRUE(at::equal(b.input_ids[0], at::tensor({2, 5, 6, 7, 8, 12, 11, 3}, at::kLong)))
      << b.input_ids[0];
  // "The movie was "not" good." -> [CLS] the movie was " not " good . [SEP] cut to 8.
  EXPECT_EQ(b.input_ids[1][0].item<int64_t>(), 2);
  EXPECT_EQ(b.input_ids[1][7].item<int64_t>(), 3);
  EXPECT_TRUE(b.attention_mask.eq(1).all().item<bool>());
  EXPECT_EQ(d.max_token_id(), 16);

  // All labels (sorted) when none are given; a shorter text is padded.
  o.labels.clear();
  o.max_length = 16;
  o.output = path("all.h5");
  res = prepare_text(o);
  EXPECT_EQ(res.examples, 4);
  TextDataset all(o.output);
  EXPECT_EQ(all.label_names(), (std::vector<std::string>{"fresh", "plot", "rotten"}));
  models::Batch p = all.get({0});
  EXPECT_EQ(p.attention_mask[0].sum().item<int64_t>(), 9);  // [CLS] 7 tokens [SEP]
  EXPECT_EQ(p.input_ids.size(1), 9);                        // a batch is trimmed to its longest row
  {
    h5::File f = h5::File::open(o.output);
    EXPECT_EQ(f.read_tensor("/input_ids")[0][15].item<int>(), 0);  // [PAD] in the file
  }
  // In a mixed batch the shorter rows keep their padding, masked out.
  models::Batch mixed = all.get({0, 1});
  const int64_t longest = mixed.attention_mask.sum(1).max().item<int64_t>();
  EXPECT_EQ(mixed.input_ids.size(1), longest);
  EXPECT_EQ(mixed.attention_mask.size(1), longest);
}

TEST_F(DataTest, PrepareTextJsonl) {
  std::string jl = write("d.jsonl",
                         "{\"sentence\": \"great fun\", \"label\": 1}\n"
                         "\n"
                         "{\"sentence\": \"bad movie\", \"label\": 0, \"idx\": 3}\n"
                         "{\"sentence\": \"good\", \"label\": 10}\n");
  PrepareTextOptions o;
  o.input = jl;
  o.output = path("d.h5");
  o.vocab = path("vocab.txt");
  o.text_column = "sentence";
  o.max_length = 6;
  prepare_text(o);
  TextDataset d(o.output);
  EXPECT_EQ(d.label_names(), (std::vector<std::string>{"0", "1", "10"}));  // numeric order
  EXPECT_TRUE(at::equal(d.labels(), at::tensor({1, 0, 2}, at::kLong)));
  EXPECT_TRUE(at::equal(d.get({1}).input_ids[0], at::tensor({2, 9, 6, 3}, at::kLong)));

  o.text_column = "text";
  std::string msg = message_of([&] { prepare_text(o); });
  EXPECT_NE(msg.find("no field 'text'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'sentence'"), std::string::npos) << msg;
}

TEST_F(DataTest, PrepareTextErrors) {
  PrepareTextOptions o;
  o.output = path("x.h5");
  o.vocab = path("vocab.txt");
  o.label_column = "category";

  o.input = path("missing.csv");
  std::string msg = message_of([&] { prepare_text(o); });
  EXPECT_NE(msg.find("missing.csv"), std::string::npos) << msg;
  EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;

  o.input = write("cols.csv", "category,review\nfresh,good\n");
  msg = message_of([&] { prepare_text(o); });
  EXPECT_NE(msg.find("no column 'text'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'category', 'review'"), std::string::npos) << msg;

  o.input = write("lab.csv", "category,text\nfresh,good\nplot,a plot\n");
  o.labels = {"rotten", "fresh"};
  o.keep_only_labels = false;
  msg = message_of([&] { prepare_text(o); });
  EXPECT_NE(msg.find("line 3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'plot'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not in the label set"), std::string::npos) << msg;

  o.keep_only_labels = true;
  o.input = write("none.csv", "category,text\nplot,a\nplot,b\n");
  msg = message_of([&] { prepare_text(o); });
  EXPECT_NE(msg.find("no examples"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'plot' (2)"), std::string::npos) << msg;

  o.input = write("empty.csv", "");
  msg = message_of([&] { prepare_text(o); });
  EXPECT_NE(msg.find("empty"), std::string::npos) << msg;

  o.input = write("header.csv", "category,text\n");
  msg = message_of([&] { prepare_text(o); });
  EXPECT_NE(msg.find("no data rows"), std::string::npos) << msg;

  o.input = write("ragged.csv", "category,text\nfresh,good,extra\n");
  msg = message_of([&] { prepare_text(o); });
  EXPECT_NE(msg.find("line 2 has 3 fields"), std::string::npos) << msg;

  msg = message_of([&] { TextDataset d(path("vocab.txt")); });
  EXPECT_NE(msg.find("not an HDF5 file"), std::string::npos) << msg;
  {
    h5::File f = h5::File::create(path("other.h5"));
    f.write_int("/x", 1);
  }
  msg = message_of([&] { TextDataset d(path("other.h5")); });
  EXPECT_NE(msg.find("no /input_ids"), std::string::npos) << msg;
}

// ---------------------------------------------------------------------------------------------
TEST(FashionMnist, ShapesLabelsAndFirstLabel) {
  const std::string dir = default_fashion_mnist_dir();
  if (!fs::exists(dir + "/t10k-labels-idx1-ubyte.gz"))
    GTEST_SKIP() << "Fashion-MNIST not installed under " << dir;
  IdxData labels = read_idx(dir + "/t10k-labels-idx1-ubyte.gz");
  ASSERT_EQ(labels.dims, (std::vector<int64_t>{10000}));
  FashionMnistDataset d(dir, /*train=*/false, 32, 3);
  EXPECT_EQ(d.size(), 10000);
  EXPECT_EQ(d.num_labels(), 10);
  models::Batch b = d.get({0, 1, 9999});
  EXPECT_EQ(b.pixel_values.sizes(), (at::IntArrayRef{3, 3, 32, 32}));
  EXPECT_EQ(b.labels[0].item<int64_t>(), labels.data[0]);
  EXPECT_EQ(b.labels[2].item<int64_t>(), labels.data[9999]);
  EXPECT_EQ(labels.data[0], 9);  // the first test image is an ankle boot
  EXPECT_GE(d.labels().min().item<int64_t>(), 0);
  EXPECT_LE(d.labels().max().item<int64_t>(), 9);
  // Channels are copies; the zero padding is background (normalised 0).
  EXPECT_TRUE(at::equal(b.pixel_values.select(1, 0), b.pixel_values.select(1, 2)));
  const float bg = static_cast<float>(-FashionMnistDataset::kMean / FashionMnistDataset::kStd);
  EXPECT_NEAR(b.pixel_values[0][0][0][0].item<float>(), bg, 1e-5);
  // Normalisation over the raw test images is close to mean 0, std 1.
  FashionMnistDataset d28(dir, false, 28, 1);
  std::vector<int64_t> idx(2000);
  std::iota(idx.begin(), idx.end(), 0);
  at::Tensor x = d28.get(idx).pixel_values;
  EXPECT_NEAR(x.mean().item<double>(), 0.0, 0.05);
  EXPECT_NEAR(x.std().item<double>(), 1.0, 0.05);
  // Bilinear resize for larger sizes.
  FashionMnistDataset d64(dir, false, 64, 1);
  EXPECT_EQ(d64.get({0}).pixel_values.sizes(), (at::IntArrayRef{1, 1, 64, 64}));
}

TEST_F(DataTest, IdxValidation) {
  std::string msg =
      message_of([&] { read_idx(write("bad.idx", std::string("\x01\x02\x08\x01", 4))); });
  EXPECT_NE(msg.find("magic"), std::string::npos) << msg;
  msg = message_of([&] {
    read_idx(write("short.idx", std::string("\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02", 10)));
  });
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  IdxData ok =
      read_idx(write("ok.idx", std::string("\x00\x00\x08\x01\x00\x00\x00\x02\x07\x09", 10)));
  EXPECT_EQ(ok.dims, (std::vector<int64_t>{2}));
  EXPECT_EQ(ok.data, (std::vector<uint8_t>{7, 9}));
  msg = message_of([&] { FashionMnistDataset d(path("nodir"), true, 28, 1); });
  EXPECT_NE(msg.find("not found"), std::string::npos) << msg;
}

// ---------------------------------------------------------------------------------------------
TEST_F(DataTest, OpenDataset) {
  auto cfg = bert_cfg();
  auto d = open_dataset("synthetic", cfg, 16, 1);
  EXPECT_EQ(d->size(), 100000);
  EXPECT_EQ(open_dataset("synthetic:123", cfg, 16, 1)->size(), 123);
  std::string msg = message_of([&] { open_dataset("synthetic:abc", cfg, 16, 1); });
  EXPECT_NE(msg.find("accepted dataset forms"), std::string::npos) << msg;
  msg = message_of([&] { open_dataset("imagenet", cfg, 16, 1); });
  EXPECT_NE(msg.find("unknown dataset 'imagenet'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("fashion-mnist:test"), std::string::npos) << msg;
  msg = message_of([&] { open_dataset("fashion-mnist", cfg, 16, 1); });
  EXPECT_NE(msg.find("ViT"), std::string::npos) << msg;

  // A prepared text set; vocabulary and label checks against the model.
  PrepareTextOptions o;
  o.input = write("t.csv", "label,text\npos,great fun\nneg,bad\n");
  o.output = path("t.h5");
  o.vocab = path("vocab.txt");
  o.max_length = 8;
  prepare_text(o);
  auto t = open_dataset(o.output, cfg, 16, 1);
  EXPECT_EQ(t->size(), 2);
  EXPECT_EQ(t->num_labels(), 2);
  auto small = cfg;
  small.num_labels = 1;
  msg = message_of([&] { open_dataset(o.output, small, 16, 1); });
  EXPECT_NE(msg.find("num_labels"), std::string::npos) << msg;
  small = cfg;
  small.vocab_size = 10;
  msg = message_of([&] { open_dataset(o.output, small, 16, 1); });
  EXPECT_NE(msg.find("vocabulary"), std::string::npos) << msg;
}

// The real sentiment set (installed by scripts/setup.sh): fresh/rotten only.
TEST_F(DataTest, RottenTomatoesRealData) {
  const std::string src = std::string(SLIMFIT_SOURCE_DIR) + "/.assets/rotten_tomatoes.csv";
  const std::string vocab = std::string(SLIMFIT_SOURCE_DIR) + "/.assets/minilm/vocab.txt";
  if (!fs::exists(src) || !fs::exists(vocab)) GTEST_SKIP() << "run scripts/setup.sh first";
  PrepareTextOptions o;
  o.input = src;
  o.output = path("rt.h5");
  o.vocab = vocab;
  o.label_column = "category";
  o.labels = {"rotten", "fresh"};
  o.max_length = 64;
  PrepareTextResult res = prepare_text(o);
  EXPECT_EQ(res.label_counts, (std::vector<int64_t>{5405, 7403}));
  EXPECT_GT(res.skipped, 0);
  TextDataset d(o.output);
  EXPECT_EQ(d.size(), 12808);
  models::Batch b = d.get({0, 12807});
  EXPECT_EQ(b.input_ids[0][0].item<int64_t>(), 101);  // [CLS]
}

// ---------------------------------------------------------------------------------------------
// The vocabulary fingerprint: FNV-1a 64 over the tokens in id order (each followed by '\n').
TEST(VocabFingerprint, IsFnv1aOverTheTokensInIdOrder) {
  using models::WordPieceTokenizer;
  // Values from a three-line Python FNV-1a over b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n".
  EXPECT_EQ(WordPieceTokenizer::from_tokens({"[PAD]", "[UNK]", "[CLS]", "[SEP]"}).fingerprint(),
            "d7bff3dd9ebb7a78");
  EXPECT_EQ(WordPieceTokenizer::from_tokens({"[PAD]", "[UNK]", "[SEP]", "[CLS]"}).fingerprint(),
            "fa2cd0da9ed6e6d8");
}

// Prepared text records its vocabulary's fingerprint; a model with a vocab.txt refuses text
// tokenized with another one, naming both files.
TEST_F(DataTest, PreparedTextMustMatchTheModelsVocabulary) {
  PrepareTextOptions o;
  o.input = write("t.csv", "label,text\npos,great fun\nneg,bad\n");
  o.output = path("t.h5");
  o.vocab = path("vocab.txt");
  o.max_length = 8;
  prepare_text(o);
  EXPECT_EQ(h5::File::open(o.output).attr_string("/", "vocab_fingerprint"),
            models::WordPieceTokenizer::from_vocab_file(o.vocab).fingerprint());
  auto cfg = bert_cfg();
  cfg.vocab_file = o.vocab;
  EXPECT_EQ(open_dataset(o.output, cfg, 16, 1)->size(), 2);

  // The same tokens with "great" and "bad" swapped: the ids now mean other words.
  std::ifstream in(o.vocab);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t great = text.find("great\n"), bad = text.find("bad\n");
  text.replace(bad, 3, "great").replace(great, 5, "bad");
  cfg.vocab_file = write("shuffled.txt", text);
  std::string msg = message_of([&] { open_dataset(o.output, cfg, 16, 1); });
  for (const std::string& needle :
       {o.output, "tokenized with " + o.vocab, "model's " + cfg.vocab_file, std::string("--vocab")})
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;

  // A model without a vocabulary (random weights) does not check.
  cfg.vocab_file.clear();
  EXPECT_EQ(open_dataset(o.output, cfg, 16, 1)->size(), 2);
  // A file prepared before fingerprints were recorded loads (with a warning).
  {
    h5::File f = h5::File::open(o.output, /*writable=*/true);
    ASSERT_GE(H5Adelete(f.id(), "vocab_fingerprint"), 0);
  }
  cfg.vocab_file = path("shuffled.txt");
  EXPECT_EQ(open_dataset(o.output, cfg, 16, 1)->size(), 2);
}

// seq_len below the prepared length truncates exactly as preparing at seq_len would: each
// longer example keeps its [SEP] as the last token, and the mask follows.
TEST_F(DataTest, SeqLenTruncatesPreparedTextLikePreparingShorter) {
  PrepareTextOptions o;
  o.input = write("t.csv", "label,text\npos,\"the movie was great fun , not bad !\"\nneg,bad\n");
  o.vocab = path("vocab.txt");
  o.output = path("long.h5");
  o.max_length = 16;  // the first example is 11 tokens
  prepare_text(o);
  o.output = path("short.h5");
  o.max_length = 6;
  prepare_text(o);

  TextDataset cut(path("long.h5"), 6), ref(path("short.h5"));
  EXPECT_EQ(cut.max_length(), 6);
  EXPECT_EQ(cut.prepared_length(), 16);
  EXPECT_EQ(cut.truncated(), 1);
  const models::Batch a = cut.get({0, 1}), b = ref.get({0, 1});
  EXPECT_TRUE(at::equal(a.input_ids, b.input_ids)) << a.input_ids << b.input_ids;
  EXPECT_TRUE(at::equal(a.attention_mask, b.attention_mask));
  EXPECT_EQ(a.input_ids[0][5].item<int64_t>(), 3);  // [SEP]
  EXPECT_EQ(a.attention_mask.sum().item<int64_t>(), 6 + 3);

  // Longer than prepared: kept as prepared. Through open_dataset, max_tokens follows seq_len.
  TextDataset same(path("long.h5"), 40);
  EXPECT_EQ(same.max_length(), 16);
  EXPECT_EQ(same.truncated(), 0);
  EXPECT_EQ(open_dataset(path("long.h5"), bert_cfg(), 6, 1)->max_tokens(), 6);
  EXPECT_EQ(open_dataset(path("long.h5"), bert_cfg(), 128, 1)->max_tokens(), 16);
}
