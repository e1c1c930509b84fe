#pragma once
// `nernst series PARENT.cif [PARENT2.cif ...] --substitute Cl:Br=0..1:0.25 [--supercell "1 1 1"]
// [--rank ewald|model] [--model M] [--top K] [--out DIR]`: phase stability across a composition
// series (enumerate/composition_series.hpp, series_analysis.hpp, series_report.hpp). Each
// parent × composition is enumerated and ranked (Ewald by default, or by the model with
// relaxation), resumable per composition in DIR/state; DIR gets series.json, table.md (ΔE
// between the first two parents), hull.svg, delta_e.svg and training_set.extxyz. A second
// --substitute (another sublattice, e.g. Y:In) makes a grid of compositions analysed in the
// triangle of the end members (0,0), (1,0), (0,1) (enumerate/composition_grid.hpp): ternary
// hull, hull.svg/png as the composition triangle.

#include <CLI/CLI.hpp>

#include <nernst/enumerate/series_report.hpp>
#include <nernst/io/read.hpp>

#include "cmd_enumerate.hpp"
#include "model_choice.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace nernst::cli {

namespace detail_series {

struct Options {
  std::vector<std::string> parents;
  std::vector<std::string> substitute;
  std::string supercell = "1 1 1", composition_rounding = "skip", mode = "per-element", rounding = "error", counts,
              charges, rank = "ewald", model = "default", precision = "double", prefilter, out = "series";
  double x_tol = 1e-3, max_structures = 1e8, symprec = 1e-3, accuracy = 1e-8;
  std::size_t top = 5;
  enumerate::RelaxRankingOptions relax;
  enumerate::TrainingSetOptions training;
  bool quiet = false;
};

/// Parents named by their file stems (made unique with a suffix).
inline std::vector<enumerate::SeriesParent> read_parents(const Options& o) {
  std::vector<enumerate::SeriesParent> out;
  for (const auto& path : o.parents) {
    std::string name = std::filesystem::path(path).stem().string();
    for (const auto& p : out)
      if (p.name == name) name += "_" + std::to_string(out.size() + 1);
    out.push_back({name, io::read_structure(path)});
  }
  return out;
}

/// Formal charges of every parent's species (CLI, CIF oxidation states, common values): the
/// first parent's value wins; ranking_charges has already put the CLI's values into each map.
inline std::map<int, double> series_charges(const std::vector<enumerate::SeriesParent>& parents, const std::string& cli) {
  std::map<int, double> q;
  for (const auto& p : parents)
    for (const auto& [z, v] : detail_enumerate::ranking_charges(p.structure, cli)) q.emplace(z, v);
  return q;
}

inline enumerate::SeriesOptions series_options(const Options& o) {
  enumerate::SeriesOptions so;
  if (o.substitute.empty() || o.substitute.size() > 2)
    throw ValueError("series: give --substitute once (a series) or twice (a grid on two sublattices), not " +
                     std::to_string(o.substitute.size()) + " times");
  so.substitution = enumerate::parse_substitution(o.substitute[0]);
  if (o.substitute.size() == 2) so.second = enumerate::parse_substitution(o.substitute[1]);
  so.rounding = enumerate::parse_composition_rounding(o.composition_rounding);
  so.x_tol = o.x_tol;
  so.supercell = detail_enumerate::parse_supercell(o.supercell);
  detail_enumerate::Options eo;
  eo.mode = o.mode, eo.rounding = o.rounding, eo.counts = o.counts, eo.symprec = o.symprec;
  so.ordering = detail_enumerate::ordering_options(eo);
  so.max_structures = o.max_structures;
  so.state_dir = std::filesystem::path(o.out) / "state";
  so.progress = o.quiet ? nullptr : &std::cerr;
  return so;
}

/// The compositions not run, with the reason: not representable (either substitution) or, on a
/// grid, outside the end-member triangle.
inline nlohmann::json skipped_compositions(const std::vector<enumerate::SeriesParent>& parents, const enumerate::SeriesOptions& so) {
  using namespace enumerate;
  nlohmann::json skipped = nlohmann::json::array();
  auto add = [&](const std::string& parent, const char* axis, const CompositionPlan& plan) {
    for (const auto& c : plan.skipped)
      skipped.push_back({{"parent", parent}, {"substitution", axis}, {"requested_x", c.requested}, {"count", c.count}, {"sites", c.sites}, {"why", c.how}});
  };
  for (const auto& p : parents) {
    if (!so.second) {
      add(p.name, "first", series_plan(p, so));
      continue;
    }
    const GridPlan g = grid_plan(p, so);
    add(p.name, "first", g.first);
    add(p.name, "second", g.second);
    for (const auto& c : g.outside)
      skipped.push_back({{"parent", p.name}, {"x", c.x()}, {"y", c.y()}, {"count", c.first.count}, {"count2", c.second.count},
                         {"why", "outside the end-member triangle (x + y > 1)"}});
  }
  return skipped;
}

/// Hull, ΔE, training set and the files in --out; the JSON summary.
inline nlohmann::json finish_study(const Options& o, const std::vector<enumerate::CompositionResult>& results,
                                   const std::vector<enumerate::SeriesParent>& parents, const enumerate::SeriesOptions& so) {
  using namespace enumerate;
  const SeriesAnalysis a = analyse_series(results);
  const nlohmann::json skipped = skipped_compositions(parents, so);
  nlohmann::json extra{{"substitute", o.substitute.size() == 1 ? nlohmann::json(o.substitute[0]) : nlohmann::json(o.substitute)}, {"supercell", o.supercell}, {"rank", o.rank}, {"top", o.top},
                       {"occupancy_mode", o.mode}, {"composition_rounding", o.composition_rounding}, {"skipped", skipped}};
  if (o.rank == "model") extra["model"] = o.model;
  return write_series_outputs(o.out, results, a, o.training, extra);
}

inline nlohmann::json run(const Options& o) {
  using namespace enumerate;
  const auto parents = read_parents(o);
  SeriesOptions so = series_options(o);
  const auto charges = series_charges(parents, o.charges);
  nlohmann::json charges_js = nlohmann::json::object();
  for (const auto& [z, q] : charges) charges_js[std::to_string(z)] = q;
  if (o.rank == "ewald") {
    so.ranker_fingerprint = nlohmann::json{{"rank", "ewald"}, {"top", o.top}, {"charges", charges_js}, {"accuracy", o.accuracy}}.dump();
    EwaldParameters ep;
    ep.accuracy = o.accuracy;
    return finish_study(o, run_series(parents, so, ewald_series_ranker(o.top, charges, ep)), parents, so);
  }
  const ModelChoice mc = resolve_model(o.model);
  ModelScreenOptions ms;
  ms.prefilter_ewald = detail_enumerate::parse_prefilter(o.prefilter);
  ms.ewald.accuracy = o.accuracy;
  ms.screen.progress = so.progress;
  RelaxRankingOptions ro = o.relax;
  ro.progress = so.progress;
  so.ranker_fingerprint = nlohmann::json{{"rank", "model"}, {"model", model_fingerprint(mc.path, mc.name)}, {"precision", o.precision},
                                         {"top", o.top}, {"prefilter", ms.prefilter_ewald}, {"charges", charges_js},
                                         {"relax_top", ro.relax_top}, {"fmax", ro.fmax}, {"max_steps", ro.max_steps}}.dump();
  return with_potential(mc, o.precision, graphnet::ThreeBodyMode::matgl, [&](auto& pot) {
    return finish_study(o, run_series(parents, so, model_series_ranker(pot, o.top, ms, ro, charges)), parents, so);
  });
}

}  // namespace detail_series

