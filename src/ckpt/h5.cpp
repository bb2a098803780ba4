#include "ckpt/h5.h"

#include <fcntl.h>
#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <type_traits>

#include "common/error.h"

static_assert(std::is_same<hid_t, int64_t>::value || sizeof(hid_t) <= sizeof(int64_t),
              "hid_t must fit in int64_t");

namespace slimfit::h5 {
namespace {

constexpr const char* kDtypeAttr = "slimfit_dtype";

// HDF5 prints its error stack to stderr by default; we turn that off once and build our own
// messages from the stack instead.
void silence_hdf5() {
  static const bool done = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

// Owns one HDF5 identifier and closes it with the matching H5?close.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  Handle(Handle&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = -1; }
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = o.id_;
      closer_ = o.closer_;
      o.id_ = -1;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }
  void reset() {
    if (id_ >= 0 && closer_) closer_(id_);
    id_ = -1;
  }
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_ = -1;
  Closer closer_ = nullptr;
};

herr_t walk_cb(unsigned n, const H5E_error2_t* err, void* data) {
  auto* out = static_cast<std::string*>(data);
  // Walking downward, the last entry is the innermost (most specific) error.
  if (err && err->desc && *err->desc) {
    *out = err->desc;
    if (err->func_name) *out = std::string(err->func_name) + ": " + err->desc;
  }
  (void)n;
  return 0;
}

std::string err_suffix() {
  std::string e = last_hdf5_error();
  return e.empty() ? std::string() : ": " + e;
}

// "/a/b" -> "/a/b"; "a/b" -> "/a/b"; trailing slashes removed (except the root).
std::string normalize(const std::string& name) {
  std::string n = name.empty() || name[0] != '/' ? "/" + name : name;
  while (n.size() > 1 && n.back() == '/') n.pop_back();
  return n;
}

struct TypeMap {
  hid_t mem;         // native memory type
  hid_t file;        // standard little-endian file type
  const char* mark;  // value of the slimfit_dtype attribute
};

TypeMap type_for(at::ScalarType st) {
  switch (st) {
    case at::kFloat:
      return {H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, "float32"};
    case at::kDouble:
      return {H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, "float64"};
    case at::kLong:
      return {H5T_NATIVE_INT64, H5T_STD_I64LE, "int64"};
    case at::kInt:
      return {H5T_NATIVE_INT32, H5T_STD_I32LE, "int32"};
    case at::kShort:
      return {H5T_NATIVE_INT16, H5T_STD_I16LE, "int16"};
    case at::kChar:
      return {H5T_NATIVE_INT8, H5T_STD_I8LE, "int8"};
    case at::kByte:
      return {H5T_NATIVE_UINT8, H5T_STD_U8LE, "uint8"};
    case at::kBool:
      return {H5T_NATIVE_UINT8, H5T_STD_U8LE, "bool"};
    case at::kHalf:
      return {H5T_NATIVE_UINT16, H5T_STD_U16LE, "float16"};
    case at::kBFloat16:
      return {H5T_NATIVE_UINT16, H5T_STD_U16LE, "bfloat16"};
    default:
      break;
  }
  throw Error(str_cat("HDF5: unsupported tensor dtype ", c10::toString(st),
                      " (supported: float32, float64, int64, int32, int16, int8, uint8, bool, "
                      "float16, bfloat16)"));
}

std::vector<hsize_t> to_hsize(at::IntArrayRef sizes) {
  return std::vector<hsize_t>(sizes.begin(), sizes.end());
}

Handle make_space(const std::vector<hsize_t>& dims, const std::vector<hsize_t>* maxdims = nullptr) {
  if (dims.empty()) return Handle(H5Screate(H5S_SCALAR), H5Sclose);
  return Handle(H5Screate_simple(static_cast<int>(dims.size()), dims.data(),
                                 maxdims ? maxdims->data() : nullptr),
                H5Sclose);
}

Handle lcpl_intermediate() {
  Handle p(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(p.get(), 1);
  return p;
}

std::vector<hsize_t> space_dims(hid_t space) {
  int nd = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(nd > 0 ? nd : 0);
  if (nd > 0) H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  return dims;
}

Handle string_type() {
  Handle t(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(t.get(), H5T_VARIABLE);
  H5Tset_cset(t.get(), H5T_CSET_UTF8);
  return t;
}

void reclaim(hid_t type, hid_t space, void* buf) {
#if H5_VERSION_GE(1, 12, 0)
  H5Treclaim(type, space, H5P_DEFAULT, buf);
#else
  H5Dvlen_reclaim(type, space, H5P_DEFAULT, buf);
#endif
}

// Note [checksums]: every non-empty array slimfit writes is stored in chunks with HDF5's
// Fletcher-32 filter, so a flipped bit in a tensor's bytes is a read error naming the dataset,
// not a silently wrong weight (or a "non-finite loss" many steps later). A chunk holds whole
// rows, about kChunkBytes of them. Scalars cannot be chunked: they are stored compact, inside
// their object header, which the file format (V18 and later, see create) checksums itself.
// Files written before this, without the filter, read as before.
constexpr hsize_t kChunkBytes = hsize_t(1) << 20;

// Chunk dimensions of about kChunkBytes of whole rows, or {} when the array cannot be chunked
// (empty, or a single row beyond HDF5's 4 GiB chunk limit).
std::vector<hsize_t> chunk_dims(const std::vector<hsize_t>& dims, hsize_t element_bytes) {
  hsize_t row_bytes = element_bytes;
  for (size_t i = 1; i < dims.size(); ++i) row_bytes *= dims[i];
  if (dims.empty() || row_bytes == 0 || row_bytes >= (hsize_t(1) << 32)) return {};
  std::vector<hsize_t> chunk = dims;
  if (dims[0] > 0) chunk[0] = std::min(dims[0], std::max<hsize_t>(1, kChunkBytes / row_bytes));
  for (hsize_t& c : chunk) c = std::max<hsize_t>(c, 1);
  return chunk;
}

// Dataset creation properties under note [checksums].
Handle checksummed_dcpl(const std::vector<hsize_t>& dims, hsize_t element_bytes) {
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  const std::vector<hsize_t> chunk = chunk_dims(dims, element_bytes);
  if (dims.empty()) {
    H5Pset_layout(dcpl.get(), H5D_COMPACT);
  } else if (!chunk.empty() && dims[0] > 0) {
    H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data());
    H5Pset_fletcher32(dcpl.get());
  }
  return dcpl;
}

// Whether a dataset carries the Fletcher-32 filter.
bool has_checksum(hid_t dataset) {
  Handle dcpl(H5Dget_create_plist(dataset), H5Pclose);
  unsigned flags = 0;
  size_t n = 0;
  unsigned config = 0;
  const bool found = H5Pget_filter_by_id2(dcpl.get(), H5Z_FILTER_FLETCHER32, &flags, &n, nullptr, 0,
                                          nullptr, &config) >= 0;
  H5Eclear2(H5E_DEFAULT);
  return found;
}

}  // namespace

std::string last_hdf5_error() {
  std::string out;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_cb, &out);
  H5Eclear2(H5E_DEFAULT);
  return out;
}

