#pragma once
/// \file
/// \brief Phase stability of a composition series (composition_series.hpp): formation energies
/// relative to the end members, the convex hull and E_hull of every ranked configuration
/// (analysis/hull.hpp), the ΔE table between two parents, the per-composition summary
/// (lowest energy, space group, volume per atom) and the Boltzmann selection by E_hull with
/// strained copies that makes a training set (sampling/boltzmann.hpp, strain.hpp).
///
/// Definitions:
///  - x: the B fraction on the sublattice (k/N of the composition).
///  - End members: the compositions at x = 0 and x = 1 (from the ranked configurations; the
///    lowest energy per atom among the entries of an end member's composition, over all parents,
///    is its reference). A series without both ends has no formation energies or hull.
///  - ΔE(x) = E(parent 1) − E(parent 2), the lowest energies per atom at x, in meV/atom (the
///    paper's Table 3: ΔE = E(P-3c1) − E(C2); > 0 means parent 2 is more stable).
///  - Two substitutions (a grid, composition_grid.hpp): y is the second substitution's fraction;
///    the end members are the compositions at (x, y) = (0, 0), (1, 0) and (0, 1), the hull is
///    ternary (analysis/hull.hpp) with its facets (ternary_hull_facets), and ΔE is tabulated
///    per grid point (x, y).

#include <nernst/analysis/hull.hpp>
#include <nernst/enumerate/composition_series.hpp>
#include <nernst/io/frame.hpp>
#include <nernst/sampling/boltzmann.hpp>
#include <nernst/sampling/strain.hpp>

#include <array>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace enumerate {

/// A ranked configuration placed in the series.
struct SeriesPoint {
  std::size_t result = 0, config = 0;  ///< indices into the results and their configs
  std::string parent, name;
  double x = 0;
  double y = std::numeric_limits<double>::quiet_NaN();  ///< the second substitution's fraction (a grid)
  double energy_per_atom = 0;          ///< eV/atom
  double formation = std::numeric_limits<double>::quiet_NaN();     ///< E_f, eV/atom
  double e_above_hull = std::numeric_limits<double>::quiet_NaN();  ///< eV/atom
  bool on_hull = false;
};

struct SeriesAnalysis {
  std::vector<SeriesPoint> points;               ///< every ranked configuration
  bool has_hull = false;
  std::string hull_note;                         ///< why there is no hull, when there is none
  std::vector<double> reference_energies;        ///< eV/atom of the end members: x = 0, x = 1 (grid: (0,0), (1,0), (0,1))
  std::vector<analysis::PolymorphRow> delta;     ///< parent 1 vs parent 2 (e_a: parent 2, e_b: parent 1)
  std::vector<double> delta_y;                   ///< grid: y of each ΔE row (empty for one substitution)
  bool ternary = false;                          ///< two substitutions: a ternary hull
  std::vector<std::array<std::size_t, 3>> hull_facets;  ///< ternary: facets as indices into `points`
  std::vector<std::string> end_member_formulas;  ///< reduced formulas of the end members
  std::string parent1, parent2;
};

/// Composition (atomic number → atoms) of a structure.
inline std::map<int, double> composition_of(const Structure& s) {
  std::map<int, double> c;
  for (int z : s.atomic_numbers()) c[z] += 1;
  return c;
}

inline std::string point_name(const CompositionResult& r, const SeriesConfig& c) {
  return r.parent + "/" + composition_tag(r.composition, r.second) + "/r" + std::to_string(c.rank);
}

