#pragma once
// Gradient check shared by the M3GNet and CHGNet tests: every parameter tensor of a trainable
// model, analytic gradient of a loss vs 4th-order central finite differences.

#include "../test_support.hpp"

#include <nernst/train/trainer.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace train_test {

struct GradCheck {
  double max_rel_dir = 0, max_rel_entry = 0, max_abs_tiny = 0;
  std::size_t tensors = 0, entries = 0, tiny = 0;
};

// Fourth-order central difference of L along direction r (|r| = 1) in flat parameter space.
template <class F>
double fd_along(F&& loss, const std::vector<double>& theta, const std::vector<double>& r, double h) {
  auto at = [&](double s) {
    std::vector<double> t = theta;
    for (std::size_t i = 0; i < t.size(); ++i)
      if (r[i] != 0) t[i] += s * r[i];
    return loss(t);
  };
  return (8 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12 * h);
}

template <class Model>
GradCheck check_all_parameters(Model& m, const nernst::train::Dataset& d, const nernst::train::Loss& loss,
                               const nernst::train::LossWeights& w, double h, double tiny_fraction = 1e-6) {
  const std::vector<std::size_t> idx = [&] {
    std::vector<std::size_t> v;
    for (std::size_t i = 0; i < d.size(); ++i) v.push_back(i);
    return v;
  }();
  const std::vector<double> theta0 = m.get_parameters();
  std::vector<double> grad(theta0.size(), 0.0);
  nernst::train::loss_and_gradient(m, d, idx, loss, w, &grad);
  auto L = [&](const std::vector<double>& t) {
    m.set_parameters(t);
    return nernst::train::loss_and_gradient(m, d, idx, loss, w, nullptr);
  };
  double gnorm = 0;
  for (double g : grad) gnorm += g * g;
  gnorm = std::sqrt(gnorm);
  GradCheck out;
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(-1, 1);
  for (const auto& p : m.parameters()) {
    // Random direction over the whole tensor: checks every entry at once.
    std::vector<double> r(theta0.size(), 0.0);
    double nrm = 0;
    for (std::size_t k = 0; k < p.size; ++k) nrm += (r[p.offset + k] = u(rng)) * r[p.offset + k];
    nrm = std::sqrt(nrm);
    double an = 0;
    for (std::size_t k = 0; k < p.size; ++k) an += grad[p.offset + k] * (r[p.offset + k] /= nrm);
    // Gradients many orders below the total are below what a difference of losses resolves at
    // h = 1e-3 (round-off ~1e-16 L / h); those get a larger step and are judged against the
    // gradient norm instead.
    const bool tiny = std::abs(an) < tiny_fraction * gnorm;
    const double fd = fd_along(L, theta0, r, tiny ? 0.1 : h);
    const double rel = std::abs(an - fd) / (tiny ? gnorm : std::abs(fd));
    if (rel > 1e-6) MESSAGE(p.name << ": direction analytic " << an << " fd " << fd << " rel " << rel);
    CHECK(rel <= 1e-6);
    if (tiny) out.max_abs_tiny = std::max(out.max_abs_tiny, rel), ++out.tiny;
    else out.max_rel_dir = std::max(out.max_rel_dir, rel);
    ++out.tensors;
    // The entry with the largest gradient, alone.
    std::size_t kmax = 0;
    for (std::size_t k = 1; k < p.size; ++k)
      if (std::abs(grad[p.offset + k]) > std::abs(grad[p.offset + kmax])) kmax = k;
    if (std::abs(grad[p.offset + kmax]) > tiny_fraction * gnorm) {
      std::vector<double> e(theta0.size(), 0.0);
      e[p.offset + kmax] = 1.0;
      const double fde = fd_along(L, theta0, e, h);
      const double rele = std::abs(grad[p.offset + kmax] - fde) / std::abs(fde);
      if (rele > 1e-6) MESSAGE(p.name << "[" << kmax << "]: analytic " << grad[p.offset + kmax] << " fd " << fde);
      CHECK(rele <= 1e-6);
      out.max_rel_entry = std::max(out.max_rel_entry, rele);
      ++out.entries;
    }
  }
  m.set_parameters(theta0);
  return out;
}

}  // namespace train_test
