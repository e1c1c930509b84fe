#pragma once
// `nernst enumerate STRUCTURE.cif (--supercell "1 1 2" | --index N | --index-range A B) ...`:
// symmetry-distinct orderings of a disordered crystal, counted exactly (Burnside) before they
// are enumerated, optionally ranked by Ewald energy; prints a JSON summary on stdout.
// `--rank model --model M [--prefilter ewald:K] [--relax-top N] [--state DIR]` ranks the
// orderings of one supercell by the model instead (enumerate/rank_by_model.hpp): a resumable
// static screen, relaxation of the best N, space groups of the relaxed cells.

#include <CLI/CLI.hpp>

#include <nernst/enumerate/ewald_ranker.hpp>
#include <nernst/enumerate/occupancy.hpp>
#include <nernst/enumerate/rank_by_model.hpp>
#include <nernst/io/read.hpp>

#include "model_choice.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace nernst::cli {

namespace detail_enumerate {

inline std::map<std::string, double> parse_assignments(const std::string& s, const char* what) {
  std::map<std::string, double> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    const auto eq = item.find('=');
    if (eq == std::string::npos) throw ValueError(std::string(what) + ": expected NAME=VALUE, got '" + item + "'");
    try {
      out[item.substr(0, eq)] = std::stod(item.substr(eq + 1));
    } catch (const std::exception&) {
      throw ValueError(std::string(what) + ": bad number in '" + item + "'");
    }
  }
  return out;
}

inline enumerate::IMat3 parse_supercell(const std::string& s) {
  std::stringstream ss(s);
  std::vector<long> v;
  std::string tok;
  while (ss >> tok) {
    try {
      std::size_t used = 0;
      v.push_back(std::stol(tok, &used));
      if (used != tok.size()) throw std::invalid_argument(tok);
    } catch (const std::exception&) {
      throw ValueError("--supercell: '" + tok + "' is not an integer");
    }
  }
  enumerate::IMat3 m = enumerate::IMat3::Zero();
  if (v.size() == 3) {
    for (int i = 0; i < 3; ++i) m(i, i) = v[static_cast<std::size_t>(i)];
  } else if (v.size() == 9) {
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) m(j, i) = v[static_cast<std::size_t>(3 * i + j)];  // rows = new vectors -> columns
  } else {
    throw ValueError("--supercell: give 3 integers (diagonal) or 9 (rows of the supercell matrix)");
  }
  if (m.cast<double>().determinant() <= 0.5) throw ValueError("--supercell: the matrix must have a positive determinant");
  return m;
}

struct Options {
  std::string path, supercell, counts, charges, rounding = "error", mode = "per-orbit", rank = "ewald", out, format = "cif";
  long index = 0;
  std::vector<long> range;
  bool count_only = false, remove_superperiodic = false, quiet = false;
  std::size_t top = 0;
  double max_structures = 1e8, symprec = 1e-3, accuracy = 1e-8;
  // --rank model
  std::string model = "default", precision = "double", prefilter, state, json;
  enumerate::RelaxRankingOptions relax;
  double checkpoint_seconds = 10;
};

/// Formal charges for the Ewald energy: CLI, then CIF oxidation states, then common values.
inline std::map<int, double> ranking_charges(const Structure& s, const std::string& cli) {
  std::map<int, double> charges{{1, 1}, {3, 1}, {11, 1}, {19, 1}, {37, 1}, {55, 1}, {12, 2}, {20, 2}, {38, 2}, {56, 2},
                                {13, 3}, {21, 3}, {31, 3}, {39, 3}, {49, 3}, {57, 3}, {40, 4}, {72, 4}, {9, -1}, {17, -1},
                                {35, -1}, {53, -1}, {8, -2}, {16, -2}, {34, -2}, {7, -3}, {15, 5}};
  for (const auto& site : s.sites())
    for (const auto& sp : site.species)
      if (sp.oxidation) charges[sp.z] = *sp.oxidation;
  for (const auto& [el, q] : parse_assignments(cli, "--charges")) charges[atomic_number(el)] = q;
  return charges;
}