namespace detail {

inline std::vector<analysis::HullEntry> hull_entries(const std::vector<CompositionResult>& results) {
  std::vector<analysis::HullEntry> entries;
  for (const auto& r : results)
    for (const auto& c : r.configs) entries.push_back({point_name(r, c), composition_of(c.structure), c.energy});
  return entries;
}

/// The end-member compositions (x = 0 and x = 1; on a grid (0, 0), (1, 0), (0, 1)), if the
/// series has them all: the lowest configuration of each (for its composition and formula).
inline std::optional<std::vector<Structure>> end_members(const std::vector<CompositionResult>& results, bool grid) {
  std::vector<std::optional<Structure>> ends(grid ? 3 : 2);
  for (const auto& r : results) {
    if (r.configs.empty()) continue;
    const long k1 = r.composition.count, n1 = r.composition.sites, k2 = r.second ? r.second->count : 0,
               n2 = r.second ? r.second->sites : 1;
    const int corner = k1 == 0 && k2 == 0 ? 0 : k1 == n1 && k2 == 0 ? 1 : k1 == 0 && k2 == n2 && grid ? 2 : -1;
    if (corner >= 0 && !ends[static_cast<std::size_t>(corner)]) ends[static_cast<std::size_t>(corner)] = r.configs[0].structure;
  }
  std::vector<Structure> out;
  for (const auto& e : ends) {
    if (!e) return std::nullopt;
    out.push_back(*e);
  }
  return out;
}

/// (x, y) of a result (y = 0 without a second substitution).
inline std::pair<double, double> xy_of(const CompositionResult& r) { return {r.composition.x(), r.second ? r.second->x() : 0.0}; }

/// ΔE rows between the first two parents (by order of appearance).
inline void delta_table(const std::vector<CompositionResult>& results, SeriesAnalysis& a) {
  std::vector<std::string> parents;
  for (const auto& r : results)
    if (std::find(parents.begin(), parents.end(), r.parent) == parents.end()) parents.push_back(r.parent);
  if (parents.size() < 2) return;
  a.parent1 = parents[0], a.parent2 = parents[1];
  std::vector<analysis::HullEntry> e1, e2;
  std::map<std::string, double> x_of;
  // On a grid, rows are keyed by the index of the point (x, y) and translated back below.
  std::vector<std::pair<double, double>> keys;
  auto key_of = [&](const CompositionResult& r) {
    if (!a.ternary) return r.composition.x();
    const auto p = xy_of(r);
    const auto it = std::find(keys.begin(), keys.end(), p);
    if (it != keys.end()) return static_cast<double>(it - keys.begin());
    keys.push_back(p);
    return static_cast<double>(keys.size() - 1);
  };
  for (const auto& r : results)
    for (const auto& c : r.configs) {
      analysis::HullEntry e{point_name(r, c), composition_of(c.structure), c.energy};
      x_of[e.name] = key_of(r);
      if (r.parent == a.parent1) e1.push_back(e);
      if (r.parent == a.parent2) e2.push_back(e);
    }
  // polymorph_energy_table gives E_b − E_a; with a = parent 2, b = parent 1 that is E1 − E2.
  a.delta = analysis::polymorph_energy_table(e2, e1, [&](const analysis::HullEntry& e) { return x_of.at(e.name); }, a.ternary ? 0.25 : 1e-6);
  if (!a.ternary) return;
  for (auto& d : a.delta) {
    const auto p = keys.at(static_cast<std::size_t>(std::llround(d.x)));
    d.x = p.first;
    a.delta_y.push_back(p.second);
  }
}

/// The ternary hull's facets and the end members' formulas.
inline void hull_shape(const analysis::ConvexHull& hull, const std::vector<Structure>& ends, SeriesAnalysis& a) {
  for (const auto& e : ends) a.end_member_formulas.push_back(e.formula(true));
  if (a.ternary) a.hull_facets = analysis::ternary_hull_facets(hull);
}

}  // namespace detail

namespace detail {
/// Every ranked configuration as a point (energies only; hull quantities NaN).
inline std::vector<SeriesPoint> series_points(const std::vector<CompositionResult>& results) {
  std::vector<SeriesPoint> out;
  for (std::size_t i = 0; i < results.size(); ++i)
    for (std::size_t k = 0; k < results[i].configs.size(); ++k) {
      const auto& c = results[i].configs[k];
      SeriesPoint p;
      p.result = i, p.config = k, p.parent = results[i].parent, p.name = point_name(results[i], c);
      p.x = results[i].composition.x();
      if (results[i].second) p.y = results[i].second->x();
      p.energy_per_atom = c.energy_per_atom();
      out.push_back(p);
    }
  return out;
}
}  // namespace detail

