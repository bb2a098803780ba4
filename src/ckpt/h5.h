// A thin RAII wrapper over the HDF5 C API for checkpoints, prepared datasets and per-step
// metrics. Every failure is a slimfit::Error naming the file and the object, e.g.
// "checkpoint ckpt.h5 has no dataset /weights/x"; HDF5's own error-stack printing is silenced.
//
// Integrity: arrays are written with HDF5's Fletcher-32 checksum (note [checksums] in h5.cpp), so
// reading a damaged tensor is an error naming the dataset and the file.
//
// Names are HDF5 paths ("/weights/bert.embeddings.word_embeddings.weight"); a name without a
// leading '/' is relative to the root. Writers create the intermediate groups and replace an
// existing object of the same name.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace slimfit::h5 {

class File {
 public:
  // Creates (truncates) a file for writing.
  static File create(const std::string& path);
  // Opens an existing file; throws slimfit::Error when it is missing or not HDF5.
  static File open(const std::string& path, bool writable = false);

  File(File&& other) noexcept;
  File& operator=(File&& other) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File();  // closes quietly; call close() to see errors

  const std::string& path() const { return path_; }
  bool is_open() const { return id_ >= 0; }
  bool writable() const { return writable_; }
  // What the file is, for error messages: "checkpoint" gives "checkpoint ckpt.h5 has no
  // dataset /x". Default "HDF5 file".
  void set_kind(const std::string& kind) { kind_ = kind; }

  void flush();
  void close();

  // Whether a dataset or group of this name exists (false also when a parent is missing).
  bool exists(const std::string& name) const;
  bool is_group(const std::string& name) const;
  // Names (not full paths) of the members of a group, sorted.
  std::vector<std::string> list(const std::string& group = "/") const;
  // Deletes the link `name`; no-op when absent.
  void remove(const std::string& name);
  // Dimensions of a dataset (empty for a scalar).
  std::vector<int64_t> shape(const std::string& name) const;

  // Tensors: float32, float64, int64, int32, int16, int8, uint8, bool (stored as uint8),
  // float16 / bfloat16 (stored as raw uint16). The dtype is recorded in the attribute
  // "slimfit_dtype" so read_tensor restores it. Tensors are made contiguous on the CPU. Arrays
  // are stored chunked with a Fletcher-32 checksum, scalars compact (note [checksums]).
  void write_tensor(const std::string& name, const at::Tensor& tensor);
  // Reads a whole dataset, bit for bit as written. Unsigned 16/32-bit data written by other tools
  // become int32/int64. A checksum failure is an error naming the dataset and the file.
  at::Tensor read_tensor(const std::string& name) const;

  void write_string(const std::string& name, const std::string& value);
  std::string read_string(const std::string& name) const;
  void write_strings(const std::string& name, const std::vector<std::string>& values);
  std::vector<std::string> read_strings(const std::string& name) const;
  void write_int(const std::string& name, int64_t value);
  int64_t read_int(const std::string& name) const;
  void write_double(const std::string& name, double value);
  double read_double(const std::string& name) const;

  // Attributes on a dataset or group ("/" is the root group); set_* replaces.
  bool has_attr(const std::string& object, const std::string& attr) const;
  void set_attr(const std::string& object, const std::string& attr, const std::string& value);
  void set_attr(const std::string& object, const std::string& attr, int64_t value);
  std::string attr_string(const std::string& object, const std::string& attr) const;
  int64_t attr_int(const std::string& object, const std::string& attr) const;

  // Appends rows (first dimension) to an extendable dataset, created chunked with an unlimited
  // first dimension on first use (row shape = rows.shape[1:]). Later calls must have the same
  // row shape and a dtype of the same kind (integer / float).
  void append_rows(const std::string& name, const at::Tensor& rows);
  // The first dimension of a dataset (0 for a scalar).
  int64_t num_rows(const std::string& name) const;

  // The raw HDF5 file id, for code that needs the C API directly.
  int64_t id() const { return id_; }

 private:
  File(int64_t id, std::string path, bool writable);
  // "<kind> <path>" for error messages.
  std::string where() const;
  void require_writable(const char* op) const;
  void prepare_replace(const std::string& name);

  int64_t id_ = -1;  // hid_t
  std::string path_;
  std::string kind_ = "HDF5 file";
  bool writable_ = false;
};

// Writes `path` atomically: fill() writes into `path + ".tmp"`, which is flushed, fsync'ed and
// renamed onto `path`, so an interrupted write never destroys the last good file. When fill()
// (or the write) throws, the tmp file is removed and the exception rethrown.
void write_atomically(const std::string& path, const std::function<void(File&)>& fill);

// The innermost message of HDF5's current error stack (cleared afterwards), or "" when empty.
std::string last_hdf5_error();

}  // namespace slimfit::h5
