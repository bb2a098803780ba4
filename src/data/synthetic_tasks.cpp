#include "data/synthetic_tasks.h"

#include <algorithm>

#include "common/error.h"
#include "data/rng.h"

namespace slimfit::data {

SyntheticTokens synthetic_tokens(const models::ModelConfig& cfg, int64_t n_markers, int64_t seq_len,
                                 int64_t min_len, const std::string& what) {
  SLIMFIT_CHECK(seq_len >= min_len && seq_len <= cfg.max_position_embeddings, what, ": seq_len ",
                seq_len, " must be in [", min_len, ", ", cfg.max_position_embeddings,
                "] (max_position_embeddings of '", cfg.name, "')");
  SyntheticTokens t;
  t.vocab_size = cfg.vocab_size;
  if (t.vocab_size >= 1000 + n_markers + 100) {
    t.cls = 101;
    t.sep = 102;
    t.marker_base = 1000;
  } else {
    SLIMFIT_CHECK(t.vocab_size >= 5 + n_markers + 4, what, ": vocab_size ", t.vocab_size,
                  " is too small for ", n_markers, " marker tokens");
    t.cls = 1;
    t.sep = 2;
    t.marker_base = 5;
  }
  t.token_low = t.marker_base + n_markers;
  return t;
}

namespace {

// Fills ids[begin, begin + len) with filler, then puts `marker` at ceil(len / 3) to
// ceil(len / 3) + max(1, len / 6) distinct random positions of that span (drawn from `mk`):
// dense enough that the XOR of the two segments' markers is learned within ~100 steps.
template <typename Row>
void fill_segment(Row ids, int64_t begin, int64_t len, int64_t marker, const SyntheticTokens& t,
                  Rng& tok, Rng& mk) {
  for (int64_t p = begin; p < begin + len; ++p)
    ids[p] = t.token_low + tok.below(t.vocab_size - t.token_low);
  const int64_t count = std::min(len, (len + 2) / 3 + mk.below(std::max<int64_t>(1, len / 6) + 1));
  for (int64_t p : mk.choose(len, count)) ids[begin + p] = marker;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
SyntheticPairsDataset::SyntheticPairsDataset(const models::ModelConfig& cfg, int64_t size,
                                             int64_t seq_len, uint64_t seed)
    : size_(size), seq_len_(seq_len), len_a_((seq_len - 2) / 2), seed_(seed) {
  SLIMFIT_CHECK(cfg.arch == models::Arch::kBert,
                "synthetic-pairs is a sentence-pair set; it needs a BERT model, not '", cfg.name,
                "'");
  SLIMFIT_CHECK(size > 0, "synthetic-pairs: size must be positive, got ", size);
  // [CLS] a [SEP] b [SEP] with at least one token in each segment.
  ids_ = synthetic_tokens(cfg, 2, seq_len, 5, "synthetic-pairs");
}

int64_t SyntheticPairsDataset::label(int64_t i) const {
  return Rng(seed_, static_cast<uint64_t>(i), kLabel).below(2);
}

int64_t SyntheticPairsDataset::marker_a(int64_t i) const {
  return Rng(seed_, static_cast<uint64_t>(i), kMarkerA).below(2);
}

models::Batch SyntheticPairsDataset::get(const std::vector<int64_t>& indices) const {
  check_indices(indices, size_, "synthetic-pairs");
  const int64_t B = static_cast<int64_t>(indices.size()), L = seq_len_;
  const int64_t len_b = L - 3 - len_a_;
  models::Batch b;
  b.input_ids = at::empty({B, L}, at::kLong);                       // (B, L)
  b.token_type_ids = at::zeros({B, L}, at::kLong);                  // (B, L)
  b.token_type_ids.narrow(1, len_a_ + 2, L - len_a_ - 2).fill_(1);  // b [SEP]
  b.attention_mask = at::ones({B, L}, at::kLong);                   // (B, L)
  b.labels = at::empty({B}, at::kLong);                             // (B)
  auto ids = b.input_ids.accessor<int64_t, 2>();
  auto lab = b.labels.accessor<int64_t, 1>();
  for (int64_t r = 0; r < B; ++r) {
    const int64_t i = indices[size_t(r)];
    const auto u = static_cast<uint64_t>(i);
    lab[r] = label(i);
    Rng tok(seed_, u, kTokens), mk_a(seed_, u, kMarkers), mk_b(seed_, u, kMarkersB);
    ids[r][0] = ids_.cls;
    fill_segment(ids[r], 1, len_a_, marker_token(marker_a(i)), ids_, tok, mk_a);
    ids[r][len_a_ + 1] = ids_.sep;
    fill_segment(ids[r], len_a_ + 2, len_b, marker_token(marker_b(i)), ids_, tok, mk_b);
    ids[r][L - 1] = ids_.sep;
  }
  return b;
}

// ---------------------------------------------------------------------------------------------
SyntheticRegressionDataset::SyntheticRegressionDataset(const models::ModelConfig& cfg, int64_t size,
                                                       int64_t seq_len, uint64_t seed)
    : arch_(cfg.arch), size_(size), seq_len_(seq_len), seed_(seed) {
  SLIMFIT_CHECK(size > 0, "synthetic-regression: size must be positive, got ", size);
  if (arch_ == models::Arch::kBert) {
    ids_ = synthetic_tokens(cfg, 1, seq_len, 3, "synthetic-regression");
    slots_ = seq_len - 2;
  } else {
    image_size_ = cfg.image_size;
    channels_ = cfg.num_channels;
    SLIMFIT_CHECK(image_size_ > 0 && channels_ > 0 && cfg.patch_size > 0,
                  "synthetic-regression: bad image_size ", image_size_, ", patch_size ",
                  cfg.patch_size, " or num_channels ", channels_);
    grid_ = std::max<int64_t>(image_size_ / cfg.patch_size, 1);
    slots_ = grid_ * grid_;
  }
}

int64_t SyntheticRegressionDataset::marked(int64_t i) const {
  return Rng(seed_, static_cast<uint64_t>(i), kLabel).below(slots_ + 1);
}

float SyntheticRegressionDataset::target(int64_t i) const {
  return static_cast<float>(static_cast<double>(marked(i)) / static_cast<double>(slots_));
}

std::vector<double> SyntheticRegressionDataset::all_targets() const {
  std::vector<double> out(static_cast<size_t>(size_));
  for (int64_t i = 0; i < size_; ++i) out[size_t(i)] = target(i);
  return out;
}

models::Batch SyntheticRegressionDataset::get(const std::vector<int64_t>& indices) const {
  check_indices(indices, size_, "synthetic-regression");
  const int64_t B = static_cast<int64_t>(indices.size());
  models::Batch b;
  b.labels = at::empty({B}, at::kFloat);  // (B)
  auto lab = b.labels.accessor<float, 1>();
  if (arch_ == models::Arch::kBert) {
    const int64_t L = seq_len_;
    b.input_ids = at::empty({B, L}, at::kLong);       // (B, L)
    b.token_type_ids = at::zeros({B, L}, at::kLong);  // (B, L)
    b.attention_mask = at::ones({B, L}, at::kLong);   // (B, L)
    auto ids = b.input_ids.accessor<int64_t, 2>();
    for (int64_t r = 0; r < B; ++r) {
      const int64_t i = indices[size_t(r)];
      lab[r] = target(i);
      Rng tok(seed_, static_cast<uint64_t>(i), kTokens);
      ids[r][0] = ids_.cls;
      for (int64_t t = 1; t < L - 1; ++t)
        ids[r][t] = ids_.token_low + tok.below(ids_.vocab_size - ids_.token_low);
      ids[r][L - 1] = ids_.sep;
      Rng mk(seed_, static_cast<uint64_t>(i), kMarkers);
      for (int64_t p : mk.choose(slots_, marked(i))) ids[r][1 + p] = marker_token();
    }
    return b;
  }
  const int64_t H = image_size_, C = channels_, cell = H / grid_;
  b.pixel_values = at::empty({B, C, H, H}, at::kFloat);  // (B, C, H, W)
  auto px = b.pixel_values.accessor<float, 4>();
  for (int64_t r = 0; r < B; ++r) {
    const int64_t i = indices[size_t(r)];
    lab[r] = target(i);
    std::vector<char> bright(static_cast<size_t>(slots_), 0);
    Rng mk(seed_, static_cast<uint64_t>(i), kMarkers);
    for (int64_t c : mk.choose(slots_, marked(i))) bright[size_t(c)] = 1;
    Rng rng(seed_, static_cast<uint64_t>(i), kPixels);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < H; ++w) {
          float v = static_cast<float>(0.5 * rng.normal());
          const int64_t gy = std::min(h / cell, grid_ - 1), gx = std::min(w / cell, grid_ - 1);
          if (bright[size_t(gy * grid_ + gx)]) v += 2.0f;
          px[r][c][h][w] = v;
        }
  }
  return b;
}

}  // namespace slimfit::data
