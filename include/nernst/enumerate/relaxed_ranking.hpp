#pragma once
/// \file
/// \brief The second half of ranking by the model: FIRE relaxation (positions + cell, ASE's
/// UnitCellFilter, as the pipeline's relax stage) of the N orderings with the lowest static
/// energy, the final ranking by relaxed energy per atom, and the space group of every relaxed
/// cell at a ladder of spglib tolerances.
///
/// Why a ladder: a relaxed cell keeps the symmetry of its ordering only up to the optimiser's
/// residual forces (fmax), and experimental parents bring noisy coordinates; at spglib's tight
/// default (1e-5 Å) such a cell reads as P1. The reported `space_group` is the one at
/// `symprec` (default 0.1 Å, the pipeline's value); the ladder shows where the group changes,
/// so a reader sees whether the answer depends on the tolerance.
///
/// Resumable: each relaxed ordering is written as `<state_dir>/relaxed/ordering_<i>.json`
/// together with its parameters; a rerun with the same parameters reuses it.

#include <nernst/enumerate/screen_state.hpp>
#include <nernst/io/read.hpp>
#include <nernst/optimize/fire.hpp>
#include <nernst/optimize/relax_together.hpp>
#include <nernst/symmetry/symmetry_dataset.hpp>
#include <nernst/workflow/stage.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace enumerate {

struct RelaxRankingOptions {
  /// N: orderings relaxed (the lowest static energies). 50 by measurement (docs/enumeration.md,
  /// LYC 1x1x1 per element, M3GNet-MP-2021, all 124 relaxed): the relaxed winner was static
  /// rank 1, every relaxed ordering within 2 meV/atom of it came from static rank <= 33.
  std::size_t relax_top = 50;
  double fmax = 0.05;          ///< eV/Å, FIRE criterion on the generalised forces
  long max_steps = 1000;
  double symprec = 0.1;        ///< Å: the tolerance of the reported space group
  std::vector<double> symprec_ladder{1e-3, 1e-2, 0.05, 0.1, 0.2, 0.3};
  std::filesystem::path out_dir;    ///< the relaxed structures (ordering_<i>.cif)
  std::filesystem::path state_dir;  ///< per-ordering results for a resumed run (empty: none)
  std::ostream* progress = nullptr;
};

/// {"symbol", "number", "symprec_A"} of a structure at one tolerance; null when spglib fails.
inline nlohmann::json space_group_json(const Structure& s, double symprec) {
  try {
    const auto [number, symbol] = symmetry::space_group(s, symprec);
    return {{"symbol", symbol}, {"number", number}, {"symprec_A", symprec}};
  } catch (const Error&) {
    return nullptr;
  }
}

/// A structure after FIRE relaxation of positions and cell (ASE's UnitCellFilter, zero
/// pressure): the relaxation both the model ranking and the pipeline's relax stage use.
struct RelaxedStructure {
  Structure structure;
  RelaxResult result;
};

template <class Pot>
RelaxedStructure relax_positions_and_cell(const Structure& s, Pot& pot, double fmax, long max_steps) {
  auto sys = System<typename Pot::memory_space>::from_structure(s);
  RelaxOptions ro;
  ro.fmax = fmax;
  ro.max_steps = max_steps;
  ro.cell = CellFilter{};
  const RelaxResult rr = Optimizer<FIRE>().run(sys, pot, ro);
  return {sys.to_structure(), rr};
}

/// Structures evaluated together by the batched (GraphBatch) relaxations: one compute_batch of
/// up to this many cells per FIRE step.
inline constexpr std::size_t kRelaxBatch = 64;

/// Relaxes structures 0 … count−1 (`structure(k)`) as relax_positions_and_cell does, together
/// (relax_together): all in one compute_batch per FIRE step (up to kRelaxBatch at once) where the
/// potential evaluates batches together (batched(): the graph networks' kernels, a GPU build),
/// otherwise one relaxation per host thread (HostBatch), each bitwise its relaxation alone on one
/// thread (a pair potential, whose copies share arrays: one after another, on all threads). `finished(k, RelaxedStructure)` is called as relaxation k ends; ValueError at the end
/// names the ones that failed (relax_together).
template <class Pot, class MakeStructure, class Finished>
void relax_positions_and_cell_together(const Pot& pot, std::size_t count, double fmax, long max_steps,
                                       MakeStructure&& structure, Finished&& finished) {
  using MS = typename Pot::memory_space;
  RelaxOptions ro;
  ro.fmax = fmax;
  ro.max_steps = max_steps;
  ro.cell = CellFilter{};
  const auto make = [&](std::size_t k) { return System<MS>::from_structure(structure(k)); };
  const auto done = [&](std::size_t k, System<MS>& sys, const RelaxResult& rr) { finished(k, RelaxedStructure{sys.to_structure(), rr}); };
  if constexpr (has_batch_compute<Pot>::value) {
    if (pot.batched()) {
      relax_together(pot, count, kRelaxBatch, GraphBatch<Pot>{std::make_shared<Pot>(pot)}, ro, make, done);
      return;
    }
  }
  if constexpr (has_independent_copies<Pot>::value)
    relax_together(pot, count, static_cast<std::size_t>(nn::host_threads()), HostBatch{}, ro, make, done);
  else  // a pair potential: one relaxation after another, each evaluation on all threads (as alone)
    relax_together(pot, count, 1, InlineBatch{}, ro, make, done);
}

