#pragma once
/// \file
/// \brief Per-residual losses (MSE, Huber) and the weighted energy/force/stress loss of a batch.
///
/// Residuals: energy per atom (eV/atom), force components (eV/Å), stress components in GPa
/// (so that the customary weights, e.g. CHGNet's 1 : 1 : 0.1 or 1 : 1.5 : 0.15, keep their
/// meaning). Each term is a weighted mean over its residuals, structures weighted by
/// Sample::weight:
///
///     L = w_e Σ_s w_s ℓ(r_e,s) / Σ_s w_s
///       + w_f Σ_s w_s Σ_ik ℓ(r_f,sik) / Σ_s w_s 3N_s
///       + w_σ Σ_s w_s Σ_ab ℓ(r_σ,sab) / Σ_s w_s 9          (structures with that label only)

#include <nernst/core/error.hpp>
#include <nernst/core/macros.hpp>

#include <cmath>
#include <string>

NERNST_NAMESPACE_BEGIN
namespace train {

enum class LossKind { mse, huber };

/// ℓ(r) and its derivative.
struct Loss {
  LossKind kind = LossKind::mse;
  double delta = 0.1;  ///< Huber δ (ℓ quadratic for |r| ≤ δ, linear beyond)

  double value(double r) const {
    if (kind == LossKind::mse) return r * r;
    const double a = std::abs(r);
    return a <= delta ? 0.5 * r * r : delta * (a - 0.5 * delta);
  }
  double derivative(double r) const {
    if (kind == LossKind::mse) return 2 * r;
    return std::abs(r) <= delta ? r : (r > 0 ? delta : -delta);
  }

  static Loss parse(const std::string& s, double delta = 0.1) {
    if (s == "mse") return {LossKind::mse, delta};
    if (s == "huber") return {LossKind::huber, delta};
    throw ValueError("unknown loss '" + s + "' (expected mse or huber)");
  }
};

/// Weights of the energy, force and stress terms.
struct LossWeights {
  double energy = 1.0, forces = 1.0, stress = 0.1;
};

}  // namespace train
NERNST_NAMESPACE_END
