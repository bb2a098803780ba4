#include "data/dataset.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <optional>

#include "common/error.h"
#include "common/log.h"
#include "common/strings.h"
#include "data/fashion_mnist.h"
#include "data/rng.h"
#include "data/synthetic_tasks.h"
#include "data/text.h"
#include "models/wordpiece.h"

namespace slimfit::data {

namespace {

// The fold-assignment stream (common/random.h): a pure function of (seed, n).
std::vector<int64_t> permutation(int64_t n, uint64_t seed) {
  Rng rng(seed, static_cast<uint64_t>(n), 0x5EED);
  return shuffled_range(n, [&](int64_t bound) { return rng.below(bound); });
}

}  // namespace

void check_indices(const std::vector<int64_t>& indices, int64_t size, const std::string& what) {
  SLIMFIT_CHECK(!indices.empty(), what, ": a batch needs at least one index");
  for (int64_t i : indices)
    SLIMFIT_CHECK(i >= 0 && i < size, what, ": index ", i, " is out of range [0, ", size, ")");
}

// ---------------------------------------------------------------------------------------------
SyntheticDataset::SyntheticDataset(const models::ModelConfig& cfg, int64_t size, int64_t seq_len,
                                   uint64_t seed)
    : arch_(cfg.arch), size_(size), seq_len_(seq_len), num_labels_(cfg.num_labels), seed_(seed) {
  SLIMFIT_CHECK(size > 0, "synthetic dataset: size must be positive, got ", size);
  SLIMFIT_CHECK(num_labels_ >= 1, "synthetic dataset: num_labels must be >= 1, got ", num_labels_);
  if (arch_ == models::Arch::kBert) {
    const SyntheticTokens t = synthetic_tokens(cfg, num_labels_, seq_len, 2, "synthetic dataset");
    vocab_size_ = t.vocab_size;
    cls_id_ = t.cls;
    sep_id_ = t.sep;
    marker_base_ = t.marker_base;
    token_low_ = t.token_low;
  } else {
    image_size_ = cfg.image_size;
    channels_ = cfg.num_channels;
    SLIMFIT_CHECK(image_size_ > 0 && channels_ > 0, "synthetic dataset: bad image_size ",
                  image_size_, " or num_channels ", channels_);
  }
}

int64_t SyntheticDataset::label(int64_t i) const {
  return Rng(seed_, static_cast<uint64_t>(i), kLabel).below(num_labels_);
}

models::Batch SyntheticDataset::get(const std::vector<int64_t>& indices) const {
  check_indices(indices, size_, "synthetic dataset");
  const int64_t B = static_cast<int64_t>(indices.size());
  models::Batch b;
  b.labels = at::empty({B}, at::kLong);
  auto lab = b.labels.accessor<int64_t, 1>();
  if (arch_ == models::Arch::kBert) {
    const int64_t L = seq_len_;
    b.input_ids = at::empty({B, L}, at::kLong);
    b.token_type_ids = at::zeros({B, L}, at::kLong);
    b.attention_mask = at::ones({B, L}, at::kLong);
    auto ids = b.input_ids.accessor<int64_t, 2>();
    const int64_t span = vocab_size_ - token_low_;
    for (int64_t r = 0; r < B; ++r) {
      const int64_t i = indices[r];
      const int64_t y = label(i);
      lab[r] = y;
      Rng tok(seed_, static_cast<uint64_t>(i), kTokens);
      ids[r][0] = cls_id_;
      for (int64_t t = 1; t < L; ++t) ids[r][t] = token_low_ + tok.below(span);
      if (L >= 3) ids[r][L - 1] = sep_id_;
      // The label's marker at 1..3 positions (at least one) between [CLS] and [SEP].
      const int64_t body = std::max<int64_t>(L - 2, 1);
      Rng mk(seed_, static_cast<uint64_t>(i), kMarkers);
      // Longer sequences get more markers (up to one per 16 tokens), so the task stays learnable
      // from random weights at any seq_len.
      const int64_t count = 1 + mk.below(std::min<int64_t>(body, std::max<int64_t>(3, body / 16)));
      for (int64_t m = 0; m < count; ++m) ids[r][1 + mk.below(body)] = marker_token(y);
    }
  } else {
    const int64_t H = image_size_, C = channels_;
    b.pixel_values = at::empty({B, C, H, H}, at::kFloat);
    auto px = b.pixel_values.accessor<float, 4>();
    const int64_t grid =
        static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(num_labels_))));
    const int64_t cell = std::max<int64_t>(H / grid, 1);
    for (int64_t r = 0; r < B; ++r) {
      const int64_t i = indices[r];
      const int64_t y = label(i);
      lab[r] = y;
      const int64_t y0 = (y / grid) * cell, x0 = (y % grid) * cell;
      Rng rng(seed_, static_cast<uint64_t>(i), kPixels);
      for (int64_t c = 0; c < C; ++c)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t w = 0; w < H; ++w) {
            float v = static_cast<float>(0.5 * rng.normal());
            if (h >= y0 && h < y0 + cell && w >= x0 && w < x0 + cell) v += 2.0f;
            px[r][c][h][w] = v;
          }
    }
  }
  return b;
}