/// Formation energies, hull, E_hull and the ΔE table of a series (binary or, on a grid, ternary).
inline SeriesAnalysis analyse_series(const std::vector<CompositionResult>& results) {
  SeriesAnalysis a;
  a.ternary = !results.empty() && results[0].second.has_value();
  a.points = detail::series_points(results);
  detail::delta_table(results, a);
  const auto ends = detail::end_members(results, a.ternary);
  if (!ends) {
    a.hull_note = a.ternary ? "the grid has no configuration at one of (x, y) = (0, 0), (1, 0), (0, 1): no formation energies, hull or E_hull"
                            : "the series has no configuration at x = 0 or at x = 1: no formation energies, hull or E_hull";
    return a;
  }
  std::vector<std::map<int, double>> end_compositions;
  for (const auto& e : *ends) end_compositions.push_back(composition_of(e));
  const analysis::ConvexHull hull(end_compositions, detail::hull_entries(results));
  a.has_hull = true;
  a.reference_energies = hull.reference_energies();
  for (std::size_t i = 0; i < a.points.size(); ++i) {
    const auto& hp = hull.points()[i];
    a.points[i].formation = hp.formation;
    a.points[i].e_above_hull = hp.e_above_hull;
    a.points[i].on_hull = hp.on_hull;
  }
  detail::hull_shape(hull, *ends, a);
  return a;
}

/// Per parent and composition: the lowest configuration's energy, space group and volume.
struct CompositionSummary {
  std::string parent;
  double x = 0;
  long count = 0, sites = 0;
  std::uint64_t orderings = 0;
  double energy_per_atom = 0, volume_per_atom = 0;
  int space_group_number = 0;
  std::string space_group;
  double seconds = 0;
};

inline std::vector<CompositionSummary> summarise_series(const std::vector<CompositionResult>& results, double symprec = 0.1) {
  std::vector<CompositionSummary> out;
  for (const auto& r : results) {
    CompositionSummary s;
    s.parent = r.parent, s.x = r.composition.x(), s.count = r.composition.count, s.sites = r.composition.sites;
    s.orderings = r.orderings, s.seconds = r.seconds;
    s.energy_per_atom = s.volume_per_atom = std::numeric_limits<double>::quiet_NaN();
    if (!r.configs.empty()) {
      const auto& best = r.configs[0];
      s.energy_per_atom = best.energy_per_atom();
      s.volume_per_atom = best.volume_per_atom();
      try {
        std::tie(s.space_group_number, s.space_group) = symmetry::space_group(best.structure, symprec);
      } catch (const Error&) {
        s.space_group = "?";
      }
    }
    out.push_back(s);
  }
  return out;
}

/// The training set: `select` configurations drawn by Boltzmann weight of E_hull at T (without
/// replacement, seeded), each followed by `strained` copies with random symmetric strains of at
/// most ±max_strain. Frames carry parent, x, rank, E_hull and the strain in their info.
struct TrainingSetOptions {
  double temperature = 300;  ///< K
  std::size_t select = 20;
  std::size_t strained = 2;
  double max_strain = 0.03;
  std::uint64_t seed = 1;
};

inline std::vector<io::Frame> training_set(const std::vector<CompositionResult>& results, const SeriesAnalysis& a,
                                           const TrainingSetOptions& o) {
  if (!a.has_hull) throw ValueError("series: no hull (" + a.hull_note + "), so no Boltzmann selection by E_hull");
  std::vector<double> eh;
  for (const auto& p : a.points) eh.push_back(p.e_above_hull);
  std::vector<io::Frame> frames;
  for (std::size_t pick : sampling::boltzmann_select(eh, o.temperature, o.select, o.seed)) {
    const SeriesPoint& p = a.points[pick];
    const Structure& s = results[p.result].configs[p.config].structure;
    io::Frame f;
    f.structure = s;
    f.info = {{"config", p.name}, {"parent", p.parent}, {"x", std::to_string(p.x)},
              {"e_above_hull_eV_atom", std::to_string(p.e_above_hull)}, {"strain", "0"}};
    if (std::isfinite(p.y)) f.info["y"] = std::to_string(p.y);
    frames.push_back(f);
    std::vector<Eigen::Matrix3d> eps;
    const auto copies = sampling::strain_augment(s, o.strained, o.max_strain, o.seed + pick + 1, &eps);
    for (std::size_t k = 0; k < copies.size(); ++k) {
      io::Frame g = f;
      g.structure = copies[k];
      std::string e;
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) e += (e.empty() ? "" : " ") + std::to_string(eps[k](i, j));
      g.info["strain"] = e;
      frames.push_back(std::move(g));
    }
  }
  return frames;
}

}  // namespace enumerate
NERNST_NAMESPACE_END
