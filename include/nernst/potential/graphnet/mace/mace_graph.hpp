#pragma once
/// \file
/// \brief MACE's graph (spec item 1): every ordered pair (sender, receiver, lattice shift S) with
/// |r| < r_max, periodic self-images included, the atom itself (i == j, S = 0) excluded; the edge
/// vector r = x_receiver − x_sender + S·L points from the sender to the receiver.
///
/// mace builds it with matscipy's neighbour list; the edge *set* is what matters (any order gives
/// the same energy up to summation order), so the existing pymatgen-order builder is reused and
/// its few pairs in [r_max, r_max + tol) dropped.

#include <nernst/core/error.hpp>
#include <nernst/potential/graphnet/graph.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {
namespace mace {

/// Directed edges with their geometry (float64).
struct MACEGraph {
  std::vector<int> sender, receiver;
  std::vector<std::array<int, 3>> shift;   ///< S (integers): r = x_receiver − x_sender + S·L
  std::vector<std::array<double, 3>> vector;  ///< r, Å
  std::vector<double> length;                 ///< |r|, Å

  std::size_t size() const { return sender.size(); }

  /// Adds edge (s → r, S) when its length is below `cutoff`; returns whether it was added.
  bool add_within(int s, int r, const std::array<int, 3>& S, const std::vector<std::array<double, 3>>& x,
                  const Eigen::Matrix3d& L, double cutoff) {
    std::array<double, 3> v;
    for (int k = 0; k < 3; ++k)
      v[k] = x[static_cast<std::size_t>(r)][k] - x[static_cast<std::size_t>(s)][k] + S[0] * L(0, k) + S[1] * L(1, k) + S[2] * L(2, k);
    const double d = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    if (!(d < cutoff)) return false;
    sender.push_back(s);
    receiver.push_back(r);
    shift.push_back(S);
    vector.push_back(v);
    length.push_back(d);
    return true;
  }
};

/// Refuses (ValueError naming the edge) an edge whose sender or receiver is not one of n atoms.
inline void check_edge_atoms(const std::vector<int>& sender, const std::vector<int>& receiver, std::size_t n, const char* what) {
  for (std::size_t e = 0; e < sender.size(); ++e)
    if (sender[e] < 0 || receiver[e] < 0 || static_cast<std::size_t>(std::max(sender[e], receiver[e])) >= n)
      throw ValueError(std::string(what) + ": edge " + std::to_string(e) + " (" + std::to_string(sender[e]) + " -> " +
                       std::to_string(receiver[e]) + ") refers to an atom outside the " + std::to_string(n) + " atoms");
}

/// MACE's graph from a directed pair list (src → dst with image S, r = x_dst − x_src + S·L): a
/// host code's neighbour list, or an open cluster's (images zero). Pairs at or beyond r_max are
/// dropped, so a list built with a skin gives the same graph.
inline MACEGraph mace_graph_from(const PeriodicGraph& g, const std::vector<std::array<double, 3>>& x, const Eigen::Matrix3d& lattice,
                                 double r_max) {
  MACEGraph out;
  check_edge_atoms(g.src, g.dst, x.size(), "MACE graph");
  for (std::size_t e = 0; e < g.size(); ++e) {
    if (g.src[e] == g.dst[e] && g.image[e] == std::array<int, 3>{0, 0, 0}) continue;  // the atom itself
    out.add_within(g.src[e], g.dst[e], g.image[e], x, lattice, r_max);
  }
  return out;
}

/// Builds MACE's graph of a fully periodic cell (lattice vectors as rows, positions as given).
/// pymatgen's search keeps d² < r² + tol; the pairs at or beyond r_max are dropped here.
inline MACEGraph build_mace_graph(const std::vector<std::array<double, 3>>& x, const Eigen::Matrix3d& lattice, double r_max) {
  PeriodicGraph g;
  build_pymatgen_graph(x, lattice, r_max, g);
  return mace_graph_from(g, x, lattice, r_max);
}

}  // namespace mace
}  // namespace graphnet
NERNST_NAMESPACE_END