// ---------------------------------------------------------------------------------------------
std::pair<std::vector<int64_t>, std::vector<int64_t>> split_indices(int64_t n, double eval_fraction,
                                                                    uint64_t seed) {
  SLIMFIT_CHECK(n > 0, "split_indices: n must be positive, got ", n);
  SLIMFIT_CHECK(eval_fraction >= 0.0 && eval_fraction <= 1.0,
                "split_indices: eval_fraction must be in [0, 1], got ", eval_fraction);
  std::vector<int64_t> p = permutation(n, seed);
  const int64_t n_eval = static_cast<int64_t>(std::llround(static_cast<double>(n) * eval_fraction));
  std::vector<int64_t> eval(p.begin(), p.begin() + n_eval), train(p.begin() + n_eval, p.end());
  std::sort(eval.begin(), eval.end());
  std::sort(train.begin(), train.end());
  return {train, eval};
}

std::pair<std::vector<int64_t>, std::vector<int64_t>> kfold_indices(int64_t n, int64_t k,
                                                                    int64_t fold, uint64_t seed) {
  SLIMFIT_CHECK(k >= 2, "kfold_indices: k must be >= 2, got ", k);
  SLIMFIT_CHECK(fold >= 0 && fold < k, "kfold_indices: fold ", fold, " must be in [0, ", k, ")");
  SLIMFIT_CHECK(n >= k, "kfold_indices: n = ", n, " is smaller than k = ", k);
  std::vector<int64_t> p = permutation(n, seed);
  const int64_t lo = fold * n / k, hi = (fold + 1) * n / k;
  std::vector<int64_t> eval(p.begin() + lo, p.begin() + hi), train;
  train.reserve(static_cast<size_t>(n - (hi - lo)));
  train.insert(train.end(), p.begin(), p.begin() + lo);
  train.insert(train.end(), p.begin() + hi, p.end());
  std::sort(eval.begin(), eval.end());
  std::sort(train.begin(), train.end());
  return {train, eval};
}

// ---------------------------------------------------------------------------------------------
namespace {

const char* kAcceptedForms =
    "accepted dataset forms: \"synthetic\", \"synthetic:N\", \"synthetic-pairs[:N]\", "
    "\"synthetic-regression[:N]\", a prepared text set \"path.h5\" "
    "(made by prepare_text), \"fashion-mnist\", \"fashion-mnist:train\", "
    "\"fashion-mnist:test\", \"fashion-mnist:test:/dir\"";

// A whole decimal integer (all of s, in range), or nullopt.
std::optional<int64_t> parse_integer(const std::string& s) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || !end || *end != '\0' || errno != 0) return std::nullopt;
  return static_cast<int64_t>(v);
}

