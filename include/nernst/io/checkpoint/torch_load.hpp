#pragma once
/// \file
/// \brief load_torch / load_state_dict: read a `torch.save` checkpoint (zip + pickle) without PyTorch.

#include <nernst/core/error.hpp>
#include <nernst/io/checkpoint/detail/unpickler.hpp>
#include <nernst/io/checkpoint/detail/zip.hpp>
#include <nernst/io/checkpoint/pickle_value.hpp>
#include <nernst/io/checkpoint/tensor.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace io {
namespace detail {
inline PickleValue load_torch_zip(ZipReader& zip);
}  // namespace detail


/// Loads the whole object a `torch.save` file holds (tensors rebuilt, unknown classes as Opaque).
/// Throws IOError when the file cannot be opened, ParseError on malformed content (naming the file,
/// the byte offset in data.pkl and the opcode where it applies) and NotSupported for well-formed
/// features outside the supported subset (legacy pre-1.6 files, exotic opcodes or storage types).
inline PickleValue load_torch(const std::string& path) {
  {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw IOError("cannot open '" + path + "'");
    unsigned char head[2] = {0, 0};
    f.read(reinterpret_cast<char*>(head), 2);
    if (f.gcount() == 2 && head[0] == 0x80 && head[1] <= 5)
      throw NotSupported(path + ": legacy (non-zip) torch.save format (torch < 1.6 or "
                                "_use_new_zipfile_serialization=False) is not supported; re-save it with a recent torch");
  }
  detail::ZipReader zip(path);
  return detail::load_torch_zip(zip);
}

/// Loads a `torch.save` / TorchScript archive held in memory (such archives are pickled as bytes
/// inside some modules, e.g. e3nn's compiled code with its constant buffers); `label` names it in
/// error messages.
inline PickleValue load_torch_bytes(std::string bytes, const std::string& label) {
  detail::ZipReader zip = detail::ZipReader::from_memory(label, std::move(bytes));
  return detail::load_torch_zip(zip);
}

namespace detail {
/// The unpickling half of load_torch: finds data.pkl in the archive and rebuilds the object.
inline PickleValue load_torch_zip(ZipReader& zip) {
  const std::string& path = zip.path();

  // The pickle is "<prefix>/data.pkl"; prefer the shallowest such entry (TorchScript archives
  // hold other .pkl files deeper down).
  std::int64_t pkl = -1;
  std::size_t best_depth = ~std::size_t(0);
  std::string prefix;
  for (std::size_t i = 0; i < zip.names().size(); ++i) {
    const std::string& nm = zip.names()[i];
    const std::string tail = "data.pkl";
    if (nm.size() < tail.size() || nm.compare(nm.size() - tail.size(), tail.size(), tail) != 0) continue;
    if (nm.size() > tail.size() && nm[nm.size() - tail.size() - 1] != '/') continue;
    const std::size_t depth = static_cast<std::size_t>(std::count(nm.begin(), nm.end(), '/'));
    if (depth < best_depth) {
      best_depth = depth;
      pkl = static_cast<std::int64_t>(i);
      prefix = nm.substr(0, nm.size() - tail.size());
    }
  }
  if (pkl < 0) throw ParseError(path, 0, "zip archive has no data.pkl entry; not a torch.save checkpoint");

  bool big_endian = false;
  if (const std::int64_t bo = zip.find(prefix + "byteorder"); bo >= 0) {
    const auto b = zip.read(bo, 64);
    const std::string s(b.begin(), b.end());
    if (s.rfind("big", 0) == 0)
      big_endian = true;
    else if (s.rfind("little", 0) != 0)
      throw ParseError(path, 0, "unknown byteorder record '" + s + "'");
  }

  const std::vector<unsigned char> pickle = zip.read(pkl);
  std::map<std::string, std::vector<unsigned char>> cache;
  auto storages = [&](const std::string& key, DType t, std::int64_t numel) -> const std::vector<unsigned char>& {
    auto it = cache.find(key);
    if (it == cache.end()) {
      const std::string name = prefix + "data/" + key;
      const std::int64_t idx = zip.find(name);
      if (idx < 0) throw ParseError(path, 0, "storage '" + key + "' is missing (no zip entry '" + name + "')");
      it = cache.emplace(key, zip.read(idx)).first;
    }
    const std::uint64_t need = static_cast<std::uint64_t>(numel) * itemsize(t);
    if (it->second.size() < need)
      throw ParseError(path, 0, "storage '" + key + "' holds " + std::to_string(it->second.size()) + " bytes, fewer than the " +
                                    std::to_string(numel) + " " + dtype_name(t) + " elements it declares");
    return it->second;
  };
  detail::Unpickler up(pickle.data(), pickle.size(), path, zip.names()[static_cast<std::size_t>(pkl)], storages,
                       big_endian);
  return up.load();
}
}  // namespace detail

/// True when `v` is a dict whose every value is a tensor and every key a string (and it is not empty).
inline bool is_state_dict(const PickleValue& v) {
  if (!v.is_dict() || v.as_dict().items.empty()) return false;
  for (const auto& kv : v.as_dict().items)
    if (!kv.first.is_string() || !kv.second.is_tensor()) return false;
  return true;
}

/// Converts a state_dict-like dict to a StateDict, skipping entries that are not tensors
/// (e.g. `_extra_state` objects). Throws ValueError when `v` is not a dict.
inline StateDict to_state_dict(const PickleValue& v) {
  StateDict out;
  for (const auto& kv : v.as_dict().items)
    if (kv.first.is_string() && kv.second.is_tensor()) out.emplace(kv.first.as_string(), kv.second.as_tensor());
  return out;
}

/// Finds the state_dict in a loaded checkpoint: the object itself when it is one (M3GNet's
/// state.pt), else `state_dict`, `model.state_dict` (CHGNet's trainer files), `model_state_dict`,
/// or `model` when that is a state_dict. Returns nullptr when none is found.
inline const PickleValue* find_state_dict(const PickleValue& top) {
  if (is_state_dict(top)) return &top;
  if (!top.is_dict()) return nullptr;
  for (const char* key : {"state_dict", "model_state_dict"})
    if (const PickleValue* p = top.find(key); p && p->is_dict()) return p;
  if (const PickleValue* m = top.find("model")) {
    if (const PickleValue* p = m->find("state_dict"); p && p->is_dict()) return p;
    if (is_state_dict(*m)) return m;
  }
  return nullptr;
}

/// Loads the state_dict of a checkpoint (see find_state_dict for where it is looked for).
inline StateDict load_state_dict(const std::string& path) {
  PickleValue top = load_torch(path);
  const PickleValue* sd = find_state_dict(top);
  if (!sd)
    throw ValueError("'" + path + "' holds no state_dict (top level is " + top.repr(4) +
                     "); use load_torch to walk it");
  // `top` is ours: move the tensors out instead of copying them.
  StateDict out;
  for (auto& kv : const_cast<PickleValue*>(sd)->as_dict().items)
    if (kv.first.is_string() && kv.second.is_tensor()) out.emplace(kv.first.as_string(), std::move(kv.second.as_tensor()));
  return out;
}

}  // namespace io
NERNST_NAMESPACE_END
