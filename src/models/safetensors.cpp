#include "models/safetensors.h"

#include <ATen/ATen.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "common/error.h"

namespace slimfit::models {
namespace {

using nlohmann::json;

// Largest header we accept; the reference implementation caps it at 100 MB as well.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

struct DtypeName {
  const char* name;
  at::ScalarType type;
};
constexpr DtypeName kDtypes[] = {
    {"F64", at::kDouble}, {"F32", at::kFloat}, {"F16", at::kHalf},  {"BF16", at::kBFloat16},
    {"I64", at::kLong},   {"I32", at::kInt},   {"I16", at::kShort}, {"I8", at::kChar},
    {"U8", at::kByte},    {"BOOL", at::kBool},
};

std::string supported_dtypes() {
  std::string s;
  for (const auto& d : kDtypes) s += std::string(s.empty() ? "" : " ") + d.name;
  return s;
}

bool little_endian_host() {
  const uint16_t one = 1;
  unsigned char first = 0;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

uint64_t read_u64_le(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

SafetensorsFile read_safetensors_file(const std::string& path) {
  SLIMFIT_CHECK(little_endian_host(), "safetensors: big-endian hosts are not supported");
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  SLIMFIT_CHECK(in.good(), "safetensors: cannot open '", path,
                "': no such file or not readable (check the path; HF checkpoints name it "
                "model.safetensors)");
  const uint64_t file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  SLIMFIT_CHECK(file_size >= 8, "safetensors: '", path, "' is ", file_size,
                " bytes, shorter than the 8-byte header length (truncated or not safetensors)");
  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  const uint64_t header_len = read_u64_le(len_bytes);
  SLIMFIT_CHECK(header_len <= kMaxHeaderBytes && header_len <= file_size - 8, "safetensors: '",
                path, "' declares a ", header_len, "-byte header but the file has ", file_size - 8,
                " bytes after the length field (truncated or not safetensors)");
  std::string header_text(header_len, '\0');
  in.read(header_text.data(), static_cast<std::streamsize>(header_len));
  SLIMFIT_CHECK(in.good(), "safetensors: reading the header of '", path, "' failed");
  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = file_size - data_start;

  json header;
  try {
    header = json::parse(header_text);
  } catch (const json::exception& e) {
    throw Error(str_cat("safetensors: '", path, "' has a header that is not valid JSON (", e.what(),
                        "); the file is corrupt or not safetensors"));
  }
  SLIMFIT_CHECK(header.is_object(), "safetensors: '", path,
                "' has a JSON header that is not an object");

  SafetensorsFile out;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      SLIMFIT_CHECK(entry.is_object(), "safetensors: '", path,
                    "': __metadata__ must be an object of strings");
      for (const auto& [k, v] : entry.items()) {
        SLIMFIT_CHECK(v.is_string(), "safetensors: '", path, "': __metadata__['", k,
                      "'] is not a string");
        out.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string where = str_cat("safetensors: '", path, "', tensor '", name, "'");
    SLIMFIT_CHECK(entry.is_object() && entry.contains("dtype") && entry.contains("shape") &&
                      entry.contains("data_offsets"),
                  where, ": header entry needs dtype, shape and data_offsets, got ", entry.dump());
    const auto& dt = entry["dtype"];
    SLIMFIT_CHECK(dt.is_string(), where, ": dtype is not a string");
    const std::string dtype = dt.get<std::string>();
    const DtypeName* found = nullptr;
    for (const auto& d : kDtypes)
      if (dtype == d.name) found = &d;
    SLIMFIT_CHECK(found != nullptr, where, ": unknown dtype '", dtype,
                  "' (supported: ", supported_dtypes(), ")");

    const auto& shape_json = entry["shape"];
    SLIMFIT_CHECK(shape_json.is_array(), where, ": shape is not an array");
    std::vector<int64_t> shape;
    uint64_t numel = 1;
    for (const auto& s : shape_json) {
      SLIMFIT_CHECK(s.is_number_unsigned() || (s.is_number_integer() && s.get<int64_t>() >= 0),
                    where, ": shape ", shape_json.dump(), " has a non-integer or negative entry");
      const uint64_t d = s.get<uint64_t>();
      SLIMFIT_CHECK(d == 0 || numel <= (uint64_t(1) << 62) / d, where, ": shape ",
                    shape_json.dump(), " overflows");
      numel *= d;
      shape.push_back(static_cast<int64_t>(d));
    }

    const auto& offs = entry["data_offsets"];
    SLIMFIT_CHECK(offs.is_array() && offs.size() == 2 && offs[0].is_number_unsigned() &&
                      offs[1].is_number_unsigned(),
                  where, ": data_offsets must be two non-negative integers, got ", offs.dump());
    const uint64_t begin = offs[0].get<uint64_t>();
    const uint64_t end = offs[1].get<uint64_t>();
    const uint64_t nbytes = numel * at::elementSize(found->type);
    SLIMFIT_CHECK(begin <= end && end <= data_size, where, ": data_offsets [", begin, ", ", end,
                  ") out of range of the ", data_size,
                  "-byte data buffer (file truncated or header corrupt)");
    SLIMFIT_CHECK(end - begin == nbytes, where, ": data_offsets [", begin, ", ", end, ") hold ",
                  end - begin, " bytes but dtype ", dtype, " and shape ", shape_json.dump(),
                  " need ", nbytes);

    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(found->type));
    if (nbytes > 0) {
      in.seekg(static_cast<std::streamoff>(data_start + begin));
      in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(nbytes));
      SLIMFIT_CHECK(in.good(), where, ": reading ", nbytes, " bytes at offset ", data_start + begin,
                    " failed");
    }
    out.tensors.emplace(name, std::move(t));
  }
  return out;
}

std::map<std::string, at::Tensor> read_safetensors(const std::string& path) {
  return read_safetensors_file(path).tensors;
}

void write_safetensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  SLIMFIT_CHECK(little_endian_host(), "safetensors: big-endian hosts are not supported");
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<at::Tensor> data;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    SLIMFIT_CHECK(name != "__metadata__", "safetensors: '", path,
                  "': a tensor may not be named __metadata__");
    SLIMFIT_CHECK(tensor.defined(), "safetensors: '", path, "', tensor '", name, "' is undefined");
    const DtypeName* found = nullptr;
    for (const auto& d : kDtypes)
      if (tensor.scalar_type() == d.type) found = &d;
    SLIMFIT_CHECK(found != nullptr, "safetensors: '", path, "', tensor '", name, "' has dtype ",
                  tensor.scalar_type(),
                  " which safetensors cannot store (supported: ", supported_dtypes(), ")");
    at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
    const uint64_t nbytes = t.numel() * t.element_size();
    header[name] = {{"dtype", found->name},
                    {"shape", t.sizes().vec()},
                    {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    data.push_back(std::move(t));
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-byte aligned

  // Atomic, as every slimfit output (common/files.h): a temporary file next to `path`, each
  // write checked, flushed to disk, then renamed over `path`.
  const std::string tmp = path + ".tmp";
  std::FILE* out = std::fopen(tmp.c_str(), "wb");
  SLIMFIT_CHECK(out, "safetensors: cannot create '", tmp, "' to write '", path,
                "': ", std::strerror(errno), " (does the directory exist and is it writable?)");
  auto put = [&](const void* p, size_t n) { return std::fwrite(p, 1, n, out) == n; };
  unsigned char len_bytes[8];
  const uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>((n >> (8 * i)) & 0xff);
  bool written = put(len_bytes, 8) && put(text.data(), text.size());
  for (const auto& t : data) written = written && put(t.data_ptr(), t.numel() * t.element_size());
  written = written && std::fflush(out) == 0 && ::fsync(::fileno(out)) == 0;
  const int write_errno = errno;
  const bool closed = std::fclose(out) == 0;
  if (!written || !closed) {
    std::remove(tmp.c_str());
    throw Error(str_cat("safetensors: writing '", path,
                        "' failed: ", std::strerror(written ? errno : write_errno),
                        " (disk full?); the previous file, if any, is unchanged"));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int rename_errno = errno;
    std::remove(tmp.c_str());
    throw Error(str_cat("safetensors: cannot rename '", tmp, "' to '", path,
                        "': ", std::strerror(rename_errno)));
  }
}

}  // namespace slimfit::models
