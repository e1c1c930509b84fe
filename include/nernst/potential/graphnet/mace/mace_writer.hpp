#pragma once
/// \file
/// \brief Writing a mace `.model` file back with new values of the learned tensors and E0
/// (fine-tuning, train/mace_trainable.hpp).
///
/// A `.model` is the whole module pickled by torch.save: the pickle (module tree, attributes,
/// e3nn's compiled code) plus one raw storage per tensor. Rewriting the pickle would mean
/// reproducing every Python object in it; instead the archive is copied entry by entry and only
/// the bytes of the changed tensors are replaced inside their storages, at the element offset
/// and strides the loader recorded (io::Tensor::storage_key/offset/stride). The pickle is kept
/// byte for byte, so mace-torch and `MACE::load` read the result as the original model with new
/// weights. Values are written in each storage's dtype (a float32 model gets float32 weights).

#include <nernst/core/error.hpp>
#include <nernst/io/checkpoint/detail/zip.hpp>
#include <nernst/io/checkpoint/tensor.hpp>
#include <nernst/potential/graphnet/mace/mace_parameters.hpp>
#include <nernst/potential/graphnet/mace/mace_reader.hpp>

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {
namespace mace {

namespace detail {

/// Writes tensor t's values into the raw little-endian storage `raw` at its recorded view.
inline void write_into_storage(const io::Tensor& t, const std::string& name, std::string& raw, const std::string& file) {
  const std::size_t item = io::itemsize(t.dtype);
  if (t.dtype != io::DType::Float32 && t.dtype != io::DType::Float64)
    throw NotSupported(file + ": tensor '" + name + "' is stored as " + io::dtype_name(t.dtype) + " (float32 or float64 expected)");
  const std::size_t nd = t.shape.size();
  if (t.storage_stride.size() != nd) throw ValueError(file + ": tensor '" + name + "' has no recorded storage view");
  std::vector<std::int64_t> idx(nd, 0);
  std::int64_t pos = t.storage_offset;
  for (std::size_t k = 0; k < t.values.size(); ++k) {
    const std::size_t at = static_cast<std::size_t>(pos) * item;
    if (at + item > raw.size()) throw ParseError(file, 0, "tensor '" + name + "' reaches past its storage");
    if (t.dtype == io::DType::Float32) {
      const float f = static_cast<float>(t.values[k]);
      std::memcpy(&raw[at], &f, sizeof f);
    } else {
      std::memcpy(&raw[at], &t.values[k], sizeof(double));
    }
    for (std::size_t d = nd; d-- > 0;) {  // odometer over the row-major multi-index
      if (++idx[d] < t.shape[d]) {
        pos += t.storage_stride[d];
        break;
      }
      pos -= (t.shape[d] - 1) * t.storage_stride[d];
      idx[d] = 0;
    }
  }
}

}  // namespace detail

/// Copies the `.model` file `src.file` that `src` was read from to `path`, with the learned
/// tensors (mace_parameters.hpp) and E0 replaced by `src.tensors`' values. Needs a source read
/// by read_mace_model_file (MACE::load(file)); a state_dict source has no pickled module to keep.
inline void write_mace_model_file(const MACESource& src, const std::string& path) {
  static_assert(sizeof(double) == 8 && sizeof(float) == 4, "IEEE 754 binary32/binary64 expected");
  {
    const std::uint16_t probe = 1;
    unsigned char first = 0;
    std::memcpy(&first, &probe, 1);
    if (first != 1) throw NotSupported("write_mace_model_file: big-endian hosts are not supported");
  }
  if (!io::load_torch(src.file).is_opaque())
    throw ValueError("write_mace_model_file: '" + src.file + "' is not a pickled model (a state_dict source cannot be written as .model)");
  io::detail::ZipReader zip(src.file);
  std::string prefix;  // the archive's top folder: where data.pkl is
  std::size_t depth = ~std::size_t(0);
  for (const auto& n : zip.names()) {
    const std::string tail = "data.pkl";
    if (n.size() < tail.size() || n.compare(n.size() - tail.size(), tail.size(), tail) != 0) continue;
    const auto dd = static_cast<std::size_t>(std::count(n.begin(), n.end(), '/'));
    if (dd < depth) depth = dd, prefix = n.substr(0, n.size() - tail.size());
  }
  if (depth == ~std::size_t(0)) throw ParseError(src.file, 0, "not a torch.save archive (no data.pkl); a .model file is needed");
  if (const auto bo = zip.find(prefix + "byteorder"); bo >= 0) {
    const auto b = zip.read(bo, 64);
    if (std::string(b.begin(), b.end()).rfind("little", 0) != 0)
      throw NotSupported(src.file + ": big-endian storages are not supported for writing");
  }
  std::vector<io::detail::ZipEntry> entries;
  std::map<std::string, std::size_t> where;
  for (std::size_t i = 0; i < zip.names().size(); ++i) {
    const auto b = zip.read(static_cast<std::int64_t>(i));
    where[zip.names()[i]] = entries.size();
    entries.push_back({zip.names()[i], std::string(b.begin(), b.end())});
  }
  auto names = learned_tensor_names(src.config);
  names.push_back(kAtomicEnergiesName);
  for (const auto& n : names) {
    const auto it = src.tensors.find(n);
    if (it == src.tensors.end()) throw ValueError("write_mace_model_file: the model lacks '" + n + "'");
    const io::Tensor& t = it->second;
    if (t.storage_key.empty()) throw ValueError("write_mace_model_file: '" + n + "' was not read from a storage of " + src.file);
    const auto e = where.find(prefix + "data/" + t.storage_key);
    if (e == where.end()) throw ParseError(src.file, 0, "storage '" + t.storage_key + "' of '" + n + "' is missing");
    detail::write_into_storage(t, n, entries[e->second].data, src.file);
  }
  io::detail::write_zip(path, entries);
}

}  // namespace mace
}  // namespace graphnet
NERNST_NAMESPACE_END