int64_t parse_count(const std::string& s, const std::string& spec) {
  const std::optional<int64_t> v = parse_integer(s);
  SLIMFIT_CHECK(v && *v > 0, "dataset '", spec, "': '", s, "' is not a positive example count; ",
                kAcceptedForms);
  return *v;
}

void check_fits(const Dataset& d, const models::ModelConfig& cfg, const std::string& spec) {
  if (d.is_regression()) return;  // one output, whatever cfg.num_labels says (the caller's head)
  SLIMFIT_CHECK(d.num_labels() <= cfg.num_labels, "dataset '", spec, "' has ", d.num_labels(),
                " labels but the model has num_labels = ", cfg.num_labels,
                "; set num_labels to at least ", d.num_labels());
}

// Prepared text must be tokenized with the model's own vocabulary: the same ids under another
// vocabulary are other words, and training on them runs without any error.
void check_vocabulary(const TextDataset& d, const models::ModelConfig& cfg,
                      const std::string& spec) {
  if (cfg.vocab_file.empty()) return;  // random weights: any vocabulary will do
  if (d.vocab_fingerprint().empty()) {
    log_warn("dataset '", spec, "' was prepared without a vocabulary fingerprint, so it cannot be ",
             "checked against the model's ", cfg.vocab_file, "; prepare it again to check it");
    return;
  }
  const std::string ours =
      models::WordPieceTokenizer::from_vocab_file(cfg.vocab_file).fingerprint();
  SLIMFIT_CHECK(d.vocab_fingerprint() == ours, "dataset '", spec, "' was tokenized with ",
                d.vocab_file(), " (vocabulary fingerprint ", d.vocab_fingerprint(),
                "), not with the model's ", cfg.vocab_file, " (", ours,
                "); prepare it again with --vocab ", cfg.vocab_file);
}

// seq_len caps prepared text (TextDataset truncates); say what it did, never nothing.
void log_seq_len(const TextDataset& d, const std::string& spec, int64_t seq_len) {
  if (seq_len > 0 && seq_len < d.prepared_length()) {
    log_info("data ", spec, ": seq_len=", seq_len, " truncates its ", d.prepared_length(),
             "-token examples; ", d.truncated(), " of ", d.size(),
             " were longer and keep their [SEP] as the last token");
  } else if (seq_len > d.prepared_length()) {
    log_info("data ", spec, ": examples were prepared at ", d.prepared_length(),
             " tokens; seq_len=", seq_len, " cannot lengthen them (slimfit prepare --max-length ",
             seq_len, " can)");
  }
}

std::shared_ptr<Dataset> open_text(const std::string& spec, const models::ModelConfig& cfg,
                                   int64_t seq_len) {
  SLIMFIT_CHECK(cfg.arch == models::Arch::kBert, "dataset '", spec,
                "' is a text set; it needs a BERT model, not '", cfg.name, "'");
  auto d = std::make_shared<TextDataset>(spec, seq_len);
  log_seq_len(*d, spec, seq_len);
  check_fits(*d, cfg, spec);
  check_vocabulary(*d, cfg, spec);
  SLIMFIT_CHECK(d->max_token_id() < cfg.vocab_size, "dataset '", spec, "' holds token id ",
                d->max_token_id(), " but the model's vocabulary has ", cfg.vocab_size,
                " tokens; prepare it with the model's vocab.txt");
  SLIMFIT_CHECK(d->max_length() <= cfg.max_position_embeddings, "dataset '", spec,
                "' has sequences of ", d->max_length(), " tokens but the model allows ",
                cfg.max_position_embeddings, "; lower seq_len");
  return d;
}

}  // namespace