// ---------------------------------------------------------------------------------------------
File::File(int64_t id, std::string path, bool writable)
    : id_(id), path_(std::move(path)), writable_(writable) {}

File::File(File&& o) noexcept
    : id_(o.id_), path_(std::move(o.path_)), kind_(std::move(o.kind_)), writable_(o.writable_) {
  o.id_ = -1;
}

File& File::operator=(File&& o) noexcept {
  if (this != &o) {
    if (id_ >= 0) H5Fclose(id_);
    id_ = o.id_;
    path_ = std::move(o.path_);
    kind_ = std::move(o.kind_);
    writable_ = o.writable_;
    o.id_ = -1;
  }
  return *this;
}

File::~File() {
  if (id_ >= 0) {
    H5Fclose(id_);
    H5Eclear2(H5E_DEFAULT);
  }
}

namespace {
Handle strong_close_fapl() {
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  // Closing the file closes every object still open in it, so the file is really closed (and
  // can be renamed) when close() returns.
  H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG);
  return fapl;
}
}  // namespace

File File::create(const std::string& path) {
  silence_hdf5();
  Handle fapl = strong_close_fapl();
  // Version-2 object headers and B-trees carry checksums (note [checksums]); HDF5 1.8 and later
  // read them.
#if H5_VERSION_GE(1, 10, 2)
  H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V18, H5F_LIBVER_LATEST);
