#pragma once
/// \file
/// \brief The composition series: for each parent structure and each composition of a
/// substitution (substitution.hpp), enumerate the orderings of one supercell and rank them,
/// keeping the K lowest energies per atom with their ordered (or relaxed) structures.
///
/// The ranking is a callable `SeriesRanker(const CompositionProblem&) -> std::vector<SeriesConfig>`:
/// `ewald_series_ranker` (formal charges, EwaldRanker, the default) or `model_series_ranker`
/// (rank_by_model.hpp: static screen by the potential, relaxation of the best N, final ranking by
/// relaxed energy). Energies are whatever the ranker reports (Ewald energies are a ranking
/// energy, not a formation energy; hull and ΔE from them are a model of the electrostatics).
///
/// Resumable per composition: each finished (parent, k) is written atomically as
/// `<state_dir>/compositions/<parent>_k<k>.json` with a fingerprint of its inputs (parent,
/// supercell, counting options, k, the ranker's own fingerprint); a rerun reuses it, a file
/// written for other inputs is refused.
///
/// Two substitutions at once (`SeriesOptions::second`, composition_grid.hpp): every point
/// (x, y) of the grid inside the end-member triangle is one composition, enumerated and ranked
/// exactly the same way; its files are `<parent>_k<k1>_<k2>.json`.

#include <nernst/enumerate/ewald_ranker.hpp>
#include <nernst/enumerate/occupancy.hpp>
#include <nernst/enumerate/rank_by_model.hpp>
#include <nernst/enumerate/composition_grid.hpp>
#include <nernst/symmetry/symmetry_dataset.hpp>
#include <nernst/workflow/stage.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace enumerate {

/// One ranked configuration of one composition in one parent.
struct SeriesConfig {
  std::size_t rank = 0;        ///< 0 = lowest energy per atom
  double energy = 0;           ///< eV, the ranker's energy of `structure`
  Structure structure;         ///< the ordered cell (relaxed when the ranker relaxes)
  std::uint64_t ordering = 0;  ///< running number in the enumeration
  std::uint64_t degeneracy = 0;  ///< orbit size (0 when the ranker does not know it)

  double atoms() const { return static_cast<double>(structure.size()); }
  double energy_per_atom() const { return energy / atoms(); }
  double volume_per_atom() const { return structure.lattice().volume() / atoms(); }
};

/// What a ranker is handed for one composition.
struct CompositionProblem {
  const OrderingModel& model;
  const Enumerator<HNF>& enumerator;
  IMat3 hnf;
  const Enumerator<HNF>::ActiveGroup& group;
  std::uint64_t orderings = 0;       ///< the Burnside count of the supercell
  std::filesystem::path work_dir;    ///< for the ranker's own state (empty: none)
  std::string inputs;                ///< fingerprint of the composition's inputs
};

using SeriesRanker = std::function<std::vector<SeriesConfig>(const CompositionProblem&)>;

/// The result of one (parent, composition).
struct CompositionResult {
  std::string parent;
  SeriesComposition composition;
  std::optional<SeriesComposition> second;  ///< the second substitution's count (a grid), if any
  std::uint64_t orderings = 0;
  double seconds = 0;
  bool reused = false;  ///< read back from the state directory
  std::vector<SeriesConfig> configs;
};

struct SeriesParent {
  std::string name;     ///< short name used in files and tables (e.g. the file stem)
  Structure structure;
};

struct SeriesOptions {
  SubstitutionSpec substitution;
  std::optional<SubstitutionSpec> second;  ///< a second, independent substitution: the grid (composition_grid.hpp)
  CompositionRounding rounding = CompositionRounding::Skip;
  double x_tol = 1e-3;
  IMat3 supercell = IMat3::Identity();
  OrderingOptions ordering;            ///< counting of the parent's own disorder
  double max_structures = 1e8;         ///< refuse a composition with more orderings
  std::string ranker_fingerprint;      ///< what the ranker's answer depends on (guards resumed files)
  std::filesystem::path state_dir;     ///< empty: no resume files
  std::ostream* progress = nullptr;
};

