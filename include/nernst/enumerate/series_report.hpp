#pragma once
/// \file
/// \brief The outputs of a composition series: `series.json` (per composition and parent, every
/// ranked configuration with E_f and E_hull, the ΔE table, skipped compositions), `table.md`
/// (the ΔE table in the paper's Table 3 layout), `hull.svg` (E_f vs x with the hull line) and
/// `delta_e.svg` (ΔE vs x), `training_set.extxyz` (the Boltzmann selection with strained copies).
/// On a grid (two substitutions) the compositions carry y, the ΔE table is per (x, y), and the
/// hull figure is the composition triangle (analysis/ternary_plot.hpp), `hull.svg` + `hull.png`.

#include <nernst/analysis/png.hpp>
#include <nernst/analysis/svg_plot.hpp>
#include <nernst/analysis/ternary_plot.hpp>
#include <nernst/enumerate/series_analysis.hpp>
#include <nernst/io/extxyz.hpp>

#include <algorithm>
#include <cstdio>
#include <sstream>

NERNST_NAMESPACE_BEGIN
namespace enumerate {

namespace detail {
inline nlohmann::json num_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }
}  // namespace detail

inline nlohmann::json series_json(const std::vector<CompositionResult>& results, const SeriesAnalysis& a,
                                  const std::vector<CompositionSummary>& summary) {
  using detail::num_or_null;
  nlohmann::json comps = nlohmann::json::array();
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    const auto& s = summary[i];
    nlohmann::json configs = nlohmann::json::array();
    for (const auto& p : a.points)
      if (p.result == i) {
        const auto& c = r.configs[p.config];
        configs.push_back({{"rank", c.rank}, {"energy_per_atom_eV", p.energy_per_atom}, {"formation_eV_atom", num_or_null(p.formation)},
                           {"e_above_hull_eV_atom", num_or_null(p.e_above_hull)}, {"on_hull", p.on_hull},
                           {"volume_per_atom_A3", c.volume_per_atom()}, {"ordering_index", c.ordering}, {"degeneracy", c.degeneracy}});
      }
    nlohmann::json cj{{"parent", r.parent}, {"x", r.composition.x()}, {"count", r.composition.count}, {"sites", r.composition.sites},
                      {"requested_x", r.composition.requested}, {"how", r.composition.how}, {"orderings", r.orderings},
                      {"lowest_energy_per_atom_eV", num_or_null(s.energy_per_atom)},
                      {"space_group", {{"symbol", s.space_group}, {"number", s.space_group_number}}},
                      {"volume_per_atom_A3", num_or_null(s.volume_per_atom)}, {"seconds", r.seconds}, {"reused", r.reused},
                      {"configs", configs}};
    if (r.second)
      cj["y"] = r.second->x(), cj["count2"] = r.second->count, cj["sites2"] = r.second->sites, cj["requested_y"] = r.second->requested;
    comps.push_back(cj);
  }
  nlohmann::json delta = nlohmann::json::array();
  for (std::size_t i = 0; i < a.delta.size(); ++i) {
    const auto& d = a.delta[i];
    delta.push_back({{"x", d.x}, {"e_parent1_eV_atom", num_or_null(d.e_b)}, {"e_parent2_eV_atom", num_or_null(d.e_a)},
                     {"delta_meV_atom", num_or_null(d.delta_meV)}});
    if (i < a.delta_y.size()) delta.back()["y"] = a.delta_y[i];
  }
  nlohmann::json j{{"compositions", comps}, {"delta_e", delta}, {"parent1", a.parent1}, {"parent2", a.parent2},
                   {"delta_definition", "E(parent1) - E(parent2), lowest energies per atom, meV/atom"},
                   {"has_hull", a.has_hull}};
  j["composition_space"] = a.ternary ? "ternary" : "binary";
  if (a.has_hull) {
    j["end_member_energies_eV_atom"] = a.reference_energies;
    j["end_members"] = a.end_member_formulas;
  } else {
    j["hull_note"] = a.hull_note;
  }
  if (a.ternary && a.has_hull) {
    nlohmann::json facets = nlohmann::json::array();
    for (const auto& f : a.hull_facets) facets.push_back({a.points[f[0]].name, a.points[f[1]].name, a.points[f[2]].name});
    j["hull_facets"] = facets;
  }
  return j;
}

/// The ΔE table (paper's Table 3 layout): x | E(parent1) | E(parent2) | ΔE (meV/atom).
inline std::string delta_table_markdown(const SeriesAnalysis& a) {
  std::ostringstream o;
  if (a.delta.empty()) {
    o << "No ΔE table: the series has one parent.\n";
    return o.str();
  }
  const bool grid = !a.delta_y.empty();
  o << (grid ? "| x | y " : "| x ") << "| E(" << a.parent1 << ") (eV/atom) | E(" << a.parent2 << ") (eV/atom) | ΔE (meV/atom) |\n"
    << (grid ? "|---|---|---|---|---|\n" : "|---|---|---|---|\n");
  char b[256];
  auto cell = [&](double v, const char* f) {
    if (!std::isfinite(v)) return std::string("–");
    std::snprintf(b, sizeof b, f, v);
    return std::string(b);
  };
  for (std::size_t i = 0; i < a.delta.size(); ++i) {
    const auto& d = a.delta[i];
    o << "| " << cell(d.x, "%.4f") << (grid ? " | " + cell(a.delta_y[i], "%.4f") : "") << " | " << cell(d.e_b, "%.6f") << " | " << cell(d.e_a, "%.6f") << " | " << cell(d.delta_meV, "%.2f")
      << " |\n";
  }
  o << "\nΔE = E(" << a.parent1 << ") − E(" << a.parent2 << "): > 0 means " << a.parent2 << " is more stable.\n";
  return o.str();
}