#else
  H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
#endif
  hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get());
  if (id < 0) {
    std::string detail = err_suffix();
    std::filesystem::path parent = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!parent.empty() && !std::filesystem::is_directory(parent, ec))
      detail = ": directory " + parent.string() + " does not exist";
    throw Error(str_cat("cannot create HDF5 file ", path, detail));
  }
  return File(id, path, true);
}

File File::open(const std::string& path, bool writable) {
  silence_hdf5();
  std::error_code ec;
  SLIMFIT_CHECK(std::filesystem::exists(path, ec), "cannot open HDF5 file ", path,
                ": no such file");
  SLIMFIT_CHECK(!std::filesystem::is_directory(path, ec), "cannot open HDF5 file ", path,
                ": it is a directory");
  htri_t is_h5 = H5Fis_hdf5(path.c_str());
  H5Eclear2(H5E_DEFAULT);
  SLIMFIT_CHECK(is_h5 > 0, "cannot open ", path, ": not an HDF5 file");
  Handle fapl = strong_close_fapl();
  hid_t id = H5Fopen(path.c_str(), writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl.get());
  SLIMFIT_CHECK(id >= 0, "cannot open HDF5 file ", path, writable ? " for writing" : "",
                err_suffix());
  return File(id, path, writable);
}

std::string File::where() const { return kind_ + " " + path_; }

void File::require_writable(const char* op) const {
  SLIMFIT_CHECK(id_ >= 0, where(), " is closed (", op, ")");
  SLIMFIT_CHECK(writable_, where(), " is open read-only (", op, ")");
}

void File::flush() {
  SLIMFIT_CHECK(id_ >= 0, where(), " is closed (flush)");
  SLIMFIT_CHECK(H5Fflush(id_, H5F_SCOPE_GLOBAL) >= 0, "cannot flush ", where(), err_suffix());
}

void File::close() {
  if (id_ < 0) return;
  hid_t id = id_;
  id_ = -1;
  SLIMFIT_CHECK(H5Fclose(id) >= 0, "cannot close ", where(), err_suffix());
}

bool File::exists(const std::string& name) const {
  SLIMFIT_CHECK(id_ >= 0, where(), " is closed");
  std::string n = normalize(name);
  if (n == "/") return true;
  // H5Lexists fails (rather than returning false) when a parent is missing: walk the path.
  size_t pos = 0;
  while (true) {
    pos = n.find('/', pos + 1);
    std::string prefix = n.substr(0, pos);
    htri_t r = H5Lexists(id_, prefix.c_str(), H5P_DEFAULT);
    if (r <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return false;
    }
    if (pos == std::string::npos) break;
  }
  htri_t ok = H5Oexists_by_name(id_, n.c_str(), H5P_DEFAULT);  // dangling links are absent
  H5Eclear2(H5E_DEFAULT);
  return ok > 0;
}

bool File::is_group(const std::string& name) const {
  if (!exists(name)) return false;
  H5O_info_t info;
#if H5_VERSION_GE(1, 12, 0)
  herr_t r = H5Oget_info_by_name(id_, normalize(name).c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT);
#else
  herr_t r = H5Oget_info_by_name(id_, normalize(name).c_str(), &info, H5P_DEFAULT);
#endif
  H5Eclear2(H5E_DEFAULT);
  return r >= 0 && info.type == H5O_TYPE_GROUP;
}

std::vector<std::string> File::list(const std::string& group) const {
  std::string g = normalize(group);
  SLIMFIT_CHECK(is_group(g), where(), " has no group ", g);
  Handle gid(H5Gopen2(id_, g.c_str(), H5P_DEFAULT), H5Gclose);
  SLIMFIT_CHECK(gid.valid(), "cannot open group ", g, " in ", where(), err_suffix());
  H5G_info_t info;
  SLIMFIT_CHECK(H5Gget_info(gid.get(), &info) >= 0, "cannot list group ", g, " in ", where(),
                err_suffix());
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    ssize_t len =
        H5Lget_name_by_idx(gid.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    SLIMFIT_CHECK(len >= 0, "cannot list group ", g, " in ", where(), err_suffix());
    std::string s(static_cast<size_t>(len) + 1, '\0');
    H5Lget_name_by_idx(gid.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, s.data(), s.size(),
                       H5P_DEFAULT);
    s.resize(static_cast<size_t>(len));
    names.push_back(std::move(s));
  }
  std::sort(names.begin(), names.end());
  return names;
}