std::shared_ptr<Dataset> open_dataset(const std::string& spec, const models::ModelConfig& cfg,
                                      int64_t seq_len, uint64_t seed) {
  SLIMFIT_CHECK(!spec.empty(), "empty dataset name; ", kAcceptedForms);
  if (spec == "synthetic" || starts_with(spec, "synthetic:")) {
    int64_t n = spec == "synthetic" ? 100000 : parse_count(spec.substr(10), spec);
    return std::make_shared<SyntheticDataset>(cfg, n, seq_len, seed);
  }
  // "name" or "name:N" (100000 examples by default); nullopt when spec is not this name.
  auto synthetic_count = [&](const std::string& name) -> std::optional<int64_t> {
    if (spec == name) return 100000;
    if (starts_with(spec, name + ":")) return parse_count(spec.substr(name.size() + 1), spec);
    return std::nullopt;
  };
  if (const auto n = synthetic_count("synthetic-pairs")) {
    auto d = std::make_shared<SyntheticPairsDataset>(cfg, *n, seq_len, seed);
    check_fits(*d, cfg, spec);
    return d;
  }
  if (const auto n = synthetic_count("synthetic-regression"))
    return std::make_shared<SyntheticRegressionDataset>(cfg, *n, seq_len, seed);
  if (spec == "fashion-mnist" || starts_with(spec, "fashion-mnist:")) {
    SLIMFIT_CHECK(cfg.arch == models::Arch::kVit, "dataset '", spec,
                  "' holds images; it needs a ViT model, not '", cfg.name, "'");
    std::string rest = spec.size() > 14 ? spec.substr(14) : "";
    std::string split = rest, dir;
    size_t colon = rest.find(':');
    if (colon != std::string::npos) {
      split = rest.substr(0, colon);
      dir = rest.substr(colon + 1);
    }
    if (split.empty()) split = "train";
    SLIMFIT_CHECK(split == "train" || split == "test", "dataset '", spec, "': unknown split '",
                  split, "' (train or test); ", kAcceptedForms);
    if (dir.empty()) dir = default_fashion_mnist_dir();
    auto d = std::make_shared<FashionMnistDataset>(dir, split == "train", cfg.image_size,
                                                   cfg.num_channels);
    check_fits(*d, cfg, spec);
    return d;
  }
  std::error_code ec;
  if (std::filesystem::is_regular_file(spec, ec)) return open_text(spec, cfg, seq_len);
  throw Error(str_cat("unknown dataset '", spec, "' (not a built-in name, and no such file); ",
                      kAcceptedForms));
}

std::vector<int64_t> Dataset::all_labels() const {
  SLIMFIT_CHECK(!is_regression(),
                "all_labels: this is a regression set; its labels are float targets, not class "
                "ids (use all_targets)");
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(size()));
  constexpr int64_t kChunk = 512;
  for (int64_t begin = 0; begin < size(); begin += kChunk) {
    std::vector<int64_t> chunk;
    for (int64_t i = begin; i < std::min(size(), begin + kChunk); ++i) chunk.push_back(i);
    const at::Tensor l = get(chunk).labels.to(at::kLong).contiguous();
    out.insert(out.end(), l.data_ptr<int64_t>(), l.data_ptr<int64_t>() + l.numel());
  }
  return out;
}

