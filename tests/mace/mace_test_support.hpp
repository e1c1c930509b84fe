#pragma once
// Helpers of the MACE mathematics tests: reference files and random unit vectors.

#include "../json_support.hpp"
#include "../test_support.hpp"

#include <nernst/io/checkpoint/torch_load.hpp>

#include <filesystem>
#include <random>
#include <string>

namespace nernst_test {

inline std::filesystem::path mace_models_dir() { return shared_dir() / "models" / "mace-random"; }

inline std::filesystem::path mace_reference_file(const std::string& model, const std::string& structure) {
  return shared_dir() / "reference" / "mace" / model / (structure + ".json");
}

/// A random vector with components uniform in [-2, 2] (never near zero length in practice).
inline void random_vector(std::mt19937_64& rng, double r[3]) {
  std::uniform_real_distribution<double> u(-2.0, 2.0);
  for (int k = 0; k < 3; ++k) r[k] = u(rng);
}

/// Buffers and parameters of a pickled torch module graph (`.model` file), by dotted name: each
/// Opaque module's BUILD state holds `_buffers`, `_parameters` and `_modules` dicts. Test-local;
/// the MACE loader has its own.
inline void collect_module_tensors(const nernst::io::PickleValue& v, const std::string& prefix,
                                   nernst::io::StateDict& out) {
  using nernst::io::PickleValue;
  if (!v.is_opaque()) return;
  for (const auto& st : v.as_opaque().state) {
    if (!st.is_dict()) continue;
    for (const char* key : {"_buffers", "_parameters"})
      if (const auto* b = st.find(PickleValue(std::string(key))); b && b->is_dict())
        for (const auto& kv : b->as_dict().items)
          if (kv.first.is_string() && kv.second.is_tensor()) out.emplace(prefix + kv.first.as_string(), kv.second.as_tensor());
    if (const auto* m = st.find(PickleValue(std::string("_modules"))); m && m->is_dict())
      for (const auto& kv : m->as_dict().items)
        if (kv.first.is_string()) collect_module_tensors(kv.second, prefix + kv.first.as_string() + ".", out);
  }
}

/// The tensors of a MACE test model: the small one from its state_dict, the others from the
/// pickled module.
inline nernst::io::StateDict mace_model_tensors(const std::string& model) {
  const auto sd = mace_models_dir() / (model + ".state_dict.pt");
  if (std::filesystem::exists(sd)) return nernst::io::load_state_dict(sd.string());
  nernst::io::StateDict out;
  collect_module_tensors(nernst::io::load_torch((mace_models_dir() / (model + ".model")).string()), "", out);
  return out;
}

}  // namespace nernst_test