void File::remove(const std::string& name) {
  require_writable("remove");
  std::string n = normalize(name);
  SLIMFIT_CHECK(n != "/", "cannot remove the root group of ", where());
  if (!exists(n)) return;
  SLIMFIT_CHECK(H5Ldelete(id_, n.c_str(), H5P_DEFAULT) >= 0, "cannot remove ", n, " from ", where(),
                err_suffix());
}

void File::prepare_replace(const std::string& name) {
  require_writable("write");
  std::string n = normalize(name);
  SLIMFIT_CHECK(n != "/", "cannot write a dataset named / in ", where());
  if (exists(n)) remove(n);
}

namespace {
// Opens a dataset or throws "<where> has no dataset <name>".
Handle open_dataset(hid_t file, const std::string& where, const std::string& n, bool exists) {
  SLIMFIT_CHECK(exists, where, " has no dataset ", n);
  Handle d(H5Dopen2(file, n.c_str(), H5P_DEFAULT), H5Dclose);
  SLIMFIT_CHECK(d.valid(), "cannot open dataset ", n, " in ", where, err_suffix());
  return d;
}
}  // namespace

std::vector<int64_t> File::shape(const std::string& name) const {
  std::string n = normalize(name);
  Handle d = open_dataset(id_, where(), n, exists(n));
  Handle space(H5Dget_space(d.get()), H5Sclose);
  std::vector<hsize_t> dims = space_dims(space.get());
  return std::vector<int64_t>(dims.begin(), dims.end());
}

int64_t File::num_rows(const std::string& name) const {
  std::vector<int64_t> s = shape(name);
  return s.empty() ? 0 : s[0];
}

// ---------------------------------------------------------------------------------------------
void File::write_tensor(const std::string& name, const at::Tensor& tensor) {
  std::string n = normalize(name);
  SLIMFIT_CHECK(tensor.defined(), "cannot write an undefined tensor as ", n, " in ", where());
  TypeMap tm = type_for(tensor.scalar_type());
  prepare_replace(n);
  at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
  const std::vector<hsize_t> dims = to_hsize(t.sizes());
  Handle space = make_space(dims);
  Handle lcpl = lcpl_intermediate();
  Handle dcpl = checksummed_dcpl(dims, static_cast<hsize_t>(t.element_size()));
  Handle d(H5Dcreate2(id_, n.c_str(), tm.file, space.get(), lcpl.get(), dcpl.get(), H5P_DEFAULT),
           H5Dclose);
  SLIMFIT_CHECK(d.valid(), "cannot create dataset ", n, " in ", where(), err_suffix());
  if (t.numel() > 0) {
    SLIMFIT_CHECK(H5Dwrite(d.get(), tm.mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data_ptr()) >= 0,
                  "cannot write dataset ", n, " in ", where(), err_suffix());
  }
  d.reset();
  set_attr(n, kDtypeAttr, std::string(tm.mark));
}

