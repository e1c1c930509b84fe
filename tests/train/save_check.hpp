#pragma once
// Checks shared by the M3GNet and CHGNet trainer tests: frozen tensors bit-identical after
// training, and save -> reload giving identical outputs.

#include "../test_support.hpp"

#include <nernst/train/trainer.hpp>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

namespace train_test {

struct FreezeCount {
  std::size_t frozen = 0, frozen_same = 0, trained = 0, trained_changed = 0;
};

/// Compares the parameters before and after training tensor by tensor (memcmp).
template <class Model>
FreezeCount count_frozen(const Model& m, const std::vector<double>& before, const std::vector<double>& after,
                         const nernst::train::TrainOptions& o) {
  const auto mask = nernst::train::trainable_mask(m, o);
  FreezeCount c;
  for (const auto& p : m.parameters()) {
    const bool same = std::memcmp(before.data() + p.offset, after.data() + p.offset, p.size * sizeof(double)) == 0;
    if (!mask[p.offset]) ++c.frozen, c.frozen_same += same;
    else ++c.trained, c.trained_changed += !same;
  }
  return c;
}

/// Saves `m` in float64 and in the source dtype, reloads both with `load(path)`: float64 must
/// reproduce E, F, σ bit for bit; the float32 file the model with its weights rounded to float
/// (which `m` holds afterwards), except the tensors named in `float64_names`, which the source
/// file stores in float64 (TensorNet's element references).
template <class Model, class Load>
void check_save_reload(Model& m, const nernst::train::Dataset& d, const std::string& p64, const std::string& p32,
                       Load&& load, const std::vector<std::string>& float64_names = {}) {
  m.save(p64, /*float64=*/true);
  m.save(p32, /*float64=*/false);
  Model r64(load(p64));
  for (const auto& s : d.samples) {
    const auto a = m.predict(s), b = r64.predict(s);
    CHECK(a.energy == b.energy);
    for (std::size_t i = 0; i < s.size(); ++i)
      for (std::size_t k = 0; k < 3; ++k) CHECK(a.forces[i][k] == b.forces[i][k]);
    CHECK((a.stress - b.stress).cwiseAbs().maxCoeff() == 0.0);
  }
  auto rounded = m.get_parameters();
  for (const auto& p : m.parameters())
    if (std::find(float64_names.begin(), float64_names.end(), p.name) == float64_names.end())
      for (std::size_t k = 0; k < p.size; ++k) rounded[p.offset + k] = double(float(rounded[p.offset + k]));
  m.set_parameters(rounded);
  Model r32(load(p32));
  for (const auto& s : d.samples) CHECK(m.predict(s).energy == r32.predict(s).energy);
}

}  // namespace train_test