inline std::string delta_plot_svg(const SeriesAnalysis& a) {
  analysis::Plot p;
  p.title = "ΔE = E(" + a.parent1 + ") − E(" + a.parent2 + ")";
  p.xlabel = "x (substituted fraction)";
  p.ylabel = "ΔE (meV/atom)";
  analysis::PlotSeries s;
  for (const auto& d : a.delta)
    if (std::isfinite(d.delta_meV)) s.x.push_back(d.x), s.y.push_back(d.delta_meV);
  s.label = "ΔE";
  analysis::PlotSeries zero;
  if (!s.x.empty()) zero.x = {s.x.front(), s.x.back()}, zero.y = {0.0, 0.0};
  zero.dashed = true, zero.color = "#888888", zero.label = "0";
  analysis::PlotSeries pts = s;
  pts.points = true, pts.label = "";
  p.series = {s, pts, zero};
  return analysis::render_svg(p);
}

/// E_f (meV/atom) of every ranked configuration vs x, one colour per parent, with the hull line.
inline std::string hull_plot_svg(const SeriesAnalysis& a) {
  static const char* colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"};
  analysis::Plot p;
  p.title = "Formation energy and convex hull";
  p.xlabel = "x (substituted fraction)";
  p.ylabel = "E_f (meV/atom)";
  std::vector<std::string> parents;
  for (const auto& pt : a.points)
    if (std::find(parents.begin(), parents.end(), pt.parent) == parents.end()) parents.push_back(pt.parent);
  for (std::size_t k = 0; k < parents.size(); ++k) {
    analysis::PlotSeries s;
    s.points = true, s.label = parents[k], s.color = colors[k % 5];
    for (const auto& pt : a.points)
      if (pt.parent == parents[k] && std::isfinite(pt.formation)) s.x.push_back(pt.x), s.y.push_back(1000 * pt.formation);
    p.series.push_back(s);
  }
  std::vector<std::pair<double, double>> on;
  for (const auto& pt : a.points)
    if (pt.on_hull) on.emplace_back(pt.x, 1000 * pt.formation);
  std::sort(on.begin(), on.end());
  analysis::PlotSeries hull;
  hull.label = "hull", hull.color = "black";
  for (const auto& [x, y] : on)
    if (hull.x.empty() || x > hull.x.back() + 1e-12) hull.x.push_back(x), hull.y.push_back(y);
  p.series.push_back(hull);
  return analysis::render_svg(p);
}

/// The composition triangle: every configuration at its end-member fractions (1 − x − y, x, y)
/// coloured by E_hull (meV/atom), hull vertices ringed, hull facets drawn.
inline std::string ternary_hull_svg(const SeriesAnalysis& a) {
  analysis::TernaryPlot p;
  p.title = "Energy above the convex hull";
  for (std::size_t k = 0; k < 3; ++k) {
    static const char* where[] = {"(x, y) = (0, 0)", "(1, 0)", "(0, 1)"};
    p.corners[k] = (k < a.end_member_formulas.size() ? a.end_member_formulas[k] + " " : std::string()) + where[k];
  }
  for (const auto& pt : a.points) {
    p.points.push_back({1 - pt.x - pt.y, pt.x, pt.y});
    p.values.push_back(1000 * pt.e_above_hull);
    p.marked.push_back(pt.on_hull);
  }
  p.facets = a.hull_facets;
  return analysis::render_ternary_svg(p);
}

/// Writes series.json, table.md, hull.svg, delta_e.svg and training_set.extxyz into `dir`.
/// Returns the JSON summary.
inline nlohmann::json write_series_outputs(const std::filesystem::path& dir, const std::vector<CompositionResult>& results,
                                           const SeriesAnalysis& a, const TrainingSetOptions& to,
                                           const nlohmann::json& extra = nlohmann::json::object()) {
  std::filesystem::create_directories(dir);
  nlohmann::json j = series_json(results, a, summarise_series(results));
  for (const auto& [k, v] : extra.items()) j[k] = v;
  workflow::write_file_atomic(dir / "table.md", delta_table_markdown(a));
  if (!a.delta.empty() && !a.ternary) workflow::write_file_atomic(dir / "delta_e.svg", delta_plot_svg(a));  // ΔE(x): one substitution
  if (a.has_hull) {
    if (a.ternary) analysis::write_svg_and_png(ternary_hull_svg(a), (dir / "hull.svg").string());
    else workflow::write_file_atomic(dir / "hull.svg", hull_plot_svg(a));
    std::ostringstream ts;
    const auto frames = training_set(results, a, to);
    for (const auto& f : frames) io::write_extxyz_frame(ts, f);
    workflow::write_file_atomic(dir / "training_set.extxyz", ts.str());
    j["training_set"] = {{"frames", frames.size()}, {"selected", to.select}, {"strained_copies", to.strained},
                         {"max_strain", to.max_strain}, {"temperature_K", to.temperature}, {"seed", to.seed}};
  }
  workflow::write_file_atomic(dir / "series.json", j.dump(1));
  return j;
}

}  // namespace enumerate
NERNST_NAMESPACE_END