// ---------------------------------------------------------------------------------------------
// Structures and results as JSON (the per-composition resume files)

inline nlohmann::json structure_json(const Structure& s) {
  const auto& m = s.lattice().matrix();
  nlohmann::json lat = nlohmann::json::array(), z = nlohmann::json::array(), frac = nlohmann::json::array();
  for (int i = 0; i < 3; ++i) lat.push_back({m(i, 0), m(i, 1), m(i, 2)});
  for (std::size_t i = 0; i < s.size(); ++i) {
    z.push_back(s[i].species.at(0).z);
    frac.push_back({s[i].frac[0], s[i].frac[1], s[i].frac[2]});
  }
  return {{"lattice", lat}, {"z", z}, {"frac", frac}};
}

inline Structure structure_from_json(const nlohmann::json& j) {
  Eigen::Matrix3d m;
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 3; ++k) m(i, k) = j.at("lattice").at(static_cast<std::size_t>(i)).at(static_cast<std::size_t>(k)).get<double>();
  Structure s{Lattice(m)};
  const auto& z = j.at("z");
  const auto& f = j.at("frac");
  if (z.size() != f.size()) throw ValueError("structure JSON: " + std::to_string(z.size()) + " species for " + std::to_string(f.size()) + " positions");
  for (std::size_t i = 0; i < z.size(); ++i)
    s.add_site(z[i].get<int>(), Eigen::Vector3d(f[i][0].get<double>(), f[i][1].get<double>(), f[i][2].get<double>()));
  return s;
}

inline nlohmann::json config_json(const SeriesConfig& c) {
  return {{"rank", c.rank}, {"energy_eV", c.energy}, {"ordering_index", c.ordering}, {"degeneracy", c.degeneracy},
          {"structure", structure_json(c.structure)}};
}

inline SeriesConfig config_from_json(const nlohmann::json& j) {
  SeriesConfig c;
  c.rank = j.at("rank").get<std::size_t>();
  c.energy = j.at("energy_eV").get<double>();
  c.ordering = j.at("ordering_index").get<std::uint64_t>();
  c.degeneracy = j.at("degeneracy").get<std::uint64_t>();
  c.structure = structure_from_json(j.at("structure"));
  return c;
}

/// The fingerprint of one composition's inputs (a binary series' fingerprint is unchanged by
/// the grid's keys, so earlier state directories still resume).
inline std::string composition_inputs(const SeriesParent& p, const SeriesComposition& c, const SeriesOptions& o,
                                      const std::optional<SeriesComposition>& second = std::nullopt) {
  nlohmann::json parent = structure_json(p.structure);
  nlohmann::json occ = nlohmann::json::array();
  for (const auto& st : p.structure.sites()) {
    nlohmann::json row = {st.label};
    for (const auto& sp : st.species) row.push_back({sp.z, sp.occupancy, sp.oxidation ? *sp.oxidation : 0.0});
    occ.push_back(row);
  }
  parent["species"] = occ;
  const IMat3& h = o.supercell;
  nlohmann::json in{{"parent", parent}, {"a", o.substitution.a}, {"b", o.substitution.b}, {"count", c.count},
                    {"sites", c.sites}, {"supercell", {h(0, 0), h(0, 1), h(0, 2), h(1, 0), h(1, 1), h(1, 2), h(2, 0), h(2, 1), h(2, 2)}},
                    {"mode", static_cast<int>(o.ordering.mode)}, {"rounding", static_cast<int>(o.ordering.rounding)},
                    {"counts", o.ordering.counts}, {"symprec", o.ordering.symprec}, {"ranker", o.ranker_fingerprint}};
  if (second && o.second) in["second"] = {o.second->a, o.second->b, second->count, second->sites};
  return inputs_fingerprint(in);
}

/// "k<k1>" or, on a grid, "k<k1>_<k2>": the composition's part of file and point names.
inline std::string composition_tag(const SeriesComposition& c, const std::optional<SeriesComposition>& second) {
  return "k" + std::to_string(c.count) + (second ? "_" + std::to_string(second->count) : std::string());
}

// ---------------------------------------------------------------------------------------------
// Rankers

