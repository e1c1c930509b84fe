#pragma once
/// \file
/// \brief save_torch / save_state_dict: write checkpoints that `torch.load` reads.
///
/// The archive mirrors what `torch.save` writes: one top folder named after the file (its base
/// name minus the last extension), entries `data.pkl` (protocol-2 pickle), `byteorder`
/// ("little"), `data/<key>` (one raw little-endian storage per tensor, in the tensor's dtype) and
/// `version` ("3"), stored uncompressed with data aligned to 64 bytes.

#include <nernst/core/error.hpp>
#include <nernst/io/checkpoint/detail/pickler.hpp>
#include <nernst/io/checkpoint/detail/zip.hpp>
#include <nernst/io/checkpoint/pickle_value.hpp>
#include <nernst/io/checkpoint/tensor.hpp>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace io {

/// Writes any PickleValue tree (tensors, dicts, OrderedDicts, lists, tuples, scalars, strings,
/// bytes, Opaque objects as the global calls they came from). Throws ValueError on a tensor
/// whose element count does not match its shape, IOError when the file cannot be written.
inline void save_torch(const std::string& path, const PickleValue& value) {
  detail::Pickler p;
  std::string pkl = p.dump(value);
  std::string folder = std::filesystem::path(path).stem().string();
  for (char& c : folder)
    if (c == '/' || c == '\\' || static_cast<unsigned char>(c) < 0x20) c = '_';
  if (folder.empty() || folder == "." || folder == "..") folder = "archive";
  std::vector<detail::ZipEntry> entries;
  entries.reserve(p.storages.size() + 3);
  entries.push_back({folder + "/data.pkl", std::move(pkl)});
  entries.push_back({folder + "/byteorder", "little"});
  for (auto& s : p.storages) entries.push_back({folder + "/data/" + s.first, std::move(s.second)});
  entries.push_back({folder + "/version", "3\n"});
  detail::write_zip(path, entries);
}

/// Writes a state_dict as the OrderedDict[str, Tensor] `torch.save(model.state_dict())` writes
/// (keys in the map's sorted order; each tensor in its own dtype).
inline void save_state_dict(const std::string& path, const StateDict& sd) {
  PickleValue od = PickleValue::ordered_dict();
  auto& items = od.as_dict().items;
  items.reserve(sd.size());
  for (const auto& kv : sd) items.emplace_back(PickleValue(kv.first), PickleValue(kv.second));
  save_torch(path, od);
}

}  // namespace io
NERNST_NAMESPACE_END