inline void add_series_command(CLI::App& app) {
  using Options = detail_series::Options;
  auto opt = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("series", "Phase stability across a composition series: substitute A by B on a sublattice of each parent, "
                                           "enumerate and rank every composition, hull, E_hull, ΔE table, training set");
  cmd->add_option("parents", opt->parents, "parent structures (CIF, ordered or with partial occupancies)")->required();
  cmd->add_option("--substitute", opt->substitute,
                  "A:B=lo..hi:step (B fraction on A's sites) or A:B=k1,k2,... (B atoms per supercell); twice (another sublattice): "
                  "a grid, analysed in the triangle of the end members (0,0), (1,0), (0,1)")
      ->required()
      ->expected(1)
      ->allow_extra_args(false)
      ->take_all();
  cmd->add_option("--supercell", opt->supercell, "fixed supercell: \"1 1 2\" (diagonal) or 9 integers (rows)")->capture_default_str();
  cmd->add_option("--composition-rounding", opt->composition_rounding, "fractions that are not k/N: skip or nearest")
      ->check(CLI::IsMember({"skip", "nearest"}))
      ->capture_default_str();
  cmd->add_option("--x-tol", opt->x_tol, "a fraction within this of k/N is representable")->capture_default_str();
  cmd->add_option("--occupancy-mode", opt->mode, "the parents' own disorder: per-element or per-orbit")->capture_default_str();
  cmd->add_option("--rounding", opt->rounding, "the parents' non-integral counts: error, nearest, floor, ceil, balanced")->capture_default_str();
  cmd->add_option("--counts", opt->counts, "explicit atoms per CIF row label (the parents' own disorder)");
  cmd->add_option("--rank", opt->rank, "ewald (formal charges) or model (static screen, relaxation of the best --relax-top)")
      ->check(CLI::IsMember({"ewald", "model"}))
      ->capture_default_str();
  cmd->add_option("--model", opt->model, "--rank model: default, rigid-ion, a matgl directory, a CHGNet .pth.tar or a MACE .model")->capture_default_str();
  cmd->add_option("--precision", opt->precision, "--rank model: float or double")->check(CLI::IsMember({"float", "double"}))->capture_default_str();
  cmd->add_option("--prefilter", opt->prefilter, "--rank model: only the K lowest Ewald energies go to the model (ewald:K)");
  cmd->add_option("--relax-top", opt->relax.relax_top, "--rank model: relax the N lowest static energies (0: rank by the static energy of the ideal cells)")->capture_default_str();
  cmd->add_option("--fmax", opt->relax.fmax, "--rank model: FIRE force criterion (eV/Å)")->capture_default_str();
  cmd->add_option("--relax-steps", opt->relax.max_steps, "--rank model: FIRE step limit")->capture_default_str();
  cmd->add_option("--top", opt->top, "configurations kept per composition and parent")->capture_default_str();
  cmd->add_option("--charges", opt->charges, "formal charges, e.g. Li=1,Y=3,Cl=-1,Br=-1");
  cmd->add_option("--accuracy", opt->accuracy, "Ewald relative accuracy")->capture_default_str();
  cmd->add_option("--max-structures", opt->max_structures, "refuse a composition with more orderings")->capture_default_str();
  cmd->add_option("--symprec", opt->symprec, "symmetry tolerance (Å) of the parents")->capture_default_str();
  cmd->add_option("--select", opt->training.select, "training set: configurations drawn by Boltzmann weight of E_hull")->capture_default_str();
  cmd->add_option("--strained", opt->training.strained, "training set: strained copies of each")->capture_default_str();
  cmd->add_option("--max-strain", opt->training.max_strain, "training set: strain components in [-s, s]")->capture_default_str();
  cmd->add_option("--temperature", opt->training.temperature, "training set: Boltzmann temperature (K)")->capture_default_str();
  cmd->add_option("--seed", opt->training.seed, "training set: random seed")->capture_default_str();
  cmd->add_option("--out", opt->out, "output directory (state/ keeps finished compositions for a rerun)")->capture_default_str();
  cmd->add_flag("--quiet", opt->quiet, "no progress lines on stderr");
  cmd->callback([opt]() {
    const auto t0 = std::chrono::steady_clock::now();
    nlohmann::json j = detail_series::run(*opt);
    j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << j.dump(1) << "\n";
  });
}

}  // namespace nernst::cli