/// The K orderings of lowest Ewald energy per atom (formal charges by atomic number).
inline SeriesRanker ewald_series_ranker(std::size_t top, std::map<int, double> charges, EwaldParameters ep = {}) {
  if (top < 1) throw ValueError("series: keep at least one configuration per composition (--top >= 1)");
  return [top, charges = std::move(charges), ep](const CompositionProblem& p) {
    struct Kept {
      std::vector<Label> labels;
      std::uint64_t ordering, orbit;
    };
    const EwaldRanker ewald(p.enumerator, p.group.group, p.group.active, p.model.label_charges(charges), ep);
    TopK<Kept> best(top);
    p.enumerator.run_supercell(p.hnf, [&](const Derivative& d) {
      const double key = ewald.energy(d.labels) / ewald.atoms(d.labels);
      if (best.admits(key))
        best.push(key, Kept{std::vector<Label>(d.labels, d.labels + d.active->size()), d.info.index, d.info.orbit_size});
    });
    std::vector<SeriesConfig> out;
    for (const auto& [key, k] : best.sorted()) {
      Derivative d;
      d.index = p.group.group.n;
      d.group = &p.group.group;
      d.active = &p.group.active;
      d.labels = k.labels.data();
      SeriesConfig c;
      c.rank = out.size();
      c.structure = p.enumerator.to_structure(d);
      c.energy = key * c.atoms();
      c.ordering = k.ordering;
      c.degeneracy = k.orbit;
      out.push_back(std::move(c));
    }
    return out;
  };
}

