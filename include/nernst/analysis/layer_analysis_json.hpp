#pragma once
/// \file
/// \brief JSON form of the layer analysis: layers of sites, jumps per class (within / cross /
/// layer pair) with counts and rates, per-layer occupancy and jump rates, and D per layer. Rates
/// use GEMDAT's form {"rates", "std"} (jumps per second per mobile ion) so that they read like the
/// per-type rates beside them; D in cm²/s as `nernst msd` reports it.

#include <nernst/analysis/layer_diffusion.hpp>
#include <nernst/analysis/site_analysis_json.hpp>
#include <nernst/analysis/site_layers.hpp>
#include <nernst/core/macros.hpp>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace analysis {

inline nlohmann::json layer_analysis_json(const LayerJumpStats& st, const std::vector<LayerDiffusivity>& D) {
  using nlohmann::json;
  const char axes[] = {'a', 'b', 'c'};
  json j;
  j["direction"] = std::string(1, axes[st.layers.axis]);
  j["tolerance_A"] = st.layers.tolerance_A;
  j["n_layers"] = st.layers.n_layers();
  j["layer_of_site"] = st.layers.layer_of_site;
  json classes = json::object();
  for (const auto& [k, c] : st.classes)
    classes[k] = {{"count", c.count}, {"rates_per_s", {{"rates", json_number(c.rate_per_s.value)}, {"std", json_number(c.rate_per_s.std)}}}};
  j["classes"] = classes;
  json per = json::array();
  for (std::size_t l = 0; l < st.per_layer.size(); ++l) {
    const auto& s = st.per_layer[l];
    json e = {{"layer", SiteLayers::name(static_cast<int>(l))},
              {"position_frac", s.position_frac},
              {"n_sites", s.n_sites},
              {"ion_fraction", s.ion_fraction},
              {"n_within", s.n_within},
              {"n_out", s.n_out},
              {"rate_within_per_resident_ion_s", s.rate_within_per_resident_s},
              {"rate_out_per_resident_ion_s", s.rate_out_per_resident_s},
              {"D_cm2_s", nullptr},
              {"D_err_cm2_s", nullptr}};
    if (l < D.size()) {
      e["mean_ions"] = D[l].mean_ions;
      e["max_lag_frames"] = D[l].max_lag_frames;
      if (D[l].fit) {
        e["D_cm2_s"] = D[l].fit->D_cm2_s;
        e["D_err_cm2_s"] = D[l].fit->D_err_cm2_s;
        e["fit_window_ps"] = {D[l].fit->t_start_ps, D[l].fit->t_end_ps};
      } else {
        e["D_reason"] = D[l].reason;
      }
    }
    per.push_back(e);
  }
  j["per_layer"] = per;
  j["definitions"] = "docs/jumps.md#layers";
  return j;
}

}  // namespace analysis
NERNST_NAMESPACE_END