/// The orderings model of the options (occupancy mode, rounding, explicit counts).
inline enumerate::OrderingOptions ordering_options(const Options& o) {
  enumerate::OrderingOptions oo;
  oo.mode = enumerate::parse_occupancy_mode(o.mode);
  oo.rounding = enumerate::parse_rounding(o.rounding);
  oo.symprec = o.symprec;
  for (const auto& [k, v] : parse_assignments(o.counts, "--counts")) {
    if (v < 0 || v != std::floor(v)) throw ValueError("--counts: " + k + " must be a non-negative integer");
    oo.counts[k] = static_cast<long>(v);
  }
  return oo;
}

/// K of `--prefilter ewald:K` (0 when not given).
inline std::size_t parse_prefilter(const std::string& s) {
  if (s.empty()) return 0;
  const std::string head = "ewald:";
  if (s.rfind(head, 0) != 0) throw ValueError("--prefilter: expected ewald:K, got '" + s + "'");
  try {
    std::size_t used = 0;
    const long k = std::stol(s.substr(head.size()), &used);
    if (used != s.size() - head.size() || k < 1) throw std::invalid_argument(s);
    return static_cast<std::size_t>(k);
  } catch (const std::exception&) {
    throw ValueError("--prefilter: K in ewald:K must be a positive integer, got '" + s + "'");
  }
}

/// What the screen's answer depends on; its fingerprint guards the state file.
inline nlohmann::json model_rank_inputs(const Options& o, const enumerate::IMat3& hnf, const ModelChoice& m, std::size_t keep,
                                        std::size_t prefilter, const std::map<int, double>& charges) {
  nlohmann::json charges_js = nlohmann::json::object();
  if (prefilter > 0)
    for (const auto& [z, q] : charges) charges_js[std::to_string(z)] = q;
  return {{"structure", enumerate::hex_fingerprint(enumerate::file_fingerprint(o.path))},
          {"hnf", {hnf(0, 0), hnf(0, 1), hnf(0, 2), hnf(1, 0), hnf(1, 1), hnf(1, 2), hnf(2, 0), hnf(2, 1), hnf(2, 2)}},
          {"mode", o.mode}, {"rounding", o.rounding}, {"counts", o.counts}, {"symprec", o.symprec},
          {"remove_superperiodic", o.remove_superperiodic}, {"model", enumerate::model_fingerprint(m.path, m.name)},
          {"precision", o.precision}, {"keep", keep}, {"prefilter", prefilter}, {"charges", charges_js},
          {"accuracy", prefilter > 0 ? o.accuracy : 0.0}};
}

/// `--rank model`: the screen, relaxation and ranking of one fixed supercell (rank_by_model.hpp).
inline nlohmann::json run_model_rank(const Options& o) {
  namespace fs = std::filesystem;
  using namespace enumerate;
  if (o.supercell.empty()) throw ValueError("--rank model: give one --supercell (not --index or --index-range)");
  if (o.count_only) throw ValueError("--rank model: --count-only ranks nothing");
  const Structure s = io::read_structure(o.path);
  const OrderingModel model(s, ordering_options(o));
  const Enumerator<HNF> e(model.multilattice(), model.derivative_options(o.remove_superperiodic));
  const IMat3 hnf = hermite_normal_form(parse_supercell(o.supercell));
  const auto ag = e.active_group(hnf);
  const std::uint64_t bc = burnside_count(e.problem(ag.group.n, model.label_counts(ag.group.n)), ag.perms);
  if (static_cast<double>(bc) > o.max_structures)
    throw ValueError("enumerate: the Burnside count is " + std::to_string(bc) + " orderings, above --max-structures " +
                     std::to_string(static_cast<std::uint64_t>(o.max_structures)));
  const ModelChoice mc = resolve_model(o.model);
  const auto charges = ranking_charges(s, o.charges);
  ModelScreenOptions so;
  so.prefilter_ewald = parse_prefilter(o.prefilter);
  so.label_charges = model.label_charges(charges);
  so.ewald.accuracy = o.accuracy;
  so.screen.keep = std::max<std::size_t>({o.top, o.relax.relax_top, 1});
  so.screen.checkpoint_seconds = o.checkpoint_seconds;
  so.screen.progress = o.quiet ? nullptr : &std::cerr;
  so.screen.inputs = inputs_fingerprint(model_rank_inputs(o, hnf, mc, so.screen.keep, so.prefilter_ewald, charges));
  RelaxRankingOptions ro = o.relax;
  ro.progress = so.screen.progress;
  if (!o.state.empty()) {
    so.screen.state_file = fs::path(o.state) / "screen.json";
    ro.state_dir = o.state;
  }
  ro.out_dir = !o.out.empty() ? fs::path(o.out) : !o.state.empty() ? fs::path(o.state) / "structures" : fs::path("enumerate_ranked");
  nlohmann::json j = with_potential(mc, o.precision, graphnet::ThreeBodyMode::matgl,
                                    [&](auto& pot) { return rank_by_model(e, hnf, bc, pot, so, ro); });
  j["model"] = mc.name;
  j["model_path"] = mc.path;
  j["precision"] = o.precision;
  j["occupancy_mode"] = o.mode;
  j["burnside_count"] = bc;
  j["inputs_fingerprint"] = so.screen.inputs;
  return j;
}

}  // namespace detail_enumerate

