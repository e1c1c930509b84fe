#pragma once
/// \file
/// \brief Ranking the orderings of one supercell by a potential, start to end: the static
/// screen (model_ranker.hpp: every ordering, or the Ewald pre-filter's K), relaxation of the
/// best N and the final ranking by relaxed energy (relaxed_ranking.hpp), as the JSON summary
/// that `nernst enumerate --rank model` prints:
///
///   top:         relaxed orderings best first: energy_per_atom_eV (relaxed), space_group
///                {symbol, number, symprec_A} of the relaxed cell, static_energy_per_atom_eV,
///                static_rank, ordering_index, file, ...
///   static_top:  the K kept by the screen (static energy per atom, ordering index)
///   counts:      orderings, candidates (after the pre-filter), evaluated, relaxed
///   timings:     screen (this run and over all runs), relax
///   tolerance:   the symprec of `space_group` and the ladder reported with each entry

#include <nernst/enumerate/model_ranker.hpp>
#include <nernst/enumerate/relaxed_ranking.hpp>

#include <chrono>

NERNST_NAMESPACE_BEGIN
namespace enumerate {

/// The fingerprint of a model's files (a matgl directory: model.json + state.pt, else the file
/// itself); `name` alone for a built-in potential (empty path).
inline std::string model_fingerprint(const std::string& path, const std::string& name) {
  namespace fs = std::filesystem;
  if (path.empty()) return name;
  if (fs::is_directory(path)) {
    std::string h;
    for (const char* f : {"model.json", "state.pt"})
      if (fs::exists(fs::path(path) / f)) h += hex_fingerprint(file_fingerprint(fs::path(path) / f));
    return name + ":" + h;
  }
  return name + ":" + hex_fingerprint(file_fingerprint(path));
}

template <class Pot>
nlohmann::json rank_by_model(const Enumerator<HNF>& e, const IMat3& hnf, std::uint64_t orderings, Pot& pot,
                             const ModelScreenOptions& so, const RelaxRankingOptions& ro) {
  using clock = std::chrono::steady_clock;
  const ScreenResult screen = model_screen(e, hnf, pot, orderings, so);
  const auto t0 = clock::now();
  const auto ag = e.active_group(hnf);
  ModelRanker<Pot> ranker(e, ag, pot);
  const nlohmann::json top = relax_and_rank(screen.best, [&](const Label* l) { return ranker.structure(l); }, pot, ro);
  const double relax_s = std::chrono::duration<double>(clock::now() - t0).count();

  nlohmann::json static_top = nlohmann::json::array();
  for (std::size_t i = 0; i < screen.best.size(); ++i)
    static_top.push_back({{"static_rank", i}, {"static_energy_per_atom_eV", screen.best[i].energy_per_atom},
                          {"ordering_index", screen.best[i].ordering}, {"atoms", screen.best[i].atoms}});
  const auto& c = screen.counters;
  nlohmann::json j;
  j["top"] = top;
  j["static_top"] = static_top;
  j["counts"] = {{"orderings", c.orderings},
                 {"candidates", c.candidates},
                 {"evaluated", c.evaluated},
                 {"relaxed", top.size()},
                 {"prefilter", so.prefilter_ewald ? nlohmann::json("ewald:" + std::to_string(so.prefilter_ewald)) : nlohmann::json(nullptr)}};
  j["timings"] = {{"screen_s_this_run", screen.seconds_this_run},
                  {"screen_s_total", c.seconds},
                  {"screen_orderings_per_s",
                   screen.seconds_this_run > 0 ? static_cast<double>(screen.evaluated_this_run) / screen.seconds_this_run : 0.0},
                  {"relax_s", relax_s}};
  j["resumed_from_ordering"] = screen.resumed_from;
  j["tolerance"] = {{"space_group_symprec_A", ro.symprec}, {"ladder_symprec_A", ro.symprec_ladder}};
  j["relaxation"] = {{"optimizer", "FIRE (ASE parameters), positions + cell (UnitCellFilter, p = 0)"},
                     {"fmax_eV_A", ro.fmax}, {"max_steps", ro.max_steps}};
  if (!top.empty()) j["winner_static_rank"] = top[0]["static_rank"];
  return j;
}

}  // namespace enumerate
NERNST_NAMESPACE_END
