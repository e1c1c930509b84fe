#pragma once
/// \file
/// \brief The layout of MACE's convolution tensor product `conv_tp` (spec item 7): which
/// (node irrep, spherical harmonic, output irrep) paths exist, in which order, with which
/// Wigner 3j block.

#include <nernst/core/error.hpp>
#include <nernst/potential/graphnet/mace/irreps.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <tuple>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {
namespace mace {

/// One `uvu` path: block i_in1 of the node features ⊗ block i_in2 of the harmonics → output block i_out.
struct ConvInstruction {
  int i_in1 = 0, i_in2 = 0, i_out = 0;
  int l1 = 0, l2 = 0, l3 = 0;
};

/// Paths and output irreps of conv_tp as mace's `tp_out_irreps_with_instructions` builds them:
/// every (irrep of the node features, harmonic l2, l3 in l1 ⊗ l2 with the product parity) whose
/// irrep is among the targets, outputs then sorted by irrep (stable) and the paths by output.
struct ConvLayout {
  Irreps irreps_out;
  std::vector<ConvInstruction> instructions;

  /// Number of per-edge weights (one per channel and path).
  int weight_numel(const Irreps& node) const {
    int n = 0;
    for (const auto& i : instructions) n += node[static_cast<std::size_t>(i.i_in1)].mul;
    return n;
  }

  static ConvLayout build(const Irreps& node, const Irreps& sh, const Irreps& target) {
    Irreps out;
    std::vector<ConvInstruction> ins;
    for (std::size_t a = 0; a < node.size(); ++a)
      for (std::size_t b = 0; b < sh.size(); ++b) {
        const Irrep i1 = node[a].ir, i2 = sh[b].ir;
        for (int l3 = std::abs(i1.l - i2.l); l3 <= i1.l + i2.l; ++l3) {
          const Irrep i3{l3, i1.p * i2.p};
          if (target.find(i3) < 0) continue;
          ins.push_back({static_cast<int>(a), static_cast<int>(b), static_cast<int>(out.size()), i1.l, i2.l, l3});
          out.items.push_back({node[a].mul, i3});
        }
      }
    // Irreps.sort(): by (l, p), ties by position.
    std::vector<int> order(out.size());
    for (std::size_t k = 0; k < order.size(); ++k) order[k] = static_cast<int>(k);
    std::stable_sort(order.begin(), order.end(), [&](int x, int y) {
      const Irrep a = out[static_cast<std::size_t>(x)].ir, b = out[static_cast<std::size_t>(y)].ir;
      return std::make_tuple(a.l, a.p) < std::make_tuple(b.l, b.p);
    });
    std::vector<int> inv(order.size());
    ConvLayout L;
    for (std::size_t k = 0; k < order.size(); ++k) {
      inv[static_cast<std::size_t>(order[k])] = static_cast<int>(k);
      L.irreps_out.items.push_back(out[static_cast<std::size_t>(order[k])]);
    }
    for (auto& i : ins) i.i_out = inv[static_cast<std::size_t>(i.i_out)];
    std::stable_sort(ins.begin(), ins.end(), [](const ConvInstruction& x, const ConvInstruction& y) { return x.i_out < y.i_out; });
    L.instructions = std::move(ins);
    return L;
  }
};

/// Name of the buffer in which e3nn's compiled tensor product keeps W3j(l1, l2, l3).
inline std::string w3j_buffer_name(int l1, int l2, int l3) {
  return "_w3j_" + std::to_string(l1) + "_" + std::to_string(l2) + "_" + std::to_string(l3);
}

/// True for the paths e3nn's specialised code evaluates without a stored W3j (one of the three
/// degrees is 0: the coupling is δ / sqrt(2l+1)).
inline bool w3j_is_implicit(const ConvInstruction& i) { return i.l1 == 0 || i.l2 == 0 || i.l3 == 0; }

/// W3j(l1, l2, l3) as a flat [2l1+1][2l2+1][2l3+1] array for a path with a zero degree.
inline std::vector<double> implicit_w3j(const ConvInstruction& i) {
  const int d1 = 2 * i.l1 + 1, d2 = 2 * i.l2 + 1, d3 = 2 * i.l3 + 1;
  std::vector<double> w(static_cast<std::size_t>(d1 * d2 * d3), 0.0);
  const int d = std::max(d1, std::max(d2, d3));
  const double c = 1.0 / std::sqrt(static_cast<double>(d));
  for (int m = 0; m < d; ++m) {
    const int a = d1 == 1 ? 0 : m, b = d2 == 1 ? 0 : m, e = d3 == 1 ? 0 : m;
    w[static_cast<std::size_t>((a * d2 + b) * d3 + e)] = c;
  }
  return w;
}

}  // namespace mace
}  // namespace graphnet
NERNST_NAMESPACE_END
