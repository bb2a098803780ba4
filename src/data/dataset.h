// Datasets: a random-access interface that stacks examples into a models::Batch, a
// deterministic synthetic set, index splits, and open_dataset() which picks a dataset from a
// config string. Text (prepared HDF5) and Fashion-MNIST live in text.h / fashion_mnist.h.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "models/config.h"
#include "models/model.h"

namespace slimfit::data {

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  // Classification: the number of classes. Regression: 1.
  virtual int64_t num_labels() const = 0;
  // Stacks the examples at these indices into one batch. Batch.labels is (N) int64 class ids, or
  // (N) float32 targets when is_regression().
  virtual models::Batch get(const std::vector<int64_t>& indices) const = 0;
  // Whether the labels are real-valued targets (trained with mean squared error) rather than
  // class ids. A regression set has num_labels() == 1, float32 labels and no label names.
  virtual bool is_regression() const { return false; }
  // The class names in id order, or {} when the set has none (synthetic sets, Fashion-MNIST's
  // class indices, every regression set): callers then name class c "LABEL_c", as Hugging Face
  // does.
  virtual std::vector<std::string> label_names() const { return {}; }
  // Every example's class id, in index order. The default stacks the examples in chunks; data
  // sets that hold their labels override it. Throws slimfit::Error on a regression set (its
  // labels are not class ids: use all_targets).
  virtual std::vector<int64_t> all_labels() const;
  // Every example's regression target, in index order (the float32 Batch.labels, widened). The
  // default stacks the examples in chunks. Throws slimfit::Error on a classification set.
  virtual std::vector<double> all_targets() const;
  // The most tokens an example can have (text: its padded length; 0: not a token sequence).
  virtual int64_t max_tokens() const { return 0; }
};

// Random examples whose label is learnable by a small model within ~100 steps. Example i is a
// pure function of (seed, i), so any split of a global batch across ranks sees the same data.
//  - BERT: [CLS] followed by random tokens; the label c is encoded by marker token
//    marker_token(c) placed at several random positions (no other marker appears).
//  - ViT: Gaussian noise (std 0.5) with a bright square (+2) in grid cell c of a
//    ceil(sqrt(num_labels))^2 grid.
// Labels are uniform over [0, num_labels).
class SyntheticDataset : public Dataset {
 public:
  SyntheticDataset(const models::ModelConfig& cfg, int64_t size, int64_t seq_len, uint64_t seed);
  int64_t size() const override { return size_; }
  int64_t num_labels() const override { return num_labels_; }
  models::Batch get(const std::vector<int64_t>& indices) const override;
  int64_t max_tokens() const override { return arch_ == models::Arch::kBert ? seq_len_ : 0; }

  // The label of example i (without generating the example).
  int64_t label(int64_t i) const;
  // The token id that marks label c (BERT).
  int64_t marker_token(int64_t c) const { return marker_base_ + c; }

 private:
  models::Arch arch_;
  int64_t size_, seq_len_, num_labels_;
  uint64_t seed_;
  int64_t vocab_size_ = 0, marker_base_ = 0, cls_id_ = 0, sep_id_ = 0, token_low_ = 0;
  int64_t image_size_ = 0, channels_ = 0;
};

// Checks 0 <= i < size for every index; throws slimfit::Error naming `what` otherwise.
void check_indices(const std::vector<int64_t>& indices, int64_t size, const std::string& what);

// A deterministic split of [0, n) into (train, eval), eval holding round(n * eval_fraction)
// indices. Both are sorted. Depends only on (n, eval_fraction, seed).
std::pair<std::vector<int64_t>, std::vector<int64_t>> split_indices(int64_t n, double eval_fraction,
                                                                    uint64_t seed);
// Fold `fold` of a deterministic k-fold partition of [0, n): (train, eval), both sorted. The k
// eval sets are disjoint and cover [0, n); their sizes differ by at most one.
std::pair<std::vector<int64_t>, std::vector<int64_t>> kfold_indices(int64_t n, int64_t k,
                                                                    int64_t fold, uint64_t seed);

// A dataset from a config string:
//   "synthetic" (100000 examples) or "synthetic:N": SyntheticDataset, cfg.num_labels classes;
//   "synthetic-pairs" or "synthetic-pairs:N": SyntheticPairsDataset (BERT), two segments with
//   token_type_ids, label 1 when their markers agree (synthetic_tasks.h);
//   "synthetic-regression" or "synthetic-regression:N": SyntheticRegressionDataset (BERT or ViT),
//   a float target in [0, 1], the fraction of positions (patches) holding a marker;
//   a path to a text set prepared by prepare_text (.h5), for BERT;
//   "fashion-mnist" / "fashion-mnist:train" / "fashion-mnist:test" for ViT, read from
//   $SLIMFIT_FASHION_MNIST_DIR or /usr/share/datasets/fashion-mnist (Debian package
//   dataset-fashion-mnist); "fashion-mnist:test:/some/dir" names the directory.
// seq_len is the synthetic BERT sequence length, and caps prepared text (TextDataset truncates
// longer examples, keeping their [SEP]). Prepared text must have been tokenized with
// cfg.vocab_file when the model has one (a file without a recorded fingerprint only warns). Throws
// slimfit::Error listing the accepted forms on anything else, and when the dataset does not fit
// the model (more labels than cfg.num_labels, token ids outside the vocabulary, wrong arch). A
// regression set fits any cfg.num_labels: the caller gives the model one output for it.
std::shared_ptr<Dataset> open_dataset(const std::string& spec, const models::ModelConfig& cfg,
                                      int64_t seq_len, uint64_t seed);

// A label list: comma-separated labels and inclusive ranges, e.g. "5-9" or "0,2,4-6". Throws
// slimfit::Error naming the text on a malformed item, a negative label, a reversed range or a
// repeated label. The order is kept (it is the new label order of LabelSubsetDataset).
std::vector<int64_t> parse_label_list(const std::string& text);

// The examples of `base` whose label is in `classes`, relabelled by position in `classes`
// (classes {5,7} turns label 5 into 0 and 7 into 1). num_labels() is classes.size(); the label
// names are base's names of the kept classes, in the new order. Throws slimfit::Error when base
// is a regression set, a class is outside [0, base.num_labels()) or no example is left.
class LabelSubsetDataset : public Dataset {
 public:
  LabelSubsetDataset(std::shared_ptr<const Dataset> base, std::vector<int64_t> classes);
  int64_t size() const override { return static_cast<int64_t>(index_.size()); }
  int64_t num_labels() const override { return static_cast<int64_t>(classes_.size()); }
  models::Batch get(const std::vector<int64_t>& indices) const override;
  std::vector<int64_t> all_labels() const override;
  std::vector<std::string> label_names() const override;
  int64_t max_tokens() const override { return base_->max_tokens(); }

 private:
  std::shared_ptr<const Dataset> base_;
  std::vector<int64_t> classes_;
  std::vector<int64_t> index_;   // subset example -> base example
  std::vector<int64_t> labels_;  // new labels, per subset example
};

// open_dataset(spec, ...) restricted to a label list ("" keeps every example and label).
std::shared_ptr<Dataset> open_dataset(const std::string& spec, const models::ModelConfig& cfg,
                                      int64_t seq_len, uint64_t seed, const std::string& classes);

}  // namespace slimfit::data
