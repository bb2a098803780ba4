// safetensors reader/writer: exact round trips for every dtype, files written by Python's
// safetensors, and a slimfit::Error naming the file (and tensor) for each kind of corruption.
#include <gtest/gtest.h>
#include <unistd.h>

#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/error.h"
#include "models/safetensors.h"

namespace fs = std::filesystem;
using slimfit::models::read_safetensors;
using slimfit::models::read_safetensors_file;
using slimfit::models::write_safetensors;

namespace {

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("slimfit_safetensors_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // Writes a file from a raw JSON header and data bytes.
  std::string write_raw(const std::string& name, const std::string& header, const std::string& data,
                        int64_t declared_len = -1) {
    const std::string p = path(name);
    std::ofstream out(p, std::ios::binary);
    uint64_t n = declared_len >= 0 ? uint64_t(declared_len) : header.size();
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
    out << header << data;
    return p;
  }

  // Expects read_safetensors(p) to throw a slimfit::Error whose message holds every needle.
  void expect_error(const std::string& p, std::initializer_list<std::string> needles) {
    try {
      read_safetensors(p);
      ADD_FAILURE() << "no error reading " << p;
    } catch (const slimfit::Error& e) {
      const std::string what = e.what();
      for (const auto& n : needles) EXPECT_NE(what.find(n), std::string::npos) << what;
    }
  }

  fs::path dir_;
};

TEST_F(SafetensorsTest, RoundTripEveryDtypeExactly) {
  std::map<std::string, at::Tensor> tensors;
  at::Tensor base = at::arange(-12, 12, at::kDouble).reshape({2, 3, 4}) * 0.37;
  for (auto type : {at::kDouble, at::kFloat, at::kHalf, at::kBFloat16}) {
    tensors[std::string("f.") + c10::toString(type)] = base.to(type);
  }
  tensors["i64"] = at::tensor({-(int64_t(1) << 40), int64_t(7), int64_t(-3)}, at::kLong);
  tensors["i32"] = at::tensor({-2147483647, 0, 5}, at::kInt);
  tensors["i16"] = at::tensor({-32768, 12, 32767}, at::kShort);
  tensors["i8"] = at::tensor({-128, 0, 127}, at::kChar);
  tensors["u8"] = at::arange(0, 256, at::kLong).to(at::kByte).reshape({16, 16});
  tensors["bool"] = at::tensor({1, 0, 1, 1}).to(at::kBool);
  tensors["scalar"] = at::scalar_tensor(3.25, at::kFloat);              // shape []
  tensors["empty"] = at::empty({0, 5}, at::kFloat);                     // zero bytes
  tensors["strided"] = at::arange(20, at::kFloat).reshape({4, 5}).t();  // non-contiguous
  const std::string p = path("all.safetensors");
  write_safetensors(p, tensors, {{"format", "pt"}, {"note", "round trip"}});

  // The header is padded so the data starts 8-byte aligned.
  std::ifstream in(p, std::ios::binary);
  unsigned char len[8];
  in.read(reinterpret_cast<char*>(len), 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len[i];
  EXPECT_EQ(n % 8, 0u);

  auto file = read_safetensors_file(p);
  ASSERT_EQ(file.tensors.size(), tensors.size());
  EXPECT_EQ(file.metadata.at("format"), "pt");
  EXPECT_EQ(file.metadata.at("note"), "round trip");
  for (const auto& [name, want] : tensors) {
    const at::Tensor& got = file.tensors.at(name);
    EXPECT_EQ(got.scalar_type(), want.scalar_type()) << name;
    EXPECT_EQ(got.sizes(), want.sizes()) << name;
    EXPECT_TRUE(at::equal(got, want)) << name;  // bit-exact
  }
}

TEST_F(SafetensorsTest, ReadsFileWrittenByPythonSafetensors) {
  auto file = read_safetensors_file(SLIMFIT_FIXTURE_DIR "/bert_small/model.safetensors");
  EXPECT_EQ(file.tensors.size(), 41u);
  EXPECT_EQ(file.metadata.at("format"), "pt");
  const at::Tensor& w = file.tensors.at("bert.embeddings.word_embeddings.weight");
  EXPECT_EQ(w.scalar_type(), at::kFloat);
  EXPECT_EQ(w.sizes(), (at::IntArrayRef{256, 64}));
  EXPECT_EQ(at::count_nonzero(w[0]).item<int64_t>(), 0);  // HF zeroes the padding row
  // Written back by us and read again: the same tensors.
  write_safetensors(path("again.safetensors"), file.tensors, file.metadata);
  auto again = read_safetensors(path("again.safetensors"));
  for (const auto& [name, t] : file.tensors) EXPECT_TRUE(at::equal(again.at(name), t)) << name;
}

TEST_F(SafetensorsTest, MissingFile) {
  expect_error(path("nope.safetensors"), {path("nope.safetensors"), "cannot open"});
}

TEST_F(SafetensorsTest, ShorterThanLengthField) {
  const std::string p = path("short.safetensors");
  std::ofstream(p, std::ios::binary) << "abc";
  expect_error(p, {p, "3 bytes", "truncated"});
}

TEST_F(SafetensorsTest, HeaderLongerThanFile) {
  const std::string p = write_raw("long.safetensors", "{}", "", 4096);
  expect_error(p, {p, "4096-byte header", "truncated"});
}

TEST_F(SafetensorsTest, HeaderNotJson) {
  const std::string p = write_raw("bad.safetensors", "{\"x\": [1, 2", "");
  expect_error(p, {p, "not valid JSON"});
}

TEST_F(SafetensorsTest, TruncatedData) {
  const std::string p = path("cut.safetensors");
  write_safetensors(p, {{"big", at::ones({100}, at::kFloat)}});
  fs::resize_file(p, fs::file_size(p) - 10);
  expect_error(p, {p, "'big'", "data_offsets [0, 400)", "out of range", "390-byte"});
}

TEST_F(SafetensorsTest, OffsetsOutOfRange) {
  const std::string p = write_raw(
      "range.safetensors", R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})",
      std::string(8, '\0'));
  expect_error(p, {p, "'w'", "out of range"});
}

TEST_F(SafetensorsTest, OffsetsDisagreeWithShape) {
  const std::string p = write_raw(
      "size.safetensors", R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})",
      std::string(8, '\0'));
  expect_error(p, {p, "'w'", "hold 8 bytes", "need 12"});
}

TEST_F(SafetensorsTest, UnknownDtype) {
  const std::string p = write_raw("dtype.safetensors",
                                  R"({"w": {"dtype": "Q4", "shape": [2], "data_offsets": [0, 1]}})",
                                  std::string(8, '\0'));
  expect_error(p, {p, "'w'", "unknown dtype 'Q4'", "BF16"});
}

TEST_F(SafetensorsTest, EntryMissingFields) {
  const std::string p =
      write_raw("fields.safetensors", R"({"w": {"dtype": "F32", "shape": [2]}})", "");
  expect_error(p, {p, "'w'", "data_offsets"});
}

TEST_F(SafetensorsTest, WriteRejectsUnsupportedDtypeAndBadPath) {
  try {
    write_safetensors(path("c.safetensors"), {{"z", at::ones({2}, at::kComplexFloat)}});
    ADD_FAILURE() << "no error";
  } catch (const slimfit::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'z'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(write_safetensors(path("no/such/dir/x.safetensors"), {{"a", at::ones({1})}}),
               slimfit::Error);
}

}  // namespace