at::Tensor File::read_tensor(const std::string& name) const {
  std::string n = normalize(name);
  Handle d = open_dataset(id_, where(), n, exists(n));
  Handle ftype(H5Dget_type(d.get()), H5Tclose);
  Handle space(H5Dget_space(d.get()), H5Sclose);
  std::vector<hsize_t> dims = space_dims(space.get());
  std::vector<int64_t> sizes(dims.begin(), dims.end());

  std::string mark = has_attr(n, kDtypeAttr) ? attr_string(n, kDtypeAttr) : "";
  H5T_class_t cls = H5Tget_class(ftype.get());
  size_t bytes = H5Tget_size(ftype.get());
  H5T_sign_t sign = cls == H5T_INTEGER ? H5Tget_sign(ftype.get()) : H5T_SGN_NONE;

  at::ScalarType st;
  at::ScalarType final_st;
  hid_t mem;
  if (cls == H5T_FLOAT) {
    SLIMFIT_CHECK(bytes == 4 || bytes == 8, "dataset ", n, " in ", where(), " has ", bytes * 8,
                  "-bit floats; only 32 and 64-bit are supported");
    st = bytes == 4 ? at::kFloat : at::kDouble;
    mem = bytes == 4 ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE;
  } else if (cls == H5T_INTEGER) {
    bool is_signed = sign != H5T_SGN_NONE;
    if (bytes == 1) {
      st = is_signed ? at::kChar : at::kByte;
      mem = is_signed ? H5T_NATIVE_INT8 : H5T_NATIVE_UINT8;
    } else if (bytes == 2) {
      st = is_signed ? at::kShort : at::kInt;  // no uint16 tensors in libtorch 1.13
      mem = is_signed ? H5T_NATIVE_INT16 : H5T_NATIVE_INT32;
    } else if (bytes == 4) {
      st = is_signed ? at::kInt : at::kLong;
      mem = is_signed ? H5T_NATIVE_INT32 : H5T_NATIVE_INT64;
    } else {
      SLIMFIT_CHECK(bytes == 8 && is_signed, "dataset ", n, " in ", where(),
                    " holds unsigned 64-bit integers, which have no tensor dtype");
      st = at::kLong;
      mem = H5T_NATIVE_INT64;
    }
  } else {
    throw Error(str_cat("dataset ", n, " in ", where(), " does not hold numbers (HDF5 type class ",
                        static_cast<int>(cls), ")"));
  }
  final_st = st;
  if (mark == "bool" && bytes == 1) final_st = at::kBool;
  if ((mark == "float16" || mark == "bfloat16") && bytes == 2 && sign == H5T_SGN_NONE) {
    st = at::kShort;  // read the raw bits
    mem = H5T_NATIVE_UINT16;
    final_st = mark == "float16" ? at::kHalf : at::kBFloat16;
  }

  at::Tensor out = at::empty(sizes, at::TensorOptions().dtype(st));
  if (out.numel() > 0 && H5Dread(d.get(), mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data_ptr()) < 0) {
    const std::string detail = err_suffix();
    SLIMFIT_CHECK(!has_checksum(d.get()), "dataset ", n, " in ", where(),
                  " fails its checksum: the file is damaged (a flipped bit, a truncated copy)",
                  detail, "; restore it from a good copy");
    throw Error(str_cat("cannot read dataset ", n, " in ", where(), detail));
  }
  if (final_st == at::kBool) return out.ne(0);
  if (final_st != st) return out.view(final_st);  // same element size: reinterpret the bits
  return out;
}

