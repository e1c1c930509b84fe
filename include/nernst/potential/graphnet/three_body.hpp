#pragma once
/// \file
/// \brief Three-body triplets of M3GNet, with matgl's index handling or the repaired variant.
///
/// Triplets are ordered pairs (a, b) of distinct bonds of the same centre atom that are both
/// within the three-body cutoff (d ≤ 4 Å). matgl numbers them on the pruned bond list and then
/// uses the pruned ids a, b and the segment id as if they were full-graph edge ids (spec §5.3):
///   - the gate atom is dst_full[b], the envelopes are fc(d_full[a]) fc(d_full[b]),
///   - the sum goes to full edge seg(t), with seg from a cumulative-sum rule that collapses
///     segments behind atoms with exactly one short bond.
/// The geometry (angle, |w|) always comes from the right bonds P[a], P[b]. The pretrained
/// weights were fitted with this behaviour, so `ThreeBodyMode::matgl` is the default; `smooth`
/// maps every id through P (energy independent of the edge order, continuous in the positions).

#include <nernst/core/error.hpp>
#include <nernst/core/macros.hpp>

#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {

enum class ThreeBodyMode {
  matgl,  ///< reproduce matgl 2.0.4 exactly (pruned ids used as full-graph ids)
  smooth  ///< repaired: ids mapped back to the full graph
};

/// Triplet index lists (host), one entry per triplet.
struct Triplets {
  std::vector<int> bond_u;     ///< full edge giving u (geometry)
  std::vector<int> bond_w;     ///< full edge giving w (geometry; ρ = |w|)
  std::vector<int> env_a;      ///< full edge whose envelope weights the triplet (first factor)
  std::vector<int> env_b;      ///< second envelope factor
  std::vector<int> gate_atom;  ///< atom whose gate s multiplies the triplet
  std::vector<int> target;     ///< full edge the triplet's message is summed onto
  std::size_t size() const { return bond_u.size(); }
  void clear() {
    for (auto* v : {&bond_u, &bond_w, &env_a, &env_b, &gate_atom, &target}) v->clear();
  }
};

/// Builds the triplets from the edge list (grouped by src ascending) and the model's edge
/// lengths `d` (any scalar convertible to double). `pruned` receives the ids of the short bonds.
template <class DistanceArray>
void build_triplets(const std::vector<int>& src, const std::vector<int>& dst, const DistanceArray& d,
                    std::size_t natoms, double threebody_cutoff, ThreeBodyMode mode, Triplets& t,
                    std::vector<int>& pruned) {
  t.clear();
  pruned.clear();
  const std::size_t E = src.size();
  for (std::size_t e = 1; e < E; ++e)
    if (src[e] < src[e - 1]) throw ValueError("M3GNet three-body: edges must be grouped by source atom (ascending)");
  std::vector<int> count(natoms, 0), first(natoms + 1, 0);
  for (std::size_t e = 0; e < E; ++e)
    if (static_cast<double>(d[e]) <= threebody_cutoff) {
      pruned.push_back(static_cast<int>(e));
      ++count[static_cast<std::size_t>(src[e])];
    }
  for (std::size_t i = 0; i < natoms; ++i) first[i + 1] = first[i] + count[i];
  std::size_t T = 0;
  int last_used = -1;  // largest pruned id in any triplet
  for (std::size_t i = 0; i < natoms; ++i) {
    T += static_cast<std::size_t>(count[i]) * static_cast<std::size_t>(count[i] > 0 ? count[i] - 1 : 0);
    if (count[i] > 1) last_used = first[i + 1] - 1;
  }
  if (T == 0) return;
  for (auto* v : {&t.bond_u, &t.bond_w, &t.env_a, &t.env_b, &t.gate_atom, &t.target}) v->reserve(T);

  // matgl's segment ids: C_j = ns_0 + ... + ns_j for j = 0..M-2 (M = last_used + 1) marks where
  // a new segment starts; seg(t) = number of marks at positions <= t.
  std::vector<int> seg;
  if (mode == ThreeBodyMode::matgl) {
    std::vector<char> mark(T, 0);
    long long c = 0;
    for (int k = 0; k + 1 <= last_used; ++k) {
      c += count[static_cast<std::size_t>(src[static_cast<std::size_t>(pruned[static_cast<std::size_t>(k)])])] - 1;
      if (c >= 0 && static_cast<std::size_t>(c) < T) mark[static_cast<std::size_t>(c)] = 1;
    }
    seg.resize(T);
    int s = 0;
    for (std::size_t k = 0; k < T; ++k) {
      s += mark[k];
      seg[k] = s;
    }
  }

  std::size_t k = 0;
  for (std::size_t i = 0; i < natoms; ++i) {
    const int c0 = first[i], n = count[i];
    for (int a = 0; a < n; ++a)
      for (int b = 0; b < n; ++b) {
        if (a == b) continue;
        const int pa = c0 + a, pb = c0 + b;  // pruned ids
        const int fa = pruned[static_cast<std::size_t>(pa)], fb = pruned[static_cast<std::size_t>(pb)];
        t.bond_u.push_back(fa);
        t.bond_w.push_back(fb);
        if (mode == ThreeBodyMode::matgl) {
          t.env_a.push_back(pa);
          t.env_b.push_back(pb);
          t.gate_atom.push_back(dst[static_cast<std::size_t>(pb)]);
          t.target.push_back(seg[k]);
        } else {
          t.env_a.push_back(fa);
          t.env_b.push_back(fb);
          t.gate_atom.push_back(dst[static_cast<std::size_t>(fb)]);
          t.target.push_back(fa);
        }
        ++k;
      }
  }
}

}  // namespace graphnet
NERNST_NAMESPACE_END