std::vector<double> Dataset::all_targets() const {
  SLIMFIT_CHECK(is_regression(), "all_targets: this is a classification set with ", num_labels(),
                " classes; its labels are class ids (use all_labels)");
  std::vector<double> out;
  out.reserve(static_cast<size_t>(size()));
  constexpr int64_t kChunk = 512;
  for (int64_t begin = 0; begin < size(); begin += kChunk) {
    std::vector<int64_t> chunk;
    for (int64_t i = begin; i < std::min(size(), begin + kChunk); ++i) chunk.push_back(i);
    const at::Tensor t = get(chunk).labels.to(at::kDouble).contiguous();
    out.insert(out.end(), t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
  }
  return out;
}

std::vector<int64_t> parse_label_list(const std::string& text) {
  auto label = [&](const std::string& s) {
    const std::optional<int64_t> v = parse_integer(s);
    SLIMFIT_CHECK(v && *v >= 0, "label list '", text, "': '", s,
                  "' is not a label (a non-negative integer); expected e.g. 5-9 or 0,2,4");
    return *v;
  };
  std::vector<int64_t> out;
  for (const std::string& item : split_commas(text)) {
    const size_t dash = item.find('-', 1);
    if (dash == std::string::npos) {
      out.push_back(label(item));
      continue;
    }
    const int64_t lo = label(item.substr(0, dash)), hi = label(item.substr(dash + 1));
    SLIMFIT_CHECK(lo <= hi, "label list '", text, "': range '", item, "' runs backwards");
    for (int64_t v = lo; v <= hi; ++v) out.push_back(v);
  }
  SLIMFIT_CHECK(!out.empty(), "label list '", text, "' names no label");
  std::vector<int64_t> sorted = out;
  std::sort(sorted.begin(), sorted.end());
  const auto dup = std::adjacent_find(sorted.begin(), sorted.end());
  SLIMFIT_CHECK(dup == sorted.end(), "label list '", text, "' names label ",
                dup == sorted.end() ? 0 : *dup, " twice");
  return out;
}

LabelSubsetDataset::LabelSubsetDataset(std::shared_ptr<const Dataset> base,
                                       std::vector<int64_t> classes)
    : base_(std::move(base)), classes_(std::move(classes)) {
  SLIMFIT_CHECK(!base_->is_regression(),
                "classes: the data set is a regression set (float targets); classes= selects "
                "classes of a classification set");
  SLIMFIT_CHECK(!classes_.empty(), "a label subset needs at least one label");
  std::vector<int64_t> relabel(static_cast<size_t>(base_->num_labels()), -1);  // base -> new
  for (size_t k = 0; k < classes_.size(); ++k) {
    const int64_t c = classes_[k];
    SLIMFIT_CHECK(c >= 0 && c < base_->num_labels(), "classes: label ", c,
                  " is outside the data set's labels [0, ", base_->num_labels(), ")");
    relabel[static_cast<size_t>(c)] = static_cast<int64_t>(k);
  }
  const std::vector<int64_t> base_labels = base_->all_labels();
  for (size_t i = 0; i < base_labels.size(); ++i) {
    const int64_t l = base_labels[i];
    if (l >= 0 && l < int64_t(relabel.size()) && relabel[size_t(l)] >= 0) {
      index_.push_back(static_cast<int64_t>(i));
      labels_.push_back(relabel[size_t(l)]);
    }
  }
  SLIMFIT_CHECK(!index_.empty(), "classes: no example of the data set has any of the ",
                classes_.size(), " chosen labels");
}

models::Batch LabelSubsetDataset::get(const std::vector<int64_t>& indices) const {
  check_indices(indices, size(), "label subset");
  std::vector<int64_t> base_indices;
  base_indices.reserve(indices.size());
  for (int64_t i : indices) base_indices.push_back(index_[size_t(i)]);
  models::Batch b = base_->get(base_indices);
  std::vector<int64_t> l;
  l.reserve(indices.size());
  for (int64_t i : indices) l.push_back(labels_[size_t(i)]);
  b.labels = at::tensor(l, at::kLong);
  return b;
}

std::vector<int64_t> LabelSubsetDataset::all_labels() const { return labels_; }

std::vector<std::string> LabelSubsetDataset::label_names() const {
  const std::vector<std::string> base_names = base_->label_names();
  if (base_names.empty()) return {};
  SLIMFIT_ASSERT(static_cast<int64_t>(base_names.size()) == base_->num_labels());
  std::vector<std::string> out;
  for (int64_t c : classes_) out.push_back(base_names[size_t(c)]);
  return out;
}

std::shared_ptr<Dataset> open_dataset(const std::string& spec, const models::ModelConfig& cfg,
                                      int64_t seq_len, uint64_t seed, const std::string& classes) {
  std::shared_ptr<Dataset> d = open_dataset(spec, cfg, seq_len, seed);
  if (classes.empty()) return d;
  auto subset = std::make_shared<LabelSubsetDataset>(d, parse_label_list(classes));
  log_info("data ", spec, ": classes ", classes, " keep ", subset->size(), " of ", d->size(),
           " examples, relabelled 0..", subset->num_labels() - 1);
  return subset;
}

}  // namespace slimfit::data