// ---------------------------------------------------------------------------------------------
void File::write_string(const std::string& name, const std::string& value) {
  std::string n = normalize(name);
  prepare_replace(n);
  Handle type = string_type();
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle lcpl = lcpl_intermediate();
  Handle d(
      H5Dcreate2(id_, n.c_str(), type.get(), space.get(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT),
      H5Dclose);
  SLIMFIT_CHECK(d.valid(), "cannot create dataset ", n, " in ", where(), err_suffix());
  const char* p = value.c_str();
  SLIMFIT_CHECK(H5Dwrite(d.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, &p) >= 0,
                "cannot write string ", n, " in ", where(), err_suffix());
}

void File::write_strings(const std::string& name, const std::vector<std::string>& values) {
  std::string n = normalize(name);
  prepare_replace(n);
  Handle type = string_type();
  Handle space = make_space({static_cast<hsize_t>(values.size())});
  Handle lcpl = lcpl_intermediate();
  Handle d(
      H5Dcreate2(id_, n.c_str(), type.get(), space.get(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT),
      H5Dclose);
  SLIMFIT_CHECK(d.valid(), "cannot create dataset ", n, " in ", where(), err_suffix());
  if (values.empty()) return;
  std::vector<const char*> ptrs;
  ptrs.reserve(values.size());
  for (const auto& s : values) ptrs.push_back(s.c_str());
  SLIMFIT_CHECK(H5Dwrite(d.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()) >= 0,
                "cannot write strings ", n, " in ", where(), err_suffix());
}

namespace {
// Reads every string of a string dataset or attribute (variable or fixed length).
// `is_attr` selects H5Aread over H5Dread.
std::vector<std::string> read_string_values(hid_t obj, bool is_attr, const std::string& what) {
  Handle ftype(is_attr ? H5Aget_type(obj) : H5Dget_type(obj), H5Tclose);
  Handle space(is_attr ? H5Aget_space(obj) : H5Dget_space(obj), H5Sclose);
  SLIMFIT_CHECK(H5Tget_class(ftype.get()) == H5T_STRING, what, " is not a string");
  hssize_t count = H5Sget_simple_extent_npoints(space.get());
  std::vector<std::string> out;
  if (count <= 0) return out;
  out.reserve(static_cast<size_t>(count));
  if (H5Tis_variable_str(ftype.get()) > 0) {
    Handle mtype = string_type();
    H5Tset_cset(mtype.get(), H5Tget_cset(ftype.get()));
    std::vector<char*> ptrs(static_cast<size_t>(count), nullptr);
    herr_t r = is_attr ? H5Aread(obj, mtype.get(), ptrs.data())
                       : H5Dread(obj, mtype.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data());
    SLIMFIT_CHECK(r >= 0, "cannot read ", what, err_suffix());
    for (char* p : ptrs) out.emplace_back(p ? p : "");
    reclaim(mtype.get(), space.get(), ptrs.data());
  } else {
    size_t len = H5Tget_size(ftype.get());
    std::vector<char> buf(len * static_cast<size_t>(count) + 1, '\0');
    herr_t r = is_attr ? H5Aread(obj, ftype.get(), buf.data())
                       : H5Dread(obj, ftype.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data());
    SLIMFIT_CHECK(r >= 0, "cannot read ", what, err_suffix());
    for (hssize_t i = 0; i < count; ++i) {
      const char* p = buf.data() + static_cast<size_t>(i) * len;
      out.emplace_back(p, strnlen(p, len));
    }
  }
  return out;
}
}  // namespace

std::string File::read_string(const std::string& name) const {
  std::string n = normalize(name);
  Handle d = open_dataset(id_, where(), n, exists(n));
  std::vector<std::string> v =
      read_string_values(d.get(), false, str_cat("dataset ", n, " in ", where()));
  SLIMFIT_CHECK(v.size() == 1, "dataset ", n, " in ", where(), " holds ", v.size(),
                " strings, expected one");
  return v[0];
}

std::vector<std::string> File::read_strings(const std::string& name) const {
  std::string n = normalize(name);
  Handle d = open_dataset(id_, where(), n, exists(n));
  return read_string_values(d.get(), false, str_cat("dataset ", n, " in ", where()));
}

void File::write_int(const std::string& name, int64_t value) {
  write_tensor(name, at::scalar_tensor(value, at::kLong));
}

void File::write_double(const std::string& name, double value) {
  write_tensor(name, at::scalar_tensor(value, at::kDouble));
}

int64_t File::read_int(const std::string& name) const {
  at::Tensor t = read_tensor(name);
  SLIMFIT_CHECK(t.numel() == 1, "dataset ", normalize(name), " in ", where(), " has ", t.numel(),
                " elements, expected one integer");
  SLIMFIT_CHECK(!at::isFloatingType(t.scalar_type()), "dataset ", normalize(name), " in ", where(),
                " holds ", t.scalar_type(), ", expected an integer");
  return t.to(at::kLong).item<int64_t>();
}

double File::read_double(const std::string& name) const {
  at::Tensor t = read_tensor(name);
  SLIMFIT_CHECK(t.numel() == 1, "dataset ", normalize(name), " in ", where(), " has ", t.numel(),
                " elements, expected one number");
  return t.to(at::kDouble).item<double>();
}

// ---------------------------------------------------------------------------------------------
bool File::has_attr(const std::string& object, const std::string& attr) const {
  std::string n = normalize(object);
  if (!exists(n)) return false;
  htri_t r = H5Aexists_by_name(id_, n.c_str(), attr.c_str(), H5P_DEFAULT);
  H5Eclear2(H5E_DEFAULT);
  return r > 0;
}

namespace {
void write_attr(hid_t file, const std::string& n, const std::string& attr, hid_t type,
                const void* buf, const std::string& where) {
  SLIMFIT_CHECK(H5Aexists_by_name(file, n.c_str(), attr.c_str(), H5P_DEFAULT) <= 0 ||
                    H5Adelete_by_name(file, n.c_str(), attr.c_str(), H5P_DEFAULT) >= 0,
                "cannot replace attribute ", attr, " of ", n, " in ", where, err_suffix());
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle a(H5Acreate_by_name(file, n.c_str(), attr.c_str(), type, space.get(), H5P_DEFAULT,
                             H5P_DEFAULT, H5P_DEFAULT),
           H5Aclose);
  SLIMFIT_CHECK(a.valid(), "cannot create attribute ", attr, " of ", n, " in ", where,
                err_suffix());
  SLIMFIT_CHECK(H5Awrite(a.get(), type, buf) >= 0, "cannot write attribute ", attr, " of ", n,
                " in ", where, err_suffix());
}
}  // namespace

void File::set_attr(const std::string& object, const std::string& attr, const std::string& value) {
  require_writable("set_attr");
  std::string n = normalize(object);
  SLIMFIT_CHECK(exists(n), where(), " has no object ", n, " to attach attribute ", attr, " to");
  Handle type = string_type();
  const char* p = value.c_str();
  write_attr(id_, n, attr, type.get(), &p, where());
}

void File::set_attr(const std::string& object, const std::string& attr, int64_t value) {
  require_writable("set_attr");
  std::string n = normalize(object);
  SLIMFIT_CHECK(exists(n), where(), " has no object ", n, " to attach attribute ", attr, " to");
  write_attr(id_, n, attr, H5T_NATIVE_INT64, &value, where());
}

namespace {
Handle open_attr(hid_t file, const std::string& n, const std::string& attr, bool present,
                 const std::string& where) {
  SLIMFIT_CHECK(present, where, " has no attribute ", attr, " on ", n);
  Handle a(H5Aopen_by_name(file, n.c_str(), attr.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  SLIMFIT_CHECK(a.valid(), "cannot open attribute ", attr, " of ", n, " in ", where, err_suffix());
  return a;
}
}  // namespace

std::string File::attr_string(const std::string& object, const std::string& attr) const {
  std::string n = normalize(object);
  Handle a = open_attr(id_, n, attr, has_attr(n, attr), where());
  std::vector<std::string> v =
      read_string_values(a.get(), true, str_cat("attribute ", attr, " of ", n, " in ", where()));
  SLIMFIT_CHECK(v.size() == 1, "attribute ", attr, " of ", n, " in ", where(), " holds ", v.size(),
                " strings, expected one");
  return v[0];
}

int64_t File::attr_int(const std::string& object, const std::string& attr) const {
  std::string n = normalize(object);
  Handle a = open_attr(id_, n, attr, has_attr(n, attr), where());
  Handle ftype(H5Aget_type(a.get()), H5Tclose);
  Handle space(H5Aget_space(a.get()), H5Sclose);
  SLIMFIT_CHECK(
      H5Tget_class(ftype.get()) == H5T_INTEGER && H5Sget_simple_extent_npoints(space.get()) == 1,
      "attribute ", attr, " of ", n, " in ", where(), " is not one integer");
  int64_t v = 0;
  SLIMFIT_CHECK(H5Aread(a.get(), H5T_NATIVE_INT64, &v) >= 0, "cannot read attribute ", attr, " of ",
                n, " in ", where(), err_suffix());
  return v;
}

// ---------------------------------------------------------------------------------------------
void File::append_rows(const std::string& name, const at::Tensor& rows) {
  require_writable("append_rows");
  std::string n = normalize(name);
  SLIMFIT_CHECK(rows.defined() && rows.dim() >= 1, "append_rows ", n, " in ", where(),
                ": rows must have at least one dimension (rows x ...)");
  TypeMap tm = type_for(rows.scalar_type());
  at::Tensor t = rows.detach().to(at::kCPU).contiguous();
  std::vector<hsize_t> dims = to_hsize(t.sizes());
  const hsize_t added = dims[0];

  if (!exists(n)) {
    std::vector<hsize_t> init = dims, maxdims = dims, chunk = dims;
    init[0] = 0;
    maxdims[0] = H5S_UNLIMITED;
    // Chunks of about 64 KiB (at least one row).
    hsize_t row_bytes = static_cast<hsize_t>(t.element_size());
    for (size_t i = 1; i < dims.size(); ++i) row_bytes *= std::max<hsize_t>(dims[i], 1);
    chunk[0] = std::max<hsize_t>(1, (64 * 1024) / std::max<hsize_t>(row_bytes, 1));
    for (size_t i = 1; i < chunk.size(); ++i) chunk[i] = std::max<hsize_t>(chunk[i], 1);
    Handle space = make_space(init, &maxdims);
    Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data());
    H5Pset_fletcher32(dcpl.get());  // note [checksums]
    Handle lcpl = lcpl_intermediate();
    Handle d(H5Dcreate2(id_, n.c_str(), tm.file, space.get(), lcpl.get(), dcpl.get(), H5P_DEFAULT),
             H5Dclose);
    SLIMFIT_CHECK(d.valid(), "cannot create extendable dataset ", n, " in ", where(), err_suffix());
    d.reset();
    set_attr(n, kDtypeAttr, std::string(tm.mark));
  } else {
    std::string mark = has_attr(n, kDtypeAttr) ? attr_string(n, kDtypeAttr) : "";
    SLIMFIT_CHECK(
        mark.empty() || mark == tm.mark ||
            (at::isFloatingType(rows.scalar_type()) && (mark == "float32" || mark == "float64")) ||
            (at::isIntegralType(rows.scalar_type(), false) &&
             (mark == "int64" || mark == "int32" || mark == "int16" || mark == "int8" ||
              mark == "uint8")),
        "append_rows ", n, " in ", where(), ": dataset holds ", mark, ", rows are ",
        rows.scalar_type());
  }

  Handle d(H5Dopen2(id_, n.c_str(), H5P_DEFAULT), H5Dclose);
  SLIMFIT_CHECK(d.valid(), "cannot open dataset ", n, " in ", where(), err_suffix());
  Handle fspace(H5Dget_space(d.get()), H5Sclose);
  std::vector<hsize_t> cur = space_dims(fspace.get());
  auto shape_str = [](const std::vector<hsize_t>& v, size_t from) {
    std::string s = "(";
    for (size_t i = from; i < v.size(); ++i) s += (i > from ? ", " : "") + std::to_string(v[i]);
    return s + ")";
  };
  bool same_rows = cur.size() == dims.size() &&
                   std::equal(cur.begin() + (cur.empty() ? 0 : 1), cur.end(), dims.begin() + 1);
  SLIMFIT_CHECK(same_rows, "append_rows ", n, " in ", where(), ": rows of shape ",
                shape_str(dims, 1), " do not match the dataset's rows ", shape_str(cur, 1));
  if (added == 0) return;
  std::vector<hsize_t> grown = cur;
  grown[0] += added;
  SLIMFIT_CHECK(H5Dset_extent(d.get(), grown.data()) >= 0, "cannot extend dataset ", n, " in ",
                where(), " (is it extendable?)", err_suffix());
  fspace = Handle(H5Dget_space(d.get()), H5Sclose);
  std::vector<hsize_t> start(dims.size(), 0);
  start[0] = cur[0];
  H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr, dims.data(), nullptr);
  Handle mspace = make_space(dims);
  SLIMFIT_CHECK(
      H5Dwrite(d.get(), tm.mem, mspace.get(), fspace.get(), H5P_DEFAULT, t.data_ptr()) >= 0,
      "cannot append to dataset ", n, " in ", where(), err_suffix());
}

// ---------------------------------------------------------------------------------------------
void write_atomically(const std::string& path, const std::function<void(File&)>& fill) {
  const std::string tmp = path + ".tmp";
  try {
    File f = File::create(tmp);
    fill(f);
    f.flush();
    f.close();
    // Make the bytes durable before the rename makes them visible under the real name.
    int fd = ::open(tmp.c_str(), O_RDONLY);
    if (fd >= 0) {
      ::fsync(fd);
      ::close(fd);
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
      throw Error(str_cat("cannot rename ", tmp, " to ", path, ": ", std::strerror(errno)));
    }
    std::string dir = std::filesystem::path(path).parent_path().string();
    int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
}

}  // namespace slimfit::h5
