#pragma once
// The fine-tuning demonstration data: frames of the 60-atom Li3YCl6-like cell of
// reference/m3gnet/timing_structures.json, randomly strained (±2 %) and rattled (σ = 0.1 Å),
// labelled by a classical potential that is not M3GNet: Ewald electrostatics with formal
// charges (Potential<Ewald>'s ewald_sum) plus a Born–Mayer repulsion A exp(−r/ρ) (shifted to
// zero at 6 Å) on the cation–anion and anion–anion pairs.

#include "train_test_util.hpp"

#include <nernst/potential/ewald.hpp>
#include <nernst/train/dataset.hpp>

#include <cmath>
#include <map>
#include <random>

namespace train_test {

struct BornMayer {
  double A, rho;
};

/// E, F, σ (eV, eV/Å, eV/Å³ = (1/V) ∂E/∂ε) of the classical label potential.
inline void classical_labels(nernst::train::Sample& s) {
  const std::size_t n = s.size();
  const nernst::Lattice cell(s.lattice);
  std::vector<Eigen::Vector3d> r(n);
  std::vector<double> q(n);
  const std::map<int, double> charge{{3, 1.0}, {39, 3.0}, {17, -1.0}, {35, -1.0}};
  for (std::size_t i = 0; i < n; ++i) r[i] = Eigen::Vector3d(s.x[i][0], s.x[i][1], s.x[i][2]), q[i] = charge.at(s.z[i]);
  nernst::EwaldParameters ep;
  ep.accuracy = 1e-8;
  const auto ew = nernst::ewald_sum(cell, r, q, ep, true, true);
  double E = ew.energy;
  std::vector<Eigen::Vector3d> F = ew.forces;
  Eigen::Matrix3d W = ew.stress * cell.volume();
  auto params = [](int a, int b) -> BornMayer {
    if (a > b) std::swap(a, b);
    if (a == 3 && b == 17) return {3700.0, 0.30};
    if (a == 17 && b == 39) return {11000.0, 0.30};
    if (a == 17 && b == 17) return {1500.0, 0.33};
    return {0.0, 1.0};
  };
  const double rc = 6.0;
  const auto w = cell.perpendicular_widths();
  int nmax[3];
  for (int k = 0; k < 3; ++k) nmax[k] = int(std::ceil(rc / w[std::size_t(k)]));
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      const BornMayer p = params(s.z[i], s.z[j]);
      if (p.A == 0) continue;
      for (int a = -nmax[0]; a <= nmax[0]; ++a)
        for (int b = -nmax[1]; b <= nmax[1]; ++b)
          for (int c = -nmax[2]; c <= nmax[2]; ++c) {
            if (i == j && a == 0 && b == 0 && c == 0) continue;
            const Eigen::Vector3d d = r[j] - r[i] + a * cell.vector(0) + b * cell.vector(1) + c * cell.vector(2);
            const double dist = d.norm();
            if (dist >= rc) continue;
            const double e = p.A * std::exp(-dist / p.rho);
            E += 0.5 * (e - p.A * std::exp(-rc / p.rho));
            const double dphi = -e / p.rho;                       // dφ/dr
            const Eigen::Vector3d g = 0.5 * dphi * d / dist;      // ∂(½φ)/∂d
            F[i] += g;
            F[j] -= g;
            W += d * g.transpose();
          }
    }
  s.energy = E;
  s.forces.resize(n);
  for (std::size_t i = 0; i < n; ++i) s.forces[i] = {F[i][0], F[i][1], F[i][2]};
  s.stress = W / cell.volume();
}

/// The 60-atom Li3YCl6-like cell of reference/m3gnet/timing_structures.json.
inline nernst::train::Sample li3ycl6_60() {
  std::ifstream in(nernst_test::shared_dir() / "reference" / "m3gnet" / "timing_structures.json");
  REQUIRE(in.good());
  return nernst::train::sample_from_json(nlohmann::json::parse(in).at("structures").at("60"), "li3ycl6_60");
}

/// `count` strained and rattled frames with classical labels.
inline nernst::train::Dataset demo_frames(std::size_t count, unsigned seed, double rattle = 0.1, double strain = 0.02) {
  const auto base = li3ycl6_60();
  std::mt19937 rng(seed);
  std::normal_distribution<double> g(0.0, rattle);
  std::uniform_real_distribution<double> u(-strain, strain);
  nernst::train::Dataset d;
  for (std::size_t k = 0; k < count; ++k) {
    nernst::train::Sample s = base;
    Eigen::Matrix3d eps;
    for (int a = 0; a < 3; ++a)
      for (int b = a; b < 3; ++b) eps(a, b) = eps(b, a) = u(rng);
    const Eigen::Matrix3d D = Eigen::Matrix3d::Identity() + eps;
    s.lattice = base.lattice * D;
    for (auto& x : s.x) {
      Eigen::RowVector3d v(x[0], x[1], x[2]);
      v = v * D;
      for (int c = 0; c < 3; ++c) x[std::size_t(c)] = v[c] + g(rng);
    }
    classical_labels(s);
    s.origin = "demo:" + std::to_string(k);
    d.samples.push_back(std::move(s));
  }
  return d;
}

}  // namespace train_test
