#pragma once
/// \file
/// \brief MACEConfig: the hyper-parameters and per-element constants of a mace-torch
/// `ScaleShiftMACE` (spec: shared/specs/mace.md), and the irreps of every block they imply.

#include <nernst/core/error.hpp>
#include <nernst/potential/graphnet/mace/irreps.hpp>

#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {
namespace mace {

/// Interaction block classes this native code evaluates.
enum class InteractionKind {
  Residual,    ///< RealAgnosticResidualInteractionBlock: skip_tp of the input features, added after the product
  NonResidual  ///< RealAgnosticInteractionBlock: skip_tp mixes the messages per element, no residual
};

inline const char* interaction_class_name(InteractionKind k) {
  return k == InteractionKind::Residual ? "RealAgnosticResidualInteractionBlock" : "RealAgnosticInteractionBlock";
}

/// Hyper-parameters of a ScaleShiftMACE model.
struct MACEConfig {
  double r_max = 5.0;                        ///< graph cutoff and envelope radius, Å
  int num_bessel = 8;                        ///< radial basis size
  int p = 5;                                 ///< polynomial envelope order
  int max_ell = 3;                           ///< spherical harmonics degree
  Irreps hidden_irreps;                      ///< e.g. 128x0e+128x1o
  int correlation = 3;                       ///< body order of the product basis
  std::vector<InteractionKind> interactions; ///< one per layer
  Irreps mlp_irreps;                         ///< hidden irreps of the last readout (16x0e)
  double avg_num_neighbors = 1.0;
  std::vector<int> atomic_numbers;           ///< element index = position in this list
  std::vector<double> e0;                    ///< eV per atom of each element (same order)
  double scale = 1.0, shift = 0.0;           ///< interaction energy scale and shift
  std::vector<int> radial_mlp{64, 64, 64};   ///< hidden widths of the radial MLP
  double act_constant = 1.0;                 ///< normalize2mom(silu) constant

  int num_interactions() const { return static_cast<int>(interactions.size()); }
  int num_elements() const { return static_cast<int>(atomic_numbers.size()); }
  /// Channels C: the multiplicity of the scalar block of hidden_irreps.
  int channels() const { return hidden_irreps.size() ? hidden_irreps[0].mul : 0; }

  /// Element index of atomic number z; throws ValueError when the model lacks it.
  int element_index(int z) const {
    for (std::size_t i = 0; i < atomic_numbers.size(); ++i)
      if (atomic_numbers[i] == z) return static_cast<int>(i);
    throw ValueError("MACE: atomic number " + std::to_string(z) + " is not among the model's " +
                     std::to_string(atomic_numbers.size()) + " elements");
  }

  /// Features entering layer t: C x 0e for the first, hidden_irreps after.
  Irreps node_irreps(int t) const { return t == 0 ? scalar_irreps() : hidden_irreps; }
  /// Features leaving layer t: hidden_irreps, only the scalars after the last layer.
  Irreps layer_out_irreps(int t) const { return t + 1 == num_interactions() ? scalar_irreps() : hidden_irreps; }
  /// Target irreps of the messages: C x (0e + 1o + ... + max_ell).
  Irreps target_irreps() const { return spherical_irreps(max_ell, channels()); }
  Irreps scalar_irreps() const { return Irreps{{{channels(), {0, 1}}}}; }

  /// Throws ValueError (prefixed by `where`) when the configuration is outside what is implemented.
  void validate(const std::string& where) const {
    auto fail = [&](const std::string& why) { throw NotSupported(where + ": " + why); };
    if (!(r_max > 0)) fail("r_max must be positive");
    if (num_bessel < 1 || p < 1 || max_ell < 0 || max_ell > 3) fail("need num_bessel >= 1, p >= 1, 0 <= max_ell <= 3");
    if (correlation < 1 || correlation > 3) fail("correlation " + std::to_string(correlation) + " (1..3 supported)");
    if (interactions.empty()) fail("no interaction layers");
    if (hidden_irreps.size() == 0 || hidden_irreps[0].ir != Irrep{0, 1}) fail("hidden_irreps must start with the scalars");
    for (const auto& m : hidden_irreps.items)
      if (m.mul != channels() || m.ir.p != (m.ir.l % 2 ? -1 : 1) || m.ir.l > max_ell)
        fail("hidden_irreps " + hidden_irreps.str() + " must be C x (0e + 1o + ...) up to max_ell");
    if (atomic_numbers.empty() || e0.size() != atomic_numbers.size()) fail("atomic_numbers / E0 missing or of different lengths");
    if (!(avg_num_neighbors > 0)) fail("avg_num_neighbors must be positive");
  }
};

}  // namespace mace
}  // namespace graphnet
NERNST_NAMESPACE_END
