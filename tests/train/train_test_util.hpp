#pragma once
// Helpers for the training tests: the shared M3GNet model and reference structures as Samples.

#include "../test_support.hpp"

#include <nernst/core/elements.hpp>
#include <nernst/potential/graphnet/m3gnet.hpp>
#include <nernst/train/dataset.hpp>

#include <nlohmann/json.hpp>

#include <fstream>
#include <initializer_list>
#include <memory>
#include <random>

namespace train_test {

inline std::filesystem::path model_dir() { return nernst_test::shared_dir() / "models" / "m3gnet-mp-2021.2.8-pes"; }

inline const nernst::graphnet::M3GNetModel& model() {
  static std::unique_ptr<nernst::graphnet::M3GNetModel> m;
  if (!m) m = std::make_unique<nernst::graphnet::M3GNetModel>(nernst::M3GNet::load(model_dir().string()));
  return *m;
}

/// M3GNet-MatPES-PBE-v2025.1-PES (128 hidden units, smooth basis).
inline const nernst::graphnet::M3GNetModel& matpes_model() {
  static std::unique_ptr<nernst::graphnet::M3GNetModel> m;
  if (!m)
    m = std::make_unique<nernst::graphnet::M3GNetModel>(
        nernst::M3GNet::load((nernst_test::shared_dir() / "models" / "m3gnet-matpes-pbe-v2025.1-pes").string()));
  return *m;
}

/// A reference structure of reference/m3gnet (no labels).
inline nernst::train::Sample reference_sample(const std::string& name) {
  std::ifstream in(nernst_test::shared_dir() / "reference" / "m3gnet" / (name + ".json"));
  REQUIRE_MESSAGE(in.good(), "cannot open reference " << name);
  return nernst::train::sample_from_json(nlohmann::json::parse(in).at("structure"), name);
}

/// Labels = given prediction plus random offsets (so every residual is non-zero).
template <class P>
void label_with_offsets(nernst::train::Sample& s, const P& p, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  s.energy = p.energy + 0.05 * double(s.size()) * u(rng);
  s.forces = p.forces;
  for (auto& f : s.forces)
    for (auto& c : f) c += 0.3 * u(rng);
  Eigen::Matrix3d st = p.stress;
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) st(a, b) += 0.003 * u(rng);
  s.stress = st;
}

/// The named reference structures, labelled with the model's predictions plus random offsets.
template <class Model>
nernst::train::Dataset labelled_set(Model& m, std::initializer_list<const char*> names) {
  nernst::train::Dataset d;
  unsigned seed = 11;
  for (const char* n : names) {
    d.samples.push_back(reference_sample(n));
    label_with_offsets(d.samples.back(), m.predict(d.samples.back()), seed++);
  }
  return d;
}

}  // namespace train_test
