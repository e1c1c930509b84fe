#pragma once
/// \file
/// \brief Random strain augmentation: a symmetric strain ε with every component drawn uniformly
/// from [−max, max] (default ±3 %) deforms the cell, H' = H (I + ε) (rows of H are a, b, c),
/// fractional coordinates kept. Used to widen a training set around equilibrium volumes.

#include <nernst/core/structure.hpp>

#include <cstdint>
#include <random>

NERNST_NAMESPACE_BEGIN
namespace sampling {

/// A symmetric random strain with components in [−max_strain, max_strain].
inline Eigen::Matrix3d random_strain(std::mt19937_64& rng, double max_strain = 0.03) {
  if (!(max_strain >= 0 && max_strain < 0.5)) throw ValueError("random_strain: max_strain must be in [0, 0.5)");
  std::uniform_real_distribution<double> u(-max_strain, max_strain);
  Eigen::Matrix3d e;
  for (int i = 0; i < 3; ++i)
    for (int j = i; j < 3; ++j) e(i, j) = e(j, i) = u(rng);
  return e;
}

/// The structure with its cell deformed by strain `eps` (fractional coordinates kept).
inline Structure apply_strain(const Structure& s, const Eigen::Matrix3d& eps) {
  Structure out = s;
  out.set_lattice(Lattice(s.lattice().matrix() * (Eigen::Matrix3d::Identity() + eps)), /*keep_fractional=*/true);
  return out;
}

/// `count` strained copies of `s` (±max_strain), reproducible from `seed`; the strains used are
/// returned in `strains` when given.
inline std::vector<Structure> strain_augment(const Structure& s, std::size_t count, double max_strain = 0.03,
                                             std::uint64_t seed = 1, std::vector<Eigen::Matrix3d>* strains = nullptr) {
  std::mt19937_64 rng(seed);
  std::vector<Structure> out;
  for (std::size_t k = 0; k < count; ++k) {
    const Eigen::Matrix3d e = random_strain(rng, max_strain);
    if (strains) strains->push_back(e);
    out.push_back(apply_strain(s, e));
  }
  return out;
}

}  // namespace sampling
NERNST_NAMESPACE_END
