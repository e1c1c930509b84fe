#pragma once
/// \file
/// \brief Neighbour statistics of an ordered structure: per element pair counts and distances,
/// per element coordination numbers (what `nernst info` prints).

#include <nernst/core/error.hpp>
#include <nernst/core/structure.hpp>
#include <nernst/neighbor/neighbor_list.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <vector>

NERNST_NAMESPACE_BEGIN

/// Unordered element pair {a, b} (a listed first in the structure's element order).
struct PairStatistics {
  int z_a = 0, z_b = 0;
  long pairs = 0;               ///< unordered pairs (i, j, S) with d < r_c, per cell
  double mean_distance = 0;     ///< Å (NaN when pairs == 0)
  double min_distance = 0;      ///< Å (NaN when pairs == 0)
};

/// Coordination of one element.
struct CoordinationStatistics {
  int z = 0;
  long atoms = 0;
  double nearest_distance = 0;  ///< shortest distance from any atom of this element (Å; +inf if none)
  double first_shell = 0;       ///< mean count of neighbours with d < factor × that atom's d_nn
  double total = 0;             ///< mean count of neighbours with d < r_c
  std::vector<double> by_element;  ///< mean count with d < r_c per neighbour element (order of `elements`)
};

struct NeighborStatistics {
  double cutoff = 0;
  double first_shell_factor = 0;
  std::size_t directed_pairs = 0;   ///< size of the full list
  int max_neighbors = 0;
  std::vector<int> elements;        ///< atomic numbers in order of first appearance
  std::vector<PairStatistics> pairs;  ///< all a <= b combinations in `elements` order
  std::vector<CoordinationStatistics> coordination;  ///< one per element
};

/// Statistics of the full neighbour list of an ordered structure with cutoff r_c (d < r_c).
/// The first shell of atom i is its neighbours closer than first_shell_factor × d_nn(i).
inline NeighborStatistics neighbor_statistics(const Structure& s, double cutoff, double first_shell_factor = 1.15) {
  const auto z = s.atomic_numbers();  // throws for disordered structures
  NeighborStatistics out;
  out.cutoff = cutoff;
  out.first_shell_factor = first_shell_factor;
  for (int zi : z)
    if (std::find(out.elements.begin(), out.elements.end(), zi) == out.elements.end()) out.elements.push_back(zi);
  const std::size_t ne = out.elements.size();
  std::vector<int> type(z.size());
  for (std::size_t i = 0; i < z.size(); ++i)
    type[i] = static_cast<int>(std::find(out.elements.begin(), out.elements.end(), z[i]) - out.elements.begin());

  const auto nl = build_neighbor_list(s, cutoff);
  out.directed_pairs = nl.num_pairs();
  out.max_neighbors = nl.max_neighbors;
  const Mat3<double> cell = s.lattice().to_mat3<double>();
  std::vector<Vec3<double>> x(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const Eigen::Vector3d r = s.cart(i);
    x[i] = Vec3<double>(r[0], r[1], r[2]);
  }

  const double inf = std::numeric_limits<double>::infinity();
  std::vector<long> count(ne * ne, 0);  // directed, [type_i * ne + type_j]
  std::vector<double> sum(ne * ne, 0.0), dmin(ne * ne, inf);
  out.coordination.resize(ne);
  for (std::size_t a = 0; a < ne; ++a) {
    out.coordination[a].z = out.elements[a];
    out.coordination[a].nearest_distance = inf;
    out.coordination[a].by_element.assign(ne, 0.0);
  }
  std::vector<double> d;
  for (int i = 0; i < static_cast<int>(s.size()); ++i) {
    const int ti = type[static_cast<std::size_t>(i)];
    auto& c = out.coordination[static_cast<std::size_t>(ti)];
    ++c.atoms;
    d.clear();
    double nn = inf;
    for (int p = nl.begin(i); p < nl.end(i); ++p) {
      const int j = nl.neighbors(p);
      const double r = std::sqrt(norm2(image_vector(x[static_cast<std::size_t>(i)], x[static_cast<std::size_t>(j)],
                                                    nl.shifts(p, 0), nl.shifts(p, 1), nl.shifts(p, 2), cell)));
      const std::size_t k = static_cast<std::size_t>(ti) * ne + static_cast<std::size_t>(type[static_cast<std::size_t>(j)]);
      ++count[k];
      sum[k] += r;
      dmin[k] = std::min(dmin[k], r);
      d.push_back(r);
      nn = std::min(nn, r);
    }
    long shell = 0;
    for (double r : d) shell += r < first_shell_factor * nn;
    c.first_shell += static_cast<double>(shell);
    c.total += static_cast<double>(d.size());
    c.nearest_distance = std::min(c.nearest_distance, nn);
  }
  for (std::size_t a = 0; a < ne; ++a) {
    auto& c = out.coordination[a];
    const double na = static_cast<double>(c.atoms);
    c.first_shell /= na;
    c.total /= na;
    for (std::size_t b = 0; b < ne; ++b) c.by_element[b] = static_cast<double>(count[a * ne + b]) / na;
  }
  for (std::size_t a = 0; a < ne; ++a)
    for (std::size_t b = a; b < ne; ++b) {
      PairStatistics ps;
      ps.z_a = out.elements[a];
      ps.z_b = out.elements[b];
      // The list is full, so each unordered pair appears twice (once from each end): for a ≠ b
      // once in [a][b] and once in [b][a]; for a = b twice in [a][a].
      const long directed = a == b ? count[a * ne + a] : count[a * ne + b] + count[b * ne + a];
      ps.pairs = directed / 2;
      const double total = a == b ? sum[a * ne + a] : sum[a * ne + b] + sum[b * ne + a];
      ps.mean_distance = directed > 0 ? total / static_cast<double>(directed) : std::nan("");
      ps.min_distance = directed > 0 ? std::min(dmin[a * ne + b], dmin[b * ne + a]) : std::nan("");
      out.pairs.push_back(ps);
    }
  return out;
}

NERNST_NAMESPACE_END
