#pragma once
// What the MACE training tests share: reference structures as training samples, a perturbed
// copy of a model as an honest labeller (a target the original model does not reproduce), and
// labelling a data set with a model's predictions.

#include "../mace/mace_test_util.hpp"

#include <nernst/train/dataset.hpp>
#include <nernst/train/mace_trainable.hpp>

#include <random>
#include <string>
#include <vector>

namespace mace_test {

inline nernst::train::Sample sample_of(const std::string& model, const std::string& structure) {
  const auto st = structure_of(reference(model, structure));
  nernst::train::Sample s;
  s.x = st.x;
  s.lattice = st.lattice;
  s.z = st.z;
  s.origin = structure;
  return s;
}

/// The source with every learned tensor scaled by (1 + `amount` · N(0, 1)) entry by entry and
/// every E0 shifted by `e0_shift` eV.
inline gm::MACESource perturbed(gm::MACESource src, double amount, unsigned seed, double e0_shift) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> n(0.0, 1.0);
  gm::visit_mace_parameters(src.tensors, src.config, [&](const std::string&, double* d, const std::vector<std::int64_t>& shape) {
    std::size_t sz = 1;
    for (auto s : shape) sz *= static_cast<std::size_t>(s);
    for (std::size_t j = 0; j < sz; ++j) d[j] *= 1.0 + amount * n(rng);
  });
  for (auto& e : src.config.e0) e += e0_shift;
  src.tensors.at(gm::kAtomicEnergiesName).values = src.config.e0;
  return src;
}

/// Every sample of `d` labelled (E, F, σ) by `labeller`.
template <class Trainable>
void label(nernst::train::Dataset& d, Trainable& labeller) {
  for (auto& s : d.samples) {
    const auto p = labeller.predict(s);
    s.energy = p.energy;
    s.forces = p.forces;
    s.stress = p.stress;
  }
}

}  // namespace mace_test
