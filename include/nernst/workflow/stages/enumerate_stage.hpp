#pragma once
/// \file
/// \brief The pipeline's first stage, `enumerate`: the orderings of a fixed supercell of the
/// parent (Hart–Forcade, Enumerator<HNF>), ranked by formal-charge Ewald energy or by the
/// potential's static energy, the best K written as POSCARs.
///
/// Inputs: the parent structure and the options (supercell, occupancy mode, rounding, K, how to
/// rank). Output (`enumerate/done.json`): {parent_formula, count, burnside_count, counts,
/// top: [{rank, file, ewald_eV_per_atom | static_eV_per_atom, degeneracy, atoms}]} and the files
/// `enumerate/top<k>.vasp`. Resume rule: the whole stage reruns unless done; ranking by the model
/// checkpoints its screen into `enumerate/screen.json` and continues part-way.

#include <nernst/enumerate/ewald_ranker.hpp>
#include <nernst/enumerate/model_ranker.hpp>
#include <nernst/enumerate/occupancy.hpp>
#include <nernst/io/read.hpp>
#include <nernst/workflow/pipeline_run.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace workflow {

/// The enumerate stage's parameters (its rerun key).
inline nlohmann::json enumerate_parameters(const PipelineOptions& o) {
  nlohmann::json p{{"structure", std::filesystem::absolute(o.structure).string()},
                   {"supercell", {{o.supercell(0, 0), o.supercell(0, 1), o.supercell(0, 2)},
                                  {o.supercell(1, 0), o.supercell(1, 1), o.supercell(1, 2)},
                                  {o.supercell(2, 0), o.supercell(2, 1), o.supercell(2, 2)}}},
                   {"occupancy_mode", o.occupancy_mode}, {"rounding", o.rounding}, {"top_k", o.top_k}};
  if (o.rank == "model")  // only then: earlier Ewald runs keep their parameters (and resume)
    p["rank"] = {{"by", "model"}, {"potential", o.potential_name}, {"prefilter_ewald", o.prefilter_ewald}};
  return p;
}

