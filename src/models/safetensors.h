// safetensors I/O: the format Hugging Face checkpoints ship in, read and written without Python.
//
// Layout (https://github.com/huggingface/safetensors): an 8-byte little-endian header length N,
// N bytes of JSON {name: {"dtype", "shape", "data_offsets": [begin, end)}, "__metadata__":
// {str: str}}, then the data buffer; offsets are relative to the buffer start, and each
// tensor's bytes are little-endian and row-major. Every check failure is a slimfit::Error that
// names the file (and the tensor, where there is one).
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>

namespace slimfit::models {

struct SafetensorsFile {
  std::map<std::string, at::Tensor> tensors;  // CPU tensors owning their memory
  std::map<std::string, std::string> metadata;
};

// Supported dtypes: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL.
SafetensorsFile read_safetensors_file(const std::string& path);
// The tensors only.
std::map<std::string, at::Tensor> read_safetensors(const std::string& path);

// Writes the tensors (any device/layout; copied to contiguous CPU) sorted by name, with the
// header padded to 8 bytes as the reference writer does. Atomic: written to path + ".tmp",
// every write checked and flushed to disk, then renamed over `path`; a failure (an unsupported
// dtype, an unwritable directory, a full disk) throws and leaves a previous file as it was.
// transformers (4.30) refuses a file whose metadata lacks "format": "pt"; pass it for exports.
void write_safetensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace slimfit::models
