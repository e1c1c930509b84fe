#pragma once
/// \file
/// \brief Boltzmann selection of configurations by energy above hull: configuration i is drawn
/// with probability p_i ∝ exp(−E_hull,i / k_B T), k draws without replacement (each draw
/// renormalises over the configurations not yet taken). Seeded std::mt19937_64, deterministic.

#include <nernst/core/error.hpp>
#include <nernst/core/units.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace sampling {

/// Normalised Boltzmann probabilities of energies above hull `e_hull` (eV) at T (K).
inline std::vector<double> boltzmann_probabilities(const std::vector<double>& e_hull, double T) {
  if (!(T > 0)) throw ValueError("Boltzmann selection: temperature must be positive (K)");
  if (e_hull.empty()) return {};
  double emin = e_hull[0];
  for (double e : e_hull) {
    if (!std::isfinite(e)) throw ValueError("Boltzmann selection: non-finite energy above hull");
    emin = std::min(emin, e);
  }
  std::vector<double> p(e_hull.size());
  double s = 0;
  for (std::size_t i = 0; i < p.size(); ++i) s += p[i] = std::exp(-(e_hull[i] - emin) / (units::kB * T));
  for (double& x : p) x /= s;
  return p;
}

/// Draws k distinct configurations (all when k ≥ n), in draw order.
inline std::vector<std::size_t> boltzmann_select(const std::vector<double>& e_hull, double T, std::size_t k,
                                                 std::uint64_t seed = 1) {
  std::vector<double> w = boltzmann_probabilities(e_hull, T);
  std::vector<char> taken(w.size(), 0);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<std::size_t> out;
  k = std::min(k, w.size());
  while (out.size() < k) {
    double s = 0;
    for (std::size_t i = 0; i < w.size(); ++i)
      if (!taken[i]) s += w[i];
    std::size_t pick = w.size();
    if (s > 0) {
      double r = u(rng) * s;
      for (std::size_t i = 0; i < w.size(); ++i) {
        if (taken[i] || w[i] <= 0) continue;
        pick = i;
        if ((r -= w[i]) < 0) break;
      }
    } else {  // every remaining weight underflowed: take the lowest remaining energy
      for (std::size_t i = 0; i < w.size(); ++i)
        if (!taken[i] && (pick == w.size() || e_hull[i] < e_hull[pick])) pick = i;
    }
    taken[pick] = 1;
    out.push_back(pick);
  }
  return out;
}

}  // namespace sampling
NERNST_NAMESPACE_END
