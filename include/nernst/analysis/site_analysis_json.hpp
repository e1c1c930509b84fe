#pragma once
/// \file
/// \brief JSON form of a site/jump analysis (Estimator<SiteAnalysis>) with GEMDAT's names and
/// units, so that a report can be laid beside GEMDAT's output key by key: rates in jumps per
/// second per ion ({"rates", "std"}), activation energies in eV ({"energy", "std"}), diffusivities
/// in m²/s, frequencies in Hz, lengths in Å. Non-finite numbers (GEMDAT's inf energy of a jump
/// type that never occurs in a part, and its nan std) are the strings "inf", "-inf", "nan", as in
/// the reference files of shared/reference/jumps.

#include <nernst/analysis/site_analysis.hpp>
#include <nernst/core/macros.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <string>

NERNST_NAMESPACE_BEGIN
namespace analysis {

/// A number, or "inf" / "-inf" / "nan".
inline nlohmann::json json_number(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  return x;
}

/// The radius that applies to each site label (null for labels that get no states).
inline nlohmann::json site_radius_json(const SiteAnalysisResult& r, bool inner) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& l : r.labels) {
    j[l] = nullptr;
    for (std::size_t g = 0; g < r.radius.labels.size(); ++g)
      if (r.radius.labels[g].empty() || r.radius.labels[g] == l)
        j[l] = inner ? r.radius.radius_A[g] * r.radius.inner_fraction[g] : r.radius.radius_A[g];
  }
  return j;
}

inline nlohmann::json site_analysis_json(const SiteAnalysisResult& r) {
  using nlohmann::json;
  json j;
  j["definitions"] = "GEMDAT 1.7.2 (docs/jumps.md)";
  j["n_frames"] = r.n_frames;
  j["n_floating"] = r.n_atoms;
  j["time_step_s"] = r.time_step_s;
  j["total_time_s"] = r.total_time_s;
  j["temperature_K"] = r.temperature_K;
  j["dimensions"] = r.dim;
  j["n_sites"] = r.n_sites();
  j["site_radius_source"] = r.radius.source;
  j["site_radius_A"] = site_radius_json(r, false);
  j["site_inner_radius_A"] = site_radius_json(r, true);
  j["min_site_distance_A"] = r.radius.min_site_distance_A;
  j["vibration_amplitude_A"] = r.vibration_amplitude_A;
  j["attempt_frequency_Hz"] = json_number(r.attempt_frequency_Hz);
  j["attempt_frequency_std_Hz"] = json_number(r.attempt_frequency_std_Hz);
  j["n_events"] = r.events.size();
  j["n_jumps"] = r.jumps.size();
  j["jumps"] = r.jump_counts;
  json rates = json::object(), energies = json::object();
  for (const auto& [k, v] : r.rates_per_s) rates[k] = {{"rates", json_number(v.value)}, {"std", json_number(v.std)}};
  for (const auto& [k, v] : r.activation_energies_eV) energies[k] = {{"energy", json_number(v.value)}, {"std", json_number(v.std)}};
  j["rates_per_s"] = rates;
  j["activation_energies_eV"] = energies;
  j["jump_diffusivity_m2_s"] = r.jump_diffusivity_m2_s;
  j["tracer_diffusivity_m2_s"] = r.tracer_diffusivity_m2_s;
  j["correlation_factor"] = json_number(r.correlation_factor);
  j["occupancy"] = {{"per_site", r.occupancy}, {"by_site_type", r.occupancy_by_site_type}, {"atom_locations", r.atom_locations}};
  json sparse = json::array();
  const std::size_t S = r.n_sites();
  for (std::size_t a = 0; a < S; ++a)
    for (std::size_t b = 0; b < S; ++b)
      if (const std::size_t c = r.jump_matrix[a * S + b]) sparse.push_back({a, b, c});
  j["jump_matrix_sparse"] = sparse;
  json parts = json::array();
  for (const auto& p : r.parts)
    parts.push_back({{"n_frames_states", p.n_frames_states}, {"n_frames_trajectory", p.n_frames_trajectory}, {"n_events", p.n_events},
                     {"n_jumps", p.n_jumps}, {"counter", p.counter}, {"atom_locations", p.atom_locations}});
  j["parts"] = parts;
  json graph = json::array();
  for (const auto& e : r.graph) graph.push_back({e.from, e.to, json_number(e.e_act_eV)});
  j["graph_e_act_eV"] = graph;
  json coll = json::array();
  for (const auto& c : r.collective) {
    json pairs = json::array();
    for (const auto& [a, b] : c.pairs) pairs.push_back({a, b});
    coll.push_back({{"max_dist_A", c.max_dist_A}, {"max_steps", c.max_steps}, {"n_solo_jumps", c.n_solo}, {"n_coll_jumps", c.n_coll},
                    {"collective_event_pairs", pairs}});
  }
  j["collective"] = coll;
  if (!r.remap_check.empty()) {
    json c = json::object();
    for (const auto& [l, v] : r.remap_check)
      c[l] = {{"n_sites", v.n_sites}, {"n_seen_outer", v.n_seen_outer}, {"n_seen_inner", v.n_seen_inner}};
    j["integer_remap_check"] = c;
  }
  j["integer_remap_shifted"] = r.integer_remap_shifted;
  j["integer_remap_fixed"] = r.integer_remap_fixed;
  j["warnings"] = r.warnings;
  return j;
}

}  // namespace analysis
NERNST_NAMESPACE_END
