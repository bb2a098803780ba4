#include "data/fashion_mnist.h"

#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <memory>

#include "common/error.h"
#include "common/log.h"

namespace slimfit::data {

std::string default_fashion_mnist_dir() {
  const char* env = std::getenv("SLIMFIT_FASHION_MNIST_DIR");
  return env && *env ? std::string(env) : std::string("/usr/share/datasets/fashion-mnist");
}

IdxData read_idx(const std::string& path) {
  std::error_code ec;
  SLIMFIT_CHECK(std::filesystem::is_regular_file(path, ec), "IDX file ", path,
                " does not exist (Fashion-MNIST: apt-get install dataset-fashion-mnist, or set "
                "SLIMFIT_FASHION_MNIST_DIR)");
  std::unique_ptr<gzFile_s, int (*)(gzFile)> gz(gzopen(path.c_str(), "rb"), gzclose);
  SLIMFIT_CHECK(gz != nullptr, "cannot open IDX file ", path);
  auto read_exact = [&](void* buf, size_t n, const char* what) {
    size_t got = 0;
    while (got < n) {
      unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - got, 1u << 30));
      int r = gzread(gz.get(), static_cast<char*>(buf) + got, chunk);
      if (r < 0) {
        int errnum = 0;
        const char* msg = gzerror(gz.get(), &errnum);
        throw Error(str_cat("cannot read IDX file ", path, " (", what, "): ", msg ? msg : "?"));
      }
      SLIMFIT_CHECK(r > 0, "IDX file ", path, " is truncated: it ends inside the ", what, " (read ",
                    got, " of ", n, " bytes)");
      got += static_cast<size_t>(r);
    }
  };
  unsigned char magic[4];
  read_exact(magic, 4, "magic number");
  SLIMFIT_CHECK(magic[0] == 0 && magic[1] == 0, "IDX file ", path,
                " has a bad magic number (expected 0x0000TTDD); is it an IDX file?");
  SLIMFIT_CHECK(magic[2] == 0x08, "IDX file ", path, " holds element type 0x", std::hex,
                static_cast<int>(magic[2]), std::dec, "; only unsigned bytes (0x08) are supported");
  const int ndim = magic[3];
  SLIMFIT_CHECK(ndim >= 1 && ndim <= 4, "IDX file ", path, " has ", ndim,
                " dimensions; expected 1 to 4");
  IdxData out;
  int64_t total = 1;
  for (int i = 0; i < ndim; ++i) {
    unsigned char b[4];
    read_exact(b, 4, "header");
    int64_t d = (int64_t{b[0]} << 24) | (int64_t{b[1]} << 16) | (int64_t{b[2]} << 8) | b[3];
    SLIMFIT_CHECK(d > 0 && d < (int64_t{1} << 28), "IDX file ", path, " has a bad dimension ", d);
    out.dims.push_back(d);
    total *= d;
  }
  SLIMFIT_CHECK(total < (int64_t{1} << 33), "IDX file ", path, " is implausibly large");
  out.data.resize(static_cast<size_t>(total));
  read_exact(out.data.data(), out.data.size(), "data");
  char extra;
  SLIMFIT_CHECK(gzread(gz.get(), &extra, 1) == 0, "IDX file ", path,
                " has trailing bytes after the ", total, " data bytes its header announces");
  return out;
}

const std::vector<std::string>& FashionMnistDataset::class_names() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                 "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                 "Bag",         "Ankle boot"};
  return names;
}

FashionMnistDataset::FashionMnistDataset(const std::string& dir, bool train, int64_t image_size,
                                         int64_t channels)
    : image_size_(image_size), channels_(channels) {
  SLIMFIT_CHECK(image_size >= 1 && channels >= 1, "Fashion-MNIST: bad image_size ", image_size,
                " or channels ", channels);
  const std::string prefix = train ? "train" : "t10k";
  auto find = [&](const std::string& stem) {
    std::filesystem::path base = std::filesystem::path(dir) / stem;
    std::error_code ec;
    if (std::filesystem::is_regular_file(base.string() + ".gz", ec)) return base.string() + ".gz";
    if (std::filesystem::is_regular_file(base, ec)) return base.string();
    throw Error(str_cat("Fashion-MNIST: ", base.string(),
                        ".gz not found (install the Debian "
                        "package dataset-fashion-mnist, or set "
                        "SLIMFIT_FASHION_MNIST_DIR)"));
  };
  const std::string img_path = find(prefix + "-images-idx3-ubyte");
  const std::string lab_path = find(prefix + "-labels-idx1-ubyte");
  IdxData img = read_idx(img_path);
  IdxData lab = read_idx(lab_path);
  SLIMFIT_CHECK(img.dims.size() == 3, "Fashion-MNIST: ", img_path, " has ", img.dims.size(),
                " dimensions; expected 3 (N, rows, cols)");
  SLIMFIT_CHECK(lab.dims.size() == 1, "Fashion-MNIST: ", lab_path, " has ", lab.dims.size(),
                " dimensions; expected 1");
  SLIMFIT_CHECK(img.dims[0] == lab.dims[0], "Fashion-MNIST: ", img_path, " has ", img.dims[0],
                " images but ", lab_path, " has ", lab.dims[0], " labels");
  for (uint8_t l : lab.data)
    SLIMFIT_CHECK(l < 10, "Fashion-MNIST: ", lab_path, " holds label ", int{l}, "; expected 0..9");
  images_ = at::from_blob(img.data.data(), img.dims, at::kByte).clone();
  labels_ = at::from_blob(lab.data.data(), {lab.dims[0]}, at::kByte).to(at::kLong);
  log_info("Fashion-MNIST ", train ? "train" : "test", ": ", images_.size(0), " images of ",
           images_.size(1), "x", images_.size(2), " from ", dir);
}

models::Batch FashionMnistDataset::get(const std::vector<int64_t>& indices) const {
  check_indices(indices, size(), "Fashion-MNIST");
  at::Tensor idx = at::tensor(indices, at::kLong);
  at::Tensor x = images_.index_select(0, idx).to(at::kFloat).div_(255.0).unsqueeze(1);  // B1HW
  const int64_t h = x.size(2), w = x.size(3), s = image_size_;
  if (s != h || s != w) {
    if (s > h && s > w && s - h <= 8 && s - w <= 8) {
      const int64_t top = (s - h) / 2, left = (s - w) / 2;
      at::Tensor padded = at::zeros({x.size(0), 1, s, s}, at::kFloat);
      padded.narrow(2, top, h).narrow(3, left, w).copy_(x);
      x = padded;
    } else {
      x = at::upsample_bilinear2d(x, {s, s}, /*align_corners=*/false);
    }
  }
  x = x.sub_(kMean).div_(kStd);
  if (channels_ > 1) x = x.expand({x.size(0), channels_, s, s}).contiguous();
  models::Batch b;
  b.pixel_values = x;
  b.labels = labels_.index_select(0, idx);
  return b;
}

}  // namespace slimfit::data