namespace detail {

inline std::map<int, double> default_charges() {
  return {{1, 1},  {3, 1},  {11, 1}, {19, 1}, {37, 1}, {55, 1}, {12, 2}, {20, 2}, {38, 2}, {56, 2}, {13, 3},
          {21, 3}, {31, 3}, {39, 3}, {49, 3}, {57, 3}, {40, 4}, {72, 4}, {9, -1}, {17, -1}, {35, -1}, {53, -1},
          {8, -2}, {16, -2}, {34, -2}, {7, -3}};
}

/// Formal charges for the Ewald ranking: the options', else the CIF's oxidation states over the defaults.
inline std::map<int, double> formal_charges(const PipelineOptions& o, const Structure& parent) {
  if (!o.charges.empty()) return o.charges;
  std::map<int, double> charges = default_charges();
  for (const auto& site : parent.sites())
    for (const auto& sp : site.species)
      if (sp.oxidation) charges[sp.z] = *sp.oxidation;
  return charges;
}

/// An ordered parent has nothing to enumerate: the supercell itself (every lattice point of it,
/// found by brute force over a box) is the only ordering.
inline Structure ordered_supercell(const Structure& parent, const Eigen::Matrix3i& supercell) {
  Structure s(Lattice(supercell.cast<double>() * parent.lattice().matrix()));
  const Eigen::Matrix3d inv = supercell.cast<double>().inverse();
  const int m = static_cast<int>(std::llround(std::abs(supercell.cast<double>().determinant())));
  for (int a = -m; a <= m; ++a)
    for (int b = -m; b <= m; ++b)
      for (int c = -m; c <= m; ++c)
        for (const auto& site : parent.sites()) {
          Eigen::Vector3d f = inv.transpose() * (site.frac + Eigen::Vector3d(a, b, c));
          if ((f.array() < -1e-9).any() || (f.array() >= 1 - 1e-9).any()) continue;
          s.add_site(site.z(), f, site.label);
        }
  return s;
}

using ActiveGroup = enumerate::Enumerator<enumerate::HNF>::ActiveGroup;

/// One ordering kept by the ranking.
struct KeptOrdering {
  std::vector<enumerate::Label> labels;
  nlohmann::json orbit;  ///< degeneracy (null when ranked by the model)
  int atoms;
};
using RankedOrderings = std::vector<std::pair<double, KeptOrdering>>;  ///< by increasing energy per atom

/// The K lowest formal-charge Ewald energies per atom; `count` = orderings seen.
inline RankedOrderings rank_by_ewald(const enumerate::Enumerator<enumerate::HNF>& e, const enumerate::IMat3& hnf,
                                     const ActiveGroup& ag, const std::vector<double>& label_charges,
                                     const EwaldParameters& ep, std::size_t k, std::uint64_t& count) {
  using namespace enumerate;
  EwaldRanker ranker(e, ag.group, ag.active, label_charges, ep);
  TopK<KeptOrdering> top(k);
  count = 0;
  e.run_supercell(hnf, [&](const Derivative& d) {
    ++count;
    const double en = ranker.energy(d.labels);
    const int atoms = ranker.atoms(d.labels);
    const double key = en / atoms;
    if (top.admits(key)) top.push(key, KeptOrdering{std::vector<Label>(d.labels, d.labels + d.active->size()), d.info.orbit_size, atoms});
  });
  return top.sorted();
}

/// The K lowest static energies per atom with the potential (every ordering, or the Ewald top
/// `prefilter_ewald`); the screen checkpoints into `dir/screen.json`, so a killed run continues part-way.
template <class Factory>
RankedOrderings rank_by_model(PipelineRun<Factory>& run, const enumerate::Enumerator<enumerate::HNF>& e, const enumerate::IMat3& hnf,
                              const std::vector<double>& label_charges, const EwaldParameters& ep, std::uint64_t orderings,
                              const std::filesystem::path& dir, nlohmann::json& r) {
  using namespace enumerate;
  auto pot = run.make_potential();
  ModelScreenOptions so;
  so.prefilter_ewald = run.o.prefilter_ewald;
  so.label_charges = label_charges;
  so.ewald = ep;
  so.screen.keep = run.o.top_k;
  so.screen.state_file = dir / "screen.json";
  so.screen.inputs = inputs_fingerprint(enumerate_parameters(run.o));
  so.screen.progress = run.o.quiet ? nullptr : &std::cerr;
  const ScreenResult sr = model_screen(e, hnf, pot, orderings, so);
  RankedOrderings best;
  for (const auto& b : sr.best) best.push_back({b.energy_per_atom, KeptOrdering{b.labels, nullptr, b.atoms}});
  r["count"] = sr.counters.orderings;
  r["model_evaluations"] = sr.counters.evaluated;
  return best;
}

/// Writes the kept orderings as `dir/top<k>.vasp`, best first; returns the stage's `top` list.
inline nlohmann::json write_kept_orderings(const enumerate::Enumerator<enumerate::HNF>& e, long n, const ActiveGroup& ag,
                                           const RankedOrderings& best, bool by_model, const std::filesystem::path& dir) {
  using namespace enumerate;
  nlohmann::json files = nlohmann::json::array();
  std::size_t k = 0;
  for (const auto& [key, kept] : best) {
    Derivative d;
    d.index = n;
    d.group = &ag.group;
    d.active = &ag.active;
    d.labels = kept.labels.data();
    const std::string name = "top" + std::to_string(k) + ".vasp";
    io::write_structure((dir / name).string(), e.to_structure(d), io::Format::Poscar);
    files.push_back({{"rank", k}, {"file", name}, {"ewald_eV_per_atom", by_model ? nlohmann::json(nullptr) : nlohmann::json(key)},
                     {"degeneracy", kept.orbit}, {"atoms", kept.atoms}});
    if (by_model) files.back()["static_eV_per_atom"] = key;
    ++k;
  }
  return files;
}

/// The stage body for a disordered parent.
template <class Factory>
nlohmann::json enumerate_orderings(PipelineRun<Factory>& run, const std::filesystem::path& dir) {
  using namespace enumerate;
  const PipelineOptions& o = run.o;
  nlohmann::json r;
  r["parent_formula"] = run.parent.formula();
  OrderingOptions oo;
  oo.mode = parse_occupancy_mode(o.occupancy_mode);
  oo.rounding = parse_rounding(o.rounding);
  const OrderingModel model(run.parent, oo);
  const Enumerator<HNF> e(model.multilattice(), model.derivative_options(false));
  IMat3 m = IMat3::Zero();
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) m(j, i) = o.supercell(i, j);  // rows -> columns
  const IMat3 hnf = hermite_normal_form(m);
  const auto ag = e.active_group(hnf);
  const long n = ag.group.n;
  const LabelingProblem prob = e.problem(n, model.label_counts(n));
  const std::uint64_t bc = burnside_count(prob, ag.perms);
  r["burnside_count"] = bc;
  if (static_cast<double>(bc) > o.max_orderings)
    throw ValueError("pipeline: " + std::to_string(bc) + " orderings in this supercell, above the limit " +
                     std::to_string(static_cast<std::uint64_t>(o.max_orderings)));
  nlohmann::json counts = nlohmann::json::array();
  for (const auto& it : model.items(n)) counts.push_back({{"item", it.name}, {"exact", it.exact}, {"used", it.used}, {"how", it.how}});
  r["counts"] = counts;
  EwaldParameters ep;
  ep.accuracy = 1e-8;
  const std::vector<double> label_charges = model.label_charges(formal_charges(o, run.parent));
  const bool by_model = o.rank == "model";
  RankedOrderings best;
  if (by_model) {
    best = rank_by_model(run, e, hnf, label_charges, ep, bc, dir, r);
  } else {
    std::uint64_t count = 0;
    best = rank_by_ewald(e, hnf, ag, label_charges, ep, o.top_k, count);
    r["count"] = count;
  }
  r["top"] = write_kept_orderings(e, n, ag, best, by_model, dir);
  return r;
}

}  // namespace detail

/// Runs (or skips, when done) the enumerate stage; returns its result.
template <class Factory>
nlohmann::json enumerate_stage(PipelineRun<Factory>& run) {
  return run.runner.run("enumerate", enumerate_parameters(run.o), run.n_est * 1000, [&](const std::filesystem::path& dir) {
    if (!run.parent.is_ordered()) return detail::enumerate_orderings(run, dir);
    io::write_structure((dir / "top0.vasp").string(), detail::ordered_supercell(run.parent, run.o.supercell), io::Format::Poscar);
    nlohmann::json top = nlohmann::json::array();
    top.push_back({{"rank", 0}, {"file", "top0.vasp"}, {"ewald_eV_per_atom", nullptr}, {"degeneracy", 1}});
    return nlohmann::json{{"parent_formula", run.parent.formula()}, {"count", 1}, {"top", top}};
  });
}

}  // namespace workflow
NERNST_NAMESPACE_END
