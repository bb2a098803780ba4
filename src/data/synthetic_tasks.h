// Synthetic sentence-pair and regression sets, for tests and smoke runs of the pair and
// regression paths (open_dataset "synthetic-pairs[:N]", "synthetic-regression[:N]"). Like
// SyntheticDataset (dataset.h), example i is a pure function of (seed, i) (data/rng.h), so any
// split of a global batch across ranks sees the same data, and each task is learnable by a small
// model from random weights within ~100 steps.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace slimfit::data {

// The token ids a synthetic BERT set uses: BERT's own ids when the vocabulary is large enough
// ([CLS]=101, [SEP]=102, markers from 1000, ordinary tokens above the markers), otherwise compact
// ids ([CLS]=1, [SEP]=2, markers from 5). Filler tokens are drawn from [token_low, vocab_size).
struct SyntheticTokens {
  int64_t cls = 0, sep = 0, marker_base = 0, token_low = 0, vocab_size = 0;
};
// Throws slimfit::Error naming `what` when the vocabulary cannot hold n_markers markers and
// some filler, or seq_len is outside [min_len, cfg.max_position_embeddings].
SyntheticTokens synthetic_tokens(const models::ModelConfig& cfg, int64_t n_markers, int64_t seq_len,
                                 int64_t min_len, const std::string& what);

// Sentence pairs (BERT only): [CLS] a [SEP] b [SEP], token_type_ids 0 up to and including the
// first [SEP] and 1 after it, segment a ceil((L-3)/2) tokens long and b the rest. Each segment
// holds one of two marker tokens (marker_token(0) or (1)) at about a third to half of its
// positions, among random filler; the label is 1 when the two segments hold the same marker,
// else 0. The
// label is balanced and independent of either segment alone (an XOR of the two markers), so a
// model must read both segments to beat chance. num_labels() is 2.
class SyntheticPairsDataset : public Dataset {
 public:
  SyntheticPairsDataset(const models::ModelConfig& cfg, int64_t size, int64_t seq_len,
                        uint64_t seed);
  int64_t size() const override { return size_; }
  int64_t num_labels() const override { return 2; }
  models::Batch get(const std::vector<int64_t>& indices) const override;
  int64_t max_tokens() const override { return seq_len_; }

  // The label of example i, and the marker (0 or 1) of its segment a or b.
  int64_t label(int64_t i) const;
  int64_t marker_a(int64_t i) const;
  int64_t marker_b(int64_t i) const { return label(i) == 1 ? marker_a(i) : 1 - marker_a(i); }
  int64_t marker_token(int64_t m) const { return ids_.marker_base + m; }
  // The length of segment a (b is seq_len - 3 - len_a).
  int64_t len_a() const { return len_a_; }

 private:
  int64_t size_, seq_len_, len_a_;
  uint64_t seed_;
  SyntheticTokens ids_;
};

// Regression with a float target in [0, 1], num_labels() 1, float32 labels.
//  - BERT: [CLS], L-2 body tokens, [SEP]. k of the body positions (k uniform in [0, L-2]) hold
//    the marker token marker_token(), the others random filler; the target is k / (L-2).
//  - ViT: Gaussian noise (std 0.5) over a grid of patch cells (image_size / patch_size per
//    side); k of the cells (k uniform in [0, cells]) are bright (+2); the target is k / cells.
// Averaging one feature over positions gives the target, so a small model learns it quickly.
class SyntheticRegressionDataset : public Dataset {
 public:
  SyntheticRegressionDataset(const models::ModelConfig& cfg, int64_t size, int64_t seq_len,
                             uint64_t seed);
  int64_t size() const override { return size_; }
  int64_t num_labels() const override { return 1; }
  bool is_regression() const override { return true; }
  models::Batch get(const std::vector<int64_t>& indices) const override;
  std::vector<double> all_targets() const override;
  int64_t max_tokens() const override { return arch_ == models::Arch::kBert ? seq_len_ : 0; }

  // The target of example i (as stored: float32), and the marker count behind it.
  float target(int64_t i) const;
  int64_t marked(int64_t i) const;
  // How many positions (BERT body tokens) or cells (ViT) can be marked.
  int64_t slots() const { return slots_; }
  int64_t marker_token() const { return ids_.marker_base; }  // BERT
  int64_t grid() const { return grid_; }                     // ViT: cells per side

 private:
  models::Arch arch_;
  int64_t size_, seq_len_, slots_ = 0;
  uint64_t seed_;
  SyntheticTokens ids_;
  int64_t image_size_ = 0, channels_ = 0, grid_ = 0;
};

}  // namespace slimfit::data