namespace detail {

/// The `top` lowest static energies of a screen as configurations on the ideal positions.
template <class Pot>
std::vector<SeriesConfig> static_configs(const CompositionProblem& p, Pot& pot, const ScreenResult& screen, std::size_t top) {
  ModelRanker<Pot> ranker(p.enumerator, p.group, pot);
  std::vector<SeriesConfig> out;
  for (const auto& e : screen.best) {
    if (out.size() >= top) break;
    SeriesConfig c;
    c.rank = out.size();
    c.energy = e.energy;
    c.structure = ranker.structure(e.labels.data());
    c.ordering = e.ordering;
    out.push_back(std::move(c));
  }
  return out;
}

/// The `top` lowest relaxed energies of rank_by_model's summary, the relaxed cells read back.
inline std::vector<SeriesConfig> relaxed_configs(const nlohmann::json& summary, std::size_t top) {
  std::vector<SeriesConfig> out;
  for (const auto& t : summary.at("top")) {
    if (out.size() >= top) break;
    SeriesConfig c;
    c.rank = out.size();
    c.energy = t.at("energy_eV").get<double>();
    c.structure = io::read_structure(t.at("file").get<std::string>());
    c.ordering = t.at("ordering_index").get<std::uint64_t>();
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace detail

/// Ranking by a potential. With `ro.relax_top` > 0: rank_by_model (static screen, relaxation of
/// the best relax_top, at least `top`), the `top` lowest relaxed energies with their relaxed
/// cells. With `ro.relax_top` = 0: the static screen alone, the `top` lowest static energies on
/// the ideal positions. `pot` must outlive the ranker. The screen and relaxations of each
/// composition live in its work directory (resumable).
template <class Pot>
SeriesRanker model_series_ranker(Pot& pot, std::size_t top, ModelScreenOptions so, RelaxRankingOptions ro,
                                 std::map<int, double> charges) {
  if (top < 1) throw ValueError("series: keep at least one configuration per composition (--top >= 1)");
  if (ro.relax_top > 0 && ro.relax_top < top) ro.relax_top = top;
  so.screen.keep = std::max({so.screen.keep, ro.relax_top, top});
  return [&pot, top, so, ro, charges = std::move(charges)](const CompositionProblem& p) {
    ModelScreenOptions s = so;
    RelaxRankingOptions r = ro;
    if (s.prefilter_ewald > 0) s.label_charges = p.model.label_charges(charges);
    s.screen.inputs = p.inputs;
    if (!p.work_dir.empty()) {
      s.screen.state_file = p.work_dir / "screen.json";
      r.state_dir = p.work_dir;
      r.out_dir = p.work_dir / "structures";
    }
    if (r.relax_top == 0) return detail::static_configs(p, pot, model_screen(p.enumerator, p.hnf, pot, p.orderings, s), top);
    return detail::relaxed_configs(rank_by_model(p.enumerator, p.hnf, p.orderings, pot, s, r), top);
  };
}

// ---------------------------------------------------------------------------------------------
// Running the series

namespace detail {

inline std::filesystem::path composition_file(const SeriesOptions& o, const std::string& parent, const std::string& tag) {
  return o.state_dir / "compositions" / (parent + "_" + tag + ".json");
}

inline nlohmann::json result_json(const CompositionResult& r, const std::string& inputs) {
  nlohmann::json cs = nlohmann::json::array();
  for (const auto& c : r.configs) cs.push_back(config_json(c));
  nlohmann::json j{{"inputs", inputs}, {"parent", r.parent}, {"count", r.composition.count}, {"sites", r.composition.sites},
                   {"requested", r.composition.requested}, {"how", r.composition.how}, {"orderings", r.orderings},
                   {"seconds", r.seconds}, {"configs", cs}};
  if (r.second) j["count2"] = r.second->count, j["sites2"] = r.second->sites;
  return j;
}

/// A finished composition from the state directory, if there is one (refused when it was
/// written for other inputs).
inline std::optional<CompositionResult> load_composition(const std::filesystem::path& f, const std::string& inputs,
                                                         const std::string& parent, const SeriesComposition& c,
                                                         const std::optional<SeriesComposition>& second) {
  if (!std::filesystem::exists(f)) return std::nullopt;
  const nlohmann::json j = workflow::read_json(f);
  try {
    if (j.at("inputs").get<std::string>() != inputs)
      throw ValueError("series: '" + f.string() + "' was written for different inputs (parent, supercell, counting, "
                       "composition or ranking): remove it or use another --out directory");
    CompositionResult r;
    r.parent = parent;
    r.composition = c;
    r.second = second;
    r.orderings = j.at("orderings").get<std::uint64_t>();
    r.seconds = j.at("seconds").get<double>();
    r.reused = true;
    for (const auto& cj : j.at("configs")) r.configs.push_back(config_from_json(cj));
    return r;
  } catch (const nlohmann::json::exception& e) {
    throw ParseError(f.string(), 0, std::string("not a series composition file: ") + e.what());
  }
}

}  // namespace detail

/// The parent with the composition's substitution(s) applied.
inline Structure substituted(const SeriesParent& parent, const SeriesComposition& c, const std::optional<SeriesComposition>& second,
                             const SeriesOptions& o) {
  if (!second) return substitute(parent.structure, o.substitution.a, o.substitution.b, c);
  if (!o.second) throw ValueError("series: a grid composition without a second substitution");
  return substitute_grid(parent.structure, o.substitution, *o.second, {c, *second});
}

/// Enumerates and ranks one composition of one parent (`second`: its count of the second
/// substitution, on a grid).
inline CompositionResult run_composition(const SeriesParent& parent, const SeriesComposition& c, const SeriesOptions& o,
                                         const SeriesRanker& rank, const std::filesystem::path& work_dir = {},
                                         const std::optional<SeriesComposition>& second = std::nullopt) {
  const auto t0 = std::chrono::steady_clock::now();
  const OrderingModel model(substituted(parent, c, second, o), o.ordering);
  const Enumerator<HNF> e(model.multilattice(), model.derivative_options(false));
  const IMat3 hnf = hermite_normal_form(o.supercell);
  const auto ag = e.active_group(hnf);
  const std::uint64_t bc = burnside_count(e.problem(ag.group.n, model.label_counts(ag.group.n)), ag.perms);
  if (static_cast<double>(bc) > o.max_structures)
    throw ValueError("series: " + parent.name + " at x = " + std::to_string(c.x()) + (second ? ", y = " + std::to_string(second->x()) : "") +
                     " has " + std::to_string(bc) +
                     " orderings, above --max-structures " + std::to_string(static_cast<std::uint64_t>(o.max_structures)));
  CompositionResult r;
  r.parent = parent.name;
  r.composition = c;
  r.second = second;
  r.orderings = bc;
  r.configs = rank(CompositionProblem{model, e, hnf, ag, bc, work_dir, composition_inputs(parent, c, o, second)});
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

namespace detail {
/// Sublattice sites of one substitution in the supercell (parent sites × supercell index).
inline long supercell_sites(const SeriesParent& p, const SubstitutionSpec& s, const SeriesOptions& o) {
  const long n = static_cast<long>(std::llround(o.supercell.cast<double>().determinant()));
  return n * static_cast<long>(sublattice_sites(p.structure, s.a, s.b).size());
}
}  // namespace detail

/// The compositions of the series for one parent (sublattice size × supercell index).
inline CompositionPlan series_plan(const SeriesParent& p, const SeriesOptions& o) {
  return plan_compositions(o.substitution, detail::supercell_sites(p, o.substitution, o), o.rounding, o.x_tol);
}

/// The grid of both substitutions for one parent (composition_grid.hpp; needs `o.second`).
inline GridPlan grid_plan(const SeriesParent& p, const SeriesOptions& o) {
  if (!o.second) throw ValueError("series: grid_plan needs a second substitution");
  check_independent(o.substitution, *o.second);
  return plan_grid(o.substitution, detail::supercell_sites(p, o.substitution, o), *o.second, detail::supercell_sites(p, *o.second, o),
                   o.rounding, o.x_tol);
}

/// The compositions run for one parent: the 1-D plan, or the grid's points inside the triangle.
inline std::vector<GridComposition> planned_compositions(const SeriesParent& p, const SeriesOptions& o) {
  std::vector<GridComposition> out;
  if (o.second) return grid_plan(p, o).used;
  for (const auto& c : series_plan(p, o).used) out.push_back({c, {}});
  return out;
}

namespace detail {
/// One composition, reused from the state directory when already finished there.
inline CompositionResult run_or_reuse(const SeriesParent& p, const SeriesComposition& c, const std::optional<SeriesComposition>& second,
                                      const SeriesOptions& o, const SeriesRanker& rank) {
  const std::string inputs = composition_inputs(p, c, o, second), tag = composition_tag(c, second);
  const auto file = o.state_dir.empty() ? std::filesystem::path() : composition_file(o, p.name, tag);
  if (auto r = file.empty() ? std::nullopt : load_composition(file, inputs, p.name, c, second)) return std::move(*r);
  const auto work = o.state_dir.empty() ? std::filesystem::path() : o.state_dir / "work" / (p.name + "_" + tag);
  CompositionResult r = run_composition(p, c, o, rank, work, second);
  if (!file.empty()) workflow::write_file_atomic(file, result_json(r, inputs).dump(1));
  return r;
}
}  // namespace detail

/// Every parent × composition, each reused from the state directory when already finished.
inline std::vector<CompositionResult> run_series(const std::vector<SeriesParent>& parents, const SeriesOptions& o,
                                                 const SeriesRanker& rank) {
  std::vector<CompositionResult> out;
  for (const auto& p : parents)
    for (const auto& g : planned_compositions(p, o)) {
      const auto second = o.second ? std::optional<SeriesComposition>(g.second) : std::nullopt;
      CompositionResult r = detail::run_or_reuse(p, g.first, second, o, rank);
      if (o.progress) {
        *o.progress << "series: " << p.name << " x = " << g.first.x() << " (" << g.first.count << "/" << g.first.sites << ")";
        if (second) *o.progress << ", y = " << second->x() << " (" << second->count << "/" << second->sites << ")";
        *o.progress << ": " << r.orderings << " orderings, best " << (r.configs.empty() ? 0.0 : r.configs[0].energy_per_atom())
                    << " eV/atom, " << (r.reused ? "reused" : std::to_string(r.seconds) + " s") << "\n" << std::flush;
      }
      out.push_back(std::move(r));
    }
  return out;
}

}  // namespace enumerate
NERNST_NAMESPACE_END
