// HDF5 wrapper: tensor/string/scalar round trips, extendable row datasets, error messages and
// atomic writes.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>

#include "ckpt/h5.h"
#include "common/error.h"

#include <hdf5.h>
#include <unistd.h>

namespace fs = std::filesystem;
using slimfit::Error;
using slimfit::h5::File;

namespace {

class H5Test : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("slimfit_h5_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no slimfit::Error thrown>";
}

// The raw bytes of a contiguous CPU tensor.
std::string bytes_of(const at::Tensor& t) {
  return std::string(static_cast<const char*>(t.data_ptr()), t.nbytes());
}

// Flips one bit in the middle of the only occurrence of `pattern` in `file`.
void flip_bit_in(const std::string& file, const std::string& pattern) {
  std::ifstream in(file, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  const size_t at = bytes.find(pattern);
  ASSERT_NE(at, std::string::npos) << "pattern not found in " << file;
  ASSERT_EQ(bytes.find(pattern, at + 1), std::string::npos) << "pattern found twice";
  bytes[at + pattern.size() / 2] ^= 0x10;
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
}

}  // namespace

TEST_F(H5Test, TensorRoundTripEveryDtype) {
  at::manual_seed(0);
  std::vector<at::Tensor> tensors = {
      at::randn({3, 4}, at::kFloat),
      at::randn({2, 3, 2}, at::kDouble),
      at::randint(-1000000, 1000000, {5}, at::kLong) * 1000003,
      at::randint(-100000, 100000, {2, 2}, at::kInt),
      at::randint(-300, 300, {4}, at::kShort),
      at::randint(0, 256, {7}, at::kByte),
      at::randint(-128, 128, {3, 1}, at::kChar),
      at::randint(0, 2, {6}, at::kLong).to(at::kBool),
      at::randn({3, 5}).to(at::kHalf),
      at::randn({4, 2}).to(at::kBFloat16),
      at::scalar_tensor(3.5, at::kFloat),           // 0-dim
      at::empty({0, 3}, at::kFloat),                // empty
      at::arange(12, at::kFloat).view({3, 4}).t(),  // non-contiguous
  };
  {
    File f = File::create(path("t.h5"));
    for (size_t i = 0; i < tensors.size(); ++i)
      f.write_tensor("/weights/bert.layer." + std::to_string(i) + ".weight", tensors[i]);
  }
  File f = File::open(path("t.h5"));
  for (size_t i = 0; i < tensors.size(); ++i) {
    at::Tensor r = f.read_tensor("/weights/bert.layer." + std::to_string(i) + ".weight");
    SCOPED_TRACE(std::to_string(i));
    EXPECT_EQ(r.scalar_type(), tensors[i].scalar_type());
    EXPECT_EQ(r.sizes(), tensors[i].sizes());
    EXPECT_TRUE(at::equal(r, tensors[i].contiguous()));
  }
  EXPECT_TRUE(f.exists("/weights"));
  EXPECT_TRUE(f.is_group("weights"));
  EXPECT_TRUE(f.exists("weights/bert.layer.0.weight"));
  EXPECT_FALSE(f.exists("/weights/nope"));
  EXPECT_FALSE(f.exists("/no/such/group/x"));
  EXPECT_EQ(f.list("/").size(), 1u);
  EXPECT_EQ(f.list("/weights").size(), tensors.size());
  EXPECT_EQ(f.shape("/weights/bert.layer.1.weight"), (std::vector<int64_t>{2, 3, 2}));
}

TEST_F(H5Test, OverwriteReplacesDataset) {
  File f = File::create(path("o.h5"));
  f.write_tensor("x", at::ones({3}));
  f.write_tensor("x", at::zeros({2, 2}, at::kLong));
  at::Tensor r = f.read_tensor("x");
  EXPECT_EQ(r.scalar_type(), at::kLong);
  EXPECT_EQ(r.sizes(), (at::IntArrayRef{2, 2}));
}

TEST_F(H5Test, StringsAndScalars) {
  {
    File f = File::create(path("s.h5"));
    f.write_string("/meta/name", "héllo, wörld");
    f.write_string("/meta/empty", "");
    f.write_strings("/meta/labels", {"rotten", "fresh", "", "a b,c\nd"});
    f.write_strings("/meta/none", {});
    f.write_int("/state/step", -1234567890123LL);
    f.write_double("/state/lr", 3.25e-5);
    f.set_attr("/", "format", std::string("slimfit-test"));
    f.set_attr("/state/step", "version", int64_t{7});
    f.set_attr("/state/step", "version", int64_t{8});  // replaces
  }
  File f = File::open(path("s.h5"));
  EXPECT_EQ(f.read_string("/meta/name"), "héllo, wörld");
  EXPECT_EQ(f.read_string("meta/empty"), "");
  EXPECT_EQ(f.read_strings("/meta/labels"),
            (std::vector<std::string>{"rotten", "fresh", "", "a b,c\nd"}));
  EXPECT_TRUE(f.read_strings("/meta/none").empty());
  EXPECT_EQ(f.read_int("/state/step"), -1234567890123LL);
  EXPECT_DOUBLE_EQ(f.read_double("/state/lr"), 3.25e-5);
  EXPECT_EQ(f.attr_string("/", "format"), "slimfit-test");
  EXPECT_EQ(f.attr_int("/state/step", "version"), 8);
  EXPECT_TRUE(f.has_attr("/state/step", "version"));
  EXPECT_FALSE(f.has_attr("/state/step", "nope"));
  EXPECT_EQ(f.list("/meta"), (std::vector<std::string>{"empty", "labels", "name", "none"}));
}

TEST_F(H5Test, AppendRowsOverSeveralCalls) {
  {
    File f = File::create(path("m.h5"));
    f.append_rows("/metrics/loss", at::tensor({1.0f, 2.0f}));
    f.append_rows("/metrics/loss", at::tensor({3.0f}));
    f.append_rows("/metrics/mask", at::tensor({1, 0, 1}, at::kByte).view({1, 3}));
    f.append_rows("/metrics/mask", at::tensor({0, 0, 1, 1, 1, 0}, at::kByte).view({2, 3}));
    f.append_rows("/metrics/mask", at::empty({0, 3}, at::kByte));
  }
  {
    // Reopen for writing and keep appending, as a resumed run does.
    File f = File::open(path("m.h5"), /*writable=*/true);
    f.append_rows("/metrics/loss", at::tensor({4.0f, 5.0f}));
    EXPECT_EQ(f.num_rows("/metrics/loss"), 5);
    std::string msg = message_of([&] {
      f.append_rows("/metrics/mask", at::zeros({1, 4}, at::kByte));
    });
    EXPECT_NE(msg.find("/metrics/mask"), std::string::npos) << msg;
    EXPECT_NE(msg.find("(4)"), std::string::npos) << msg;
  }
  File f = File::open(path("m.h5"));
  EXPECT_TRUE(at::equal(f.read_tensor("/metrics/loss"), at::tensor({1.f, 2.f, 3.f, 4.f, 5.f})));
  EXPECT_TRUE(at::equal(f.read_tensor("/metrics/mask"),
                        at::tensor({1, 0, 1, 0, 0, 1, 1, 1, 0}, at::kByte).view({3, 3})));
}

TEST_F(H5Test, ErrorsNameFileAndDataset) {
  std::string missing = path("nope.h5");
  std::string msg = message_of([&] { File::open(missing); });
  EXPECT_NE(msg.find(missing), std::string::npos) << msg;
  EXPECT_NE(msg.find("no such file"), std::string::npos) << msg;

  {
    File f = File::create(path("c.h5"));
    f.write_int("x", 1);
  }
  File f = File::open(path("c.h5"));
  f.set_kind("checkpoint");
  msg = message_of([&] { f.read_tensor("/weights/x"); });
  EXPECT_NE(msg.find("checkpoint " + path("c.h5") + " has no dataset /weights/x"),
            std::string::npos)
      << msg;
  msg = message_of([&] { f.read_string("x"); });
  EXPECT_NE(msg.find("/x"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not a string"), std::string::npos) << msg;
  msg = message_of([&] { f.write_int("y", 2); });
  EXPECT_NE(msg.find("read-only"), std::string::npos) << msg;

  // A file that is not HDF5.
  { std::ofstream(path("junk.h5")) << "not hdf5"; }
  msg = message_of([&] { File::open(path("junk.h5")); });
  EXPECT_NE(msg.find("not an HDF5 file"), std::string::npos) << msg;

  msg = message_of([&] { File::create(path("no_dir/x.h5")); });
  EXPECT_NE(msg.find("no_dir"), std::string::npos) << msg;
}

TEST_F(H5Test, AtomicWriteKeepsLastGoodFile) {
  std::string p = path("ckpt.h5");
  slimfit::h5::write_atomically(p, [](File& f) { f.write_int("/step", 10); });
  EXPECT_EQ(File::open(p).read_int("/step"), 10);
  EXPECT_FALSE(fs::exists(p + ".tmp"));

  EXPECT_THROW(slimfit::h5::write_atomically(p,
                                             [](File& f) {
                                               f.write_int("/step", 20);
                                               throw std::runtime_error("interrupted");
                                             }),
               std::runtime_error);
  EXPECT_FALSE(fs::exists(p + ".tmp"));
  EXPECT_EQ(File::open(p).read_int("/step"), 10);

  slimfit::h5::write_atomically(p, [](File& f) { f.write_int("/step", 30); });
  EXPECT_EQ(File::open(p).read_int("/step"), 30);
  EXPECT_FALSE(fs::exists(p + ".tmp"));
}

// Note [checksums] in ckpt/h5.cpp: a flipped bit in a tensor's data is an error naming the file
// and the dataset; the other tensors still read, bit for bit as written.
TEST_F(H5Test, ChecksumCatchesAFlippedBitInATensor) {
  at::manual_seed(3);
  const at::Tensor a = at::randn({32, 16}), b = at::randn({300000});  // b: several chunks
  {
    File f = File::create(path("ck.h5"));
    f.write_tensor("/weights/a", a);
    f.write_tensor("/weights/b", b);
    f.close();
  }
  {
    File f = File::open(path("ck.h5"));
    EXPECT_EQ(bytes_of(f.read_tensor("/weights/a")), bytes_of(a));
    EXPECT_EQ(bytes_of(f.read_tensor("/weights/b")), bytes_of(b));
  }
  flip_bit_in(path("ck.h5"), bytes_of(a));
  File f = File::open(path("ck.h5"));
  f.set_kind("checkpoint");
  const std::string msg = message_of([&] { f.read_tensor("/weights/a"); });
  EXPECT_NE(msg.find("dataset /weights/a in checkpoint " + path("ck.h5")), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("fails its checksum"), std::string::npos) << msg;
  EXPECT_EQ(bytes_of(f.read_tensor("/weights/b")), bytes_of(b));
  // A flip in one chunk of a larger tensor is caught too.
  f.close();
  flip_bit_in(path("ck.h5"), bytes_of(b.narrow(0, 200000, 1000)));
  File g = File::open(path("ck.h5"));
  EXPECT_NE(message_of([&] { g.read_tensor("/weights/b"); }).find("/weights/b"), std::string::npos);
}

// Scalars are stored compact, in their object header, whose checksum the file format keeps.
TEST_F(H5Test, ChecksumCatchesAFlippedBitInAScalar) {
  const int64_t value = 0x0123456789abcdefLL;
  {
    File f = File::create(path("s.h5"));
    f.write_int("/data/next_step", value);
    f.close();
  }
  EXPECT_EQ(File::open(path("s.h5")).read_int("/data/next_step"), value);
  flip_bit_in(path("s.h5"), std::string(reinterpret_cast<const char*>(&value), sizeof(value)));
  File f = File::open(path("s.h5"));
  const std::string msg = message_of([&] { f.read_int("/data/next_step"); });
  EXPECT_NE(msg.find("/data/next_step"), std::string::npos) << msg;
}

// Files written before the checksums (contiguous datasets, no filter) still read.
TEST_F(H5Test, FilesWithoutChecksumsStillRead) {
  const at::Tensor t = at::arange(12, at::kFloat).reshape({3, 4});
  {
    File f = File::create(path("old.h5"));
    const hsize_t dims[2] = {3, 4};
    const hid_t space = H5Screate_simple(2, dims, nullptr);
    const hid_t d =
        H5Dcreate2(f.id(), "/w", H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ASSERT_GE(d, 0);
    ASSERT_GE(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data_ptr()), 0);
    H5Dclose(d);
    H5Sclose(space);
    f.close();
  }
  EXPECT_TRUE(at::equal(File::open(path("old.h5")).read_tensor("/w"), t));
}
