#pragma once
/// \file
/// \brief Undirected bonds and the bond graph (angles between short bonds) of a directed
/// periodic graph: CHGNet's `Graph.undirected2directed` and line graph (spec chgnet.md §2.2–2.3).
///
/// * Every directed edge (i → j, image n) pairs with its reverse (j → i, −n) into one undirected
///   bond; the bond's representative is the first of the two in edge order.
/// * Bond-graph nodes: bonds of length ≤ r_b (float64 search distances).
/// * Angles: ordered pairs (e, e′) of distinct directed edges leaving the same atom c, where e's
///   bond is a bond-graph node and e′ is shorter than r_b (strict). Self-image pairs (i → i, ±n)
///   and pairs to the same neighbour through different images are included.

#include <nernst/core/error.hpp>
#include <nernst/potential/graphnet/graph.hpp>

#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {

struct BondGraph {
  std::vector<int> edge_bond;  ///< [E] undirected bond of each directed edge
  std::vector<int> bond_edge;  ///< [U] representative directed edge of each bond
  std::vector<int> bond_node;  ///< [U] bond-graph node of each bond, −1 when longer than r_b
  std::vector<int> node_bond;  ///< [Ub] bond of each bond-graph node (ascending)
  // One entry per angle record τ = (c, e1, e2): angle between directed edges e1, e2 at atom c.
  std::vector<int> angle_center;  ///< c
  std::vector<int> angle_edge1;   ///< e1 (its bond receives the bond-convolution message)
  std::vector<int> angle_edge2;   ///< e2
  std::vector<int> angle_node1;   ///< bond-graph node of e1's bond
  std::vector<int> angle_node2;   ///< bond-graph node of e2's bond

  std::size_t bonds() const { return bond_edge.size(); }
  std::size_t nodes() const { return node_bond.size(); }
  std::size_t angles() const { return angle_center.size(); }
};

/// Builds the bonds and the bond graph of `g` (edges grouped by source atom, as build_pymatgen_graph
/// writes them). Throws ValueError when an edge has no reverse (not a symmetric neighbour list).
inline void build_bond_graph(const PeriodicGraph& g, std::size_t natoms, double bond_cutoff, BondGraph& bg) {
  const std::size_t E = g.size();
  // CSR of edges by source atom (no ordering assumption).
  std::vector<int> start(natoms + 1, 0), order(E);
  for (std::size_t e = 0; e < E; ++e) {
    const int s = g.src[e];
    if (s < 0 || static_cast<std::size_t>(s) >= natoms || g.dst[e] < 0 || static_cast<std::size_t>(g.dst[e]) >= natoms)
      throw ValueError("bond graph: edge " + std::to_string(e) + " refers to an atom outside 0.." + std::to_string(natoms));
    ++start[static_cast<std::size_t>(s) + 1];
  }
  for (std::size_t i = 0; i < natoms; ++i) start[i + 1] += start[i];
  {
    std::vector<int> fill(start.begin(), start.end() - 1);
    for (std::size_t e = 0; e < E; ++e) order[static_cast<std::size_t>(fill[static_cast<std::size_t>(g.src[e])]++)] = static_cast<int>(e);
  }

  bg.edge_bond.assign(E, -1);
  bg.bond_edge.clear();
  for (std::size_t e = 0; e < E; ++e) {
    if (bg.edge_bond[e] >= 0) continue;
    const int i = g.src[e], j = g.dst[e];
    const auto& n = g.image[e];
    int rev = -1;
    for (int k = start[static_cast<std::size_t>(j)]; k < start[static_cast<std::size_t>(j) + 1]; ++k) {
      const int f = order[static_cast<std::size_t>(k)];
      const auto fs = static_cast<std::size_t>(f);
      if (fs == e || g.dst[fs] != i || bg.edge_bond[fs] >= 0) continue;
      const auto& m = g.image[fs];
      if (m[0] == -n[0] && m[1] == -n[1] && m[2] == -n[2]) {
        rev = f;
        break;
      }
    }
    if (rev < 0)
      throw ValueError("bond graph: directed edge " + std::to_string(i) + " -> " + std::to_string(j) + " image (" +
                       std::to_string(n[0]) + "," + std::to_string(n[1]) + "," + std::to_string(n[2]) +
                       ") has no reverse edge");
    const int u = static_cast<int>(bg.bond_edge.size());
    bg.bond_edge.push_back(static_cast<int>(e));
    bg.edge_bond[e] = u;
    bg.edge_bond[static_cast<std::size_t>(rev)] = u;
  }

  // Bond-graph nodes: representative length ≤ r_b (or either direction < r_b, which only
  // differs by rounding, so that every angle partner below has a node).
  const std::size_t U = bg.bond_edge.size();
  bg.bond_node.assign(U, -1);
  bg.node_bond.clear();
  for (std::size_t u = 0; u < U; ++u)
    if (g.distance[static_cast<std::size_t>(bg.bond_edge[u])] <= bond_cutoff) {
      bg.bond_node[u] = static_cast<int>(bg.node_bond.size());
      bg.node_bond.push_back(static_cast<int>(u));
    }
  for (std::size_t e = 0; e < E; ++e) {
    const auto u = static_cast<std::size_t>(bg.edge_bond[e]);
    if (g.distance[e] < bond_cutoff && bg.bond_node[u] < 0) {
      bg.bond_node[u] = static_cast<int>(bg.node_bond.size());
      bg.node_bond.push_back(static_cast<int>(u));
    }
  }

  for (auto* v : {&bg.angle_center, &bg.angle_edge1, &bg.angle_edge2, &bg.angle_node1, &bg.angle_node2}) v->clear();
  std::vector<int> firsts, partners;
  for (std::size_t c = 0; c < natoms; ++c) {
    firsts.clear();
    partners.clear();
    for (int k = start[c]; k < start[c + 1]; ++k) {
      const int e = order[static_cast<std::size_t>(k)];
      const auto es = static_cast<std::size_t>(e);
      if (bg.bond_node[static_cast<std::size_t>(bg.edge_bond[es])] >= 0) firsts.push_back(e);
      if (g.distance[es] < bond_cutoff) partners.push_back(e);
    }
    for (int e1 : firsts)
      for (int e2 : partners) {
        if (e1 == e2) continue;
        bg.angle_center.push_back(static_cast<int>(c));
        bg.angle_edge1.push_back(e1);
        bg.angle_edge2.push_back(e2);
        bg.angle_node1.push_back(bg.bond_node[static_cast<std::size_t>(bg.edge_bond[static_cast<std::size_t>(e1)])]);
        bg.angle_node2.push_back(bg.bond_node[static_cast<std::size_t>(bg.edge_bond[static_cast<std::size_t>(e2)])]);
      }
  }
}

}  // namespace graphnet
NERNST_NAMESPACE_END
