// Fashion-MNIST from its IDX files (gzip-compressed or not), as ViT input.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace slimfit::data {

// $SLIMFIT_FASHION_MNIST_DIR when set, else /usr/share/datasets/fashion-mnist (Debian package
// dataset-fashion-mnist).
std::string default_fashion_mnist_dir();

// The contents of an IDX file (.gz read through zlib; plain files work too): dims and the
// unsigned-byte data. Throws slimfit::Error naming the file on a bad magic number, an unsupported
// element type (only 0x08 unsigned byte) or a short file.
struct IdxData {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;
};
IdxData read_idx(const std::string& path);

// train-images-idx3-ubyte.gz / train-labels-idx1-ubyte.gz (or t10k-* when !train) under dir.
// Pixels are scaled to [0, 1], normalised with mean 0.2860 and std 0.3530, brought to
// image_size (28: unchanged; 29..36: centred zero padding of the raw image, i.e. background;
// otherwise bilinear resize) and repeated to `channels` channels.
class FashionMnistDataset : public Dataset {
 public:
  FashionMnistDataset(const std::string& dir, bool train, int64_t image_size, int64_t channels);
  int64_t size() const override { return images_.size(0); }
  int64_t num_labels() const override { return 10; }
  models::Batch get(const std::vector<int64_t>& indices) const override;

  const at::Tensor& raw_images() const { return images_; }  // (N, 28, 28) uint8
  const at::Tensor& labels() const { return labels_; }      // (N) int64
  std::vector<int64_t> all_labels() const override {
    return {labels_.data_ptr<int64_t>(), labels_.data_ptr<int64_t>() + labels_.numel()};
  }
  static const std::vector<std::string>& class_names();

  static constexpr double kMean = 0.2860;
  static constexpr double kStd = 0.3530;

 private:
  at::Tensor images_;
  at::Tensor labels_;
  int64_t image_size_, channels_;
};

}  // namespace slimfit::data