/// Sorts a list of JSON objects by the number `key` (stable: equal energies keep their order)
/// and numbers them with `rank` from 0.
inline void rank_by(nlohmann::json& list, const char* key) {
  std::stable_sort(list.begin(), list.end(),
                   [key](const nlohmann::json& a, const nlohmann::json& b) { return a[key].get<double>() < b[key].get<double>(); });
  for (std::size_t r = 0; r < list.size(); ++r) list[r]["rank"] = r;
}

namespace detail {

inline nlohmann::json relax_parameters(const RelaxRankingOptions& o) {
  return {{"fmax", o.fmax}, {"max_steps", o.max_steps}, {"symprec", o.symprec}, {"symprec_ladder", o.symprec_ladder},
          {"cell", "UnitCellFilter p=0"}, {"out_dir", std::filesystem::absolute(o.out_dir).string()}};
}

/// A relaxed screened ordering (`ideal`: its unrelaxed cell); the JSON of the `top` list (without
/// the final rank). Writes the relaxed cell to out_dir.
inline nlohmann::json relaxed_entry(const ScreenEntry& e, std::size_t static_rank, const Structure& ideal,
                                    const RelaxedStructure& r, const RelaxRankingOptions& o) {
  const Structure& relaxed = r.structure;
  const RelaxResult& rr = r.result;
  const std::string name = "ordering_" + std::to_string(e.ordering) + ".cif";
  std::filesystem::create_directories(o.out_dir);
  io::write_structure((o.out_dir / name).string(), relaxed, io::Format::Cif);
  nlohmann::json ladder = nlohmann::json::array();
  for (double p : o.symprec_ladder) ladder.push_back(space_group_json(relaxed, p));
  const double n = static_cast<double>(relaxed.size());
  return {{"energy_per_atom_eV", rr.energy / n},
          {"energy_eV", rr.energy},
          {"space_group", space_group_json(relaxed, o.symprec)},
          {"space_group_ladder", ladder},
          {"space_group_unrelaxed", space_group_json(ideal, 1e-3)},
          {"static_energy_per_atom_eV", e.energy_per_atom},
          {"static_rank", static_rank},
          {"ordering_index", e.ordering},
          {"atoms", relaxed.size()},
          {"volume_per_atom_A3", rr.volume / n},
          {"converged", rr.converged},
          {"steps", rr.steps},
          {"fmax_eV_A", rr.fmax},
          {"file", (o.out_dir / name).string()}};
}

}  // namespace detail

/// Relaxes the first `o.relax_top` of `best` (sorted by static energy) and returns them sorted
/// by relaxed energy per atom (stable: equal energies keep the static order), each with
/// `rank`. `structure(const Label*)` gives the ideal ordered cell (ModelRanker::structure).
template <class Pot, class ToStructure>
nlohmann::json relax_and_rank(const std::vector<ScreenEntry>& best, ToStructure&& structure, Pot& pot,
                              const RelaxRankingOptions& o) {
  const nlohmann::json params = detail::relax_parameters(o);
  const std::size_t n = std::min(o.relax_top, best.size());
  const auto record = [&](std::size_t i) -> std::filesystem::path {
    return o.state_dir.empty() ? std::filesystem::path()
                               : o.state_dir / "relaxed" / ("ordering_" + std::to_string(best[i].ordering) + ".json");
  };
  std::vector<nlohmann::json> results(n);  // null: still to relax
  std::vector<std::size_t> todo;
  for (std::size_t i = 0; i < n; ++i) {
    const std::filesystem::path done = record(i);
    if (!done.empty() && std::filesystem::exists(done)) {
      const nlohmann::json j = workflow::read_json(done);
      if (j.value("parameters", nlohmann::json()) == params && std::filesystem::exists(j.at("result").at("file").get<std::string>())) {
        results[i] = j.at("result");
        results[i]["static_rank"] = i;
        continue;
      }
    }
    todo.push_back(i);
  }
  std::size_t relaxed = n - todo.size();
  relax_positions_and_cell_together(
      pot, todo.size(), o.fmax, o.max_steps, [&](std::size_t k) { return structure(best[todo[k]].labels.data()); },
      [&](std::size_t k, const RelaxedStructure& rs) {
        const std::size_t i = todo[k];
        const auto& e = best[i];
        nlohmann::json r = detail::relaxed_entry(e, i, structure(e.labels.data()), rs, o);
        if (!record(i).empty()) workflow::write_file_atomic(record(i), nlohmann::json{{"parameters", params}, {"result", r}}.dump(1));
        if (o.progress)
          *o.progress << "relax: " << ++relaxed << "/" << n << " ordering " << e.ordering << ": "
                      << r["energy_per_atom_eV"].get<double>() << " eV/atom after " << r["steps"].get<long>() << " steps\n"
                      << std::flush;
        results[i] = std::move(r);
      });
  nlohmann::json list = nlohmann::json::array();
  for (auto& r : results) list.push_back(std::move(r));
  rank_by(list, "energy_per_atom_eV");
  return list;
}

}  // namespace enumerate
NERNST_NAMESPACE_END