inline void add_enumerate_command(CLI::App& app) {
  using Options = detail_enumerate::Options;
  auto opt = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("enumerate", "Symmetry-distinct orderings of a disordered crystal (Hart-Forcade), counted, ranked by Ewald energy");
  cmd->add_option("structure", opt->path, "disordered structure (CIF with occupancies)")->required();
  auto* sc = cmd->add_option("--supercell", opt->supercell, "fixed supercell: \"1 1 2\" (diagonal) or 9 integers (rows)");
  auto* ix = cmd->add_option("--index", opt->index, "all supercells of this index (superperiodic orderings removed)");
  auto* ir = cmd->add_option("--index-range", opt->range, "all supercells of indices A..B")->expected(2);
  sc->excludes(ix)->excludes(ir);
  ix->excludes(ir);
  cmd->add_option("--occupancy-mode", opt->mode, "per-orbit (each CIF row keeps its count) or per-element")->capture_default_str();
  cmd->add_option("--rounding", opt->rounding, "non-integral counts: error, nearest, floor, ceil, balanced")->capture_default_str();
  cmd->add_option("--counts", opt->counts, "explicit atoms per CIF row label in the supercell, e.g. Li2=6,Y3=1");
  cmd->add_flag("--count-only", opt->count_only, "count only (fixed supercell: the Burnside count, no enumeration)");
  cmd->add_flag("--remove-superperiodic", opt->remove_superperiodic, "fixed supercell: drop orderings with a smaller period");
  cmd->add_option("--top", opt->top, "keep the K lowest-energy orderings");
  cmd->add_option("--rank", opt->rank, "ranking energy: ewald (formal charges) or model (static graph-network energy, then relaxation of the best --relax-top)")
      ->check(CLI::IsMember({"ewald", "model"}))
      ->capture_default_str();
  cmd->add_option("--model", opt->model, "--rank model: default (the bundled M3GNet), rigid-ion, a matgl M3GNet/TensorNet directory, a CHGNet .pth.tar or a MACE .model")
      ->capture_default_str();
  cmd->add_option("--precision", opt->precision, "--rank model: graph-network arithmetic, float or double")
      ->check(CLI::IsMember({"float", "double"}))
      ->capture_default_str();
  cmd->add_option("--prefilter", opt->prefilter, "--rank model: only the K lowest Ewald energies go to the model (ewald:K)");
  cmd->add_option("--relax-top", opt->relax.relax_top, "--rank model: relax (positions + cell) the N lowest static energies")->capture_default_str();
  cmd->add_option("--fmax", opt->relax.fmax, "--rank model: FIRE force criterion (eV/Å)")->capture_default_str();
  cmd->add_option("--relax-steps", opt->relax.max_steps, "--rank model: FIRE step limit")->capture_default_str();
  cmd->add_option("--relaxed-symprec", opt->relax.symprec, "--rank model: tolerance (Å) of the relaxed cells' space group")->capture_default_str();
  cmd->add_option("--state", opt->state, "--rank model: directory for the resumable state (screen.json, relaxed/)");
  cmd->add_option("--checkpoint-seconds", opt->checkpoint_seconds, "--rank model: seconds between state checkpoints")->capture_default_str();
  cmd->add_option("--json", opt->json, "also write the JSON summary to this file");
  cmd->add_flag("--quiet", opt->quiet, "no progress lines on stderr");
  cmd->add_option("--charges", opt->charges, "formal charges, e.g. Li=1,Y=3,Cl=-1 (default: CIF oxidation states or common values)");
  cmd->add_option("--accuracy", opt->accuracy, "Ewald relative accuracy for ranking")->capture_default_str();
  cmd->add_option("--out", opt->out, "directory for the selected structures (the --top ones, else all)");
  cmd->add_option("--format", opt->format, "output format: cif, poscar, extxyz")->capture_default_str();
  cmd->add_option("--max-structures", opt->max_structures, "refuse to enumerate more orderings than this")->capture_default_str();
  cmd->add_option("--symprec", opt->symprec, "symmetry tolerance (Å) for spglib")->capture_default_str();
  cmd->callback([opt]() {
    using namespace enumerate;
    const auto t0 = std::chrono::steady_clock::now();
    if (opt->supercell.empty() && opt->index == 0 && opt->range.empty())
      throw ValueError("enumerate: give --supercell, --index or --index-range");
    if (opt->rank == "model") {
      const nlohmann::json j = detail_enumerate::run_model_rank(*opt);
      if (!opt->json.empty()) workflow::write_file_atomic(std::filesystem::absolute(opt->json), j.dump(1));
      std::cout << j.dump(1) << "\n";
      return;
    }
    const Structure s = io::read_structure(opt->path);
    const OrderingModel model(s, detail_enumerate::ordering_options(*opt));
    const bool fixed = !opt->supercell.empty();
    const Enumerator<HNF> e(model.multilattice(), model.derivative_options(fixed ? opt->remove_superperiodic : true));

    // Supercells to visit.
    std::vector<IMat3> cells;
    if (fixed) {
      cells.push_back(hermite_normal_form(detail_enumerate::parse_supercell(opt->supercell)));
    } else {
      const long a = opt->range.empty() ? opt->index : opt->range[0], b = opt->range.empty() ? opt->index : opt->range[1];
      if (a < 1 || b < a) throw ValueError("--index/--index-range: need 1 <= A <= B");
      for (long n = a; n <= b; ++n)
        for (const auto& h : e.superlattices(n)) cells.push_back(h);
    }

    const auto charges = detail_enumerate::ranking_charges(s, opt->charges);

    struct Kept {
      std::size_t cell;
      std::vector<Label> labels;
      std::uint64_t rank, orbit_size;
      int atoms;
    };
    TopK<Kept> top(opt->top);
    nlohmann::json js, cells_js = nlohmann::json::array(), counts_used = nlohmann::json::object();
    std::uint64_t count = 0, burnside = 0, superperiodic = 0;
    std::vector<Enumerator<HNF>::ActiveGroup> groups;
    std::size_t written = 0;
    auto write = [&](const Structure& st, const std::string& stem) {
      std::filesystem::create_directories(opt->out);
      const io::Format f = io::parse_format(opt->format);
      const std::string name = stem + (f == io::Format::Cif ? ".cif" : f == io::Format::ExtXYZ ? ".extxyz" : ".vasp");
      const std::string path = (std::filesystem::path(opt->out) / name).string();
      io::write_structure(path, st, f);
      ++written;
      return path;
    };
    for (std::size_t ci = 0; ci < cells.size(); ++ci) {
      groups.push_back(e.active_group(cells[ci]));
      const auto& ag = groups.back();
      const long n = ag.group.n;
      const auto lc = model.label_counts(n);
      const LabelingProblem p = e.problem(n, lc);
      const std::uint64_t bc = burnside_count(p, ag.perms);
      burnside += bc;
      nlohmann::json used = nlohmann::json::object();
      for (const auto& it : model.items(n)) used[it.name] = it.used;
      nlohmann::json cj;
      cj["index"] = n;
      cj["hnf"] = {{ag.group.hnf(0, 0), ag.group.hnf(1, 0), ag.group.hnf(2, 0)},
                   {ag.group.hnf(0, 1), ag.group.hnf(1, 1), ag.group.hnf(2, 1)},
                   {ag.group.hnf(0, 2), ag.group.hnf(1, 2), ag.group.hnf(2, 2)}};
      cj["group_order"] = ag.perms.size();
      cj["burnside_count"] = bc;
      if (cells.size() == 1 || opt->range.empty()) counts_used = used;
      else counts_used[std::to_string(n)] = used;
      if (fixed && opt->count_only && !opt->remove_superperiodic) {
        count += bc;
        cj["count"] = bc;
        cells_js.push_back(cj);
        continue;
      }
      if (static_cast<double>(bc) > opt->max_structures)
        throw ValueError("enumerate: the Burnside count is " + std::to_string(bc) + " orderings, above --max-structures " +
                         std::to_string(static_cast<std::uint64_t>(opt->max_structures)) + "; use --count-only or change the counts");
      std::unique_ptr<EwaldRanker> ranker;
      if (opt->top > 0) {
        EwaldParameters ep;
        ep.accuracy = opt->accuracy;
        ranker = std::make_unique<EwaldRanker>(e, ag.group, ag.active, model.label_charges(charges), ep);
      }
      const auto st = e.run_supercell(cells[ci], [&](const Derivative& d) {
        if (opt->count_only) return;
        if (ranker) {
          const double en = ranker->energy(d.labels);
          const int atoms = ranker->atoms(d.labels);
          const double key = en / atoms;
          if (top.admits(key))
            top.push(key, Kept{ci, std::vector<Label>(d.labels, d.labels + d.active->size()), d.info.rank, d.info.orbit_size, atoms});
        } else if (!opt->out.empty()) {
          write(e.to_structure(d), "n" + std::to_string(n) + "_c" + std::to_string(ci) + "_" + std::to_string(d.info.index));
        }
      });
      const auto& os = st.at(0).orbits;
      count += os.kept;
      superperiodic += os.superperiodic;
      cj["count"] = os.kept;
      cj["superperiodic_removed"] = os.superperiodic;
      cells_js.push_back(cj);
    }
    js["count"] = count;
    js["burnside_count"] = burnside;
    if (!fixed || opt->remove_superperiodic) js["superperiodic_removed"] = superperiodic;
    js["counts_used"] = counts_used;
    nlohmann::json rounding = nlohmann::json::array();
    for (const auto& it : model.items(groups.empty() ? 1 : groups.front().group.n))
      rounding.push_back({{"item", it.name}, {"exact", it.exact}, {"used", it.used}, {"how", it.how}});
    js["rounding"] = rounding;
    js["occupancy_mode"] = opt->mode;
    js["supercells"] = cells_js;
    js["space_group_operations"] = e.operations().size();
    if (opt->top > 0) {
      nlohmann::json ranked = nlohmann::json::array();
      std::size_t k = 0;
      for (const auto& [key, kept] : top.sorted()) {
        nlohmann::json r{{"rank", k}, {"energy_per_atom_eV", key}, {"energy_eV", key * kept.atoms}, {"atoms", kept.atoms},
                         {"degeneracy", kept.orbit_size}, {"supercell", kept.cell}};
        if (!opt->out.empty()) {
          const auto& ag = groups[kept.cell];
          Derivative d;
          d.index = ag.group.n;
          d.group = &ag.group;
          d.active = &ag.active;
          d.labels = kept.labels.data();
          r["file"] = write(e.to_structure(d), "top" + std::to_string(k));
        }
        ranked.push_back(r);
        ++k;
      }
      js["top"] = ranked;
    }
    if (!opt->out.empty()) js["files_written"] = written;
    js["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!opt->json.empty()) workflow::write_file_atomic(std::filesystem::absolute(opt->json), js.dump(1));
    std::cout << js.dump(1) << "\n";
  });
}

}  // namespace nernst::cli
