#pragma once
/// \file
/// \brief The transport part of reports: per-temperature diffusivity JSON (measured D, or "no
/// diffusion detected" with an upper limit), hop counts and fit windows; the Arrhenius summary
/// (σ(300 K) only from ≥ 3 diffusive temperatures, otherwise null plus the reason); and the
/// Markdown of both. Shared by the pipeline (report.md / report.json), `nernst msd` and
/// `nernst arrhenius`, so all three say the same thing in the same words.
///
/// Why one place: a negative or zero D printed as a value, or σ(300 K) extrapolated from two
/// points, is what a referee rejects first. Every D that reaches text goes through
/// analysis::format_diffusivity, which cannot print D ≤ 0.

#include <nernst/analysis/arrhenius.hpp>
#include <nernst/analysis/detection.hpp>
#include <nernst/analysis/diffusion.hpp>
#include <nernst/analysis/hops.hpp>
#include <nernst/analysis/jump_arrhenius.hpp>
#include <nernst/core/error.hpp>
#include <nernst/core/macros.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iomanip>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace workflow {

/// Text of the detection rule, stored with every result so a reader of the JSON knows it.
inline std::string detection_definition(const analysis::DetectionOptions& o) {
  char b[400];
  std::snprintf(b, sizeof b,
                "diffusive iff D - %g*sigma_D > 0 and n_hops >= %zu; sigma_D = max(He et al. 2018 error, standard error of "
                "the per-ion D's on the fit window); otherwise D < D_upper_limit = max(D, 0) + %g*sigma_D",
                o.k_sigma, o.min_hops, o.k_sigma);
  return b;
}

/// JSON fields of one diffusivity: "diffusive", "D_cm2_s" / "D_err_cm2_s" (null unless
/// diffusive), "D_upper_limit_cm2_s" (null when diffusive), "n_hops", "fit_window_ps" and the
/// details of the test. The raw slope is kept as "msd_slope_A2_per_ps" (never called D).
inline nlohmann::json diffusivity_json(const analysis::DiffusivityVerdict& v, const analysis::DiffusionFit& fit,
                                       const analysis::HopResult& hops, const analysis::DetectionOptions& o) {
  nlohmann::json j;
  j["diffusive"] = v.diffusive;
  j["D_cm2_s"] = v.diffusive ? nlohmann::json(v.D_cm2_s) : nlohmann::json();
  j["D_err_cm2_s"] = v.diffusive ? nlohmann::json(v.sigma_D_cm2_s) : nlohmann::json();
  j["D_upper_limit_cm2_s"] = v.diffusive ? nlohmann::json() : nlohmann::json(v.D_upper_limit_cm2_s);
  j["msd_slope_A2_per_ps"] = fit.line.slope;
  j["n_hops"] = hops.n_hops;
  j["fit_window_ps"] = {fit.t_start_ps, fit.t_end_ps};
  j["detection"] = {{"k_sigma", o.k_sigma},
                    {"min_hops", o.min_hops},
                    {"sigma_D_cm2_s", v.sigma_D_cm2_s},
                    {"sigma_he_cm2_s", v.sigma_he_cm2_s},
                    {"sigma_ions_cm2_s", v.sigma_ions_cm2_s ? nlohmann::json(*v.sigma_ions_cm2_s) : nlohmann::json()},
                    {"reason", v.diffusive ? nlohmann::json() : nlohmann::json(v.reason)},
                    {"definition", detection_definition(o)},
                    {"hop_threshold_A", hops.threshold_A},
                    {"hop_coarse_frames", hops.coarse_frames},
                    {"hop_rate_per_ion_ps", hops.rate_per_ion_ps}};
  return j;
}

/// Per-axis D (dim = 1 fits on the same window): an axis counts as measured only when the total
/// D does and the axis passes the MSD part of the test itself; otherwise null and an upper limit.
inline nlohmann::json axes_json(const std::vector<analysis::DiffusivityVerdict>& axes, bool total_diffusive) {
  nlohmann::json D = nlohmann::json::array(), lim = nlohmann::json::array();
  for (const auto& v : axes) {
    const bool ok = total_diffusive && v.diffusive;
    D.push_back(ok ? nlohmann::json(v.D_cm2_s) : nlohmann::json());
    lim.push_back(ok ? nlohmann::json() : nlohmann::json(v.D_upper_limit_cm2_s));
  }
  return {{"D_axes_cm2_s", D}, {"D_axes_upper_limit_cm2_s", lim}};
}

namespace detail {
inline double number_or(const nlohmann::json& j, const char* key, double fallback) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : fallback;
}
}  // namespace detail

/// A temperature's JSON (pipeline msd stage or `nernst msd` report) as the Arrhenius fit sees
/// it. JSON written before "diffusive" existed is judged by the MSD part of the test alone.
inline analysis::TemperatureDiffusivity temperature_from_json(const nlohmann::json& t, const analysis::DetectionOptions& o = {}) {
  analysis::TemperatureDiffusivity r;
  r.T_K = detail::number_or(t, "T_K", detail::number_or(t, "temperature_K", 0.0));
  r.framework_mobile = t.value("framework_mobile", false);
  if (t.contains("diffusive")) {
    r.verdict.diffusive = t["diffusive"].get<bool>();
    r.verdict.D_cm2_s = detail::number_or(t, "D_cm2_s", 0.0);
    r.verdict.sigma_D_cm2_s = detail::number_or(t, "D_err_cm2_s", 0.0);
    r.verdict.D_upper_limit_cm2_s = detail::number_or(t, "D_upper_limit_cm2_s", 0.0);
    if (t.contains("detection") && t["detection"].contains("reason") && t["detection"]["reason"].is_string())
      r.verdict.reason = t["detection"]["reason"].get<std::string>();
  } else {
    r.verdict = analysis::assess_diffusivity(detail::number_or(t, "D_cm2_s", 0.0), detail::number_or(t, "D_err_cm2_s", 0.0),
                                             std::nullopt, std::nullopt, o);
  }
  return r;
}

/// Arrhenius summary of the selected points: E_A (from ≥ 2 diffusive temperatures:
/// "fit_available"), D and σ at `T_extrap` (from ≥ 3: "available"; otherwise null, with the
/// reason in "sigma300K_reason" and "reason"), the temperatures left out. `n_mobile` ions of
/// charge 1 in `volume_A3` for Nernst–Einstein with Haven ratio 1.
inline nlohmann::json arrhenius_summary(const analysis::ArrheniusSelection& sel, double volume_A3, double n_mobile,
                                        double T_extrap = 300.0) {
  using namespace analysis;
  nlohmann::json j;
  j["excluded_framework_mobile_K"] = sel.framework_mobile_K;
  j["excluded_not_diffusive_K"] = sel.not_diffusive_K;
  j["n_diffusive"] = sel.points.size();
  j["sigma300K_mS_cm"] = nullptr;
  j["D300K_cm2_s"] = nullptr;
  j["sigma300K_reason"] = extrapolation_refusal(sel.points.size(), sel.n_excluded()).value_or("");
  j["available"] = false;  // σ(300 K) given
  j["fit_available"] = false;
  j["reason"] = j["sigma300K_reason"];
  if (sel.points.size() < 2) {
    j["reason"] = "fewer than two temperatures with measurable diffusion and an immobile framework (" +
                  std::to_string(sel.points.size()) + "): no Arrhenius fit, no σ(300 K)";
    return j;
  }
  bool all_err = true;
  for (const auto& p : sel.points) all_err = all_err && p.D_err_cm2_s > 0;
  const ArrheniusFit f = fit_arrhenius(sel.points, all_err);
  j["fit_available"] = true;
  j["weighted"] = all_err;
  j["Ea_eV"] = f.Ea_eV;
  j["Ea_err_eV"] = f.Ea_err_eV;
  j["D0_cm2_s"] = f.D0_cm2_s;
  j["volume_A3"] = volume_A3;
  j["n_mobile"] = n_mobile;
  if (!extrapolation_refusal(sel.points.size())) {
    const double D = f.D_at(T_extrap);
    const auto iv = f.D_interval(T_extrap);
    j["D300K_cm2_s"] = D;
    j["D300K_interval_cm2_s"] = {iv.first, iv.second};
    j["sigma300K_mS_cm"] = nernst_einstein_mS_cm(D, n_mobile, 1.0, volume_A3, T_extrap);
    j["sigma300K_interval_mS_cm"] = {nernst_einstein_mS_cm(iv.first, n_mobile, 1.0, volume_A3, T_extrap),
                                     nernst_einstein_mS_cm(iv.second, n_mobile, 1.0, volume_A3, T_extrap)};
    j["sigma300K_reason"] = nullptr;
    j["available"] = true;
    j.erase("reason");
  }
  return j;
}

/// "D = 1.234e-05 ± 2.1e-06 cm²/s" or "no diffusion detected, D < 3.1e-08 cm²/s" for a
/// temperature's JSON (never a D ≤ 0).
inline std::string diffusivity_text(const nlohmann::json& t) {
  const bool diffusive = t.value("diffusive", false);
  return analysis::format_diffusivity(diffusive, detail::number_or(t, "D_cm2_s", 0.0), detail::number_or(t, "D_err_cm2_s", 0.0),
                                      detail::number_or(t, "D_upper_limit_cm2_s", 0.0));
}

namespace detail {
/// A temperature's V (Å³/atom) as a table cell ("—" for JSON written before it was recorded).
inline std::string volume_per_atom_cell(const nlohmann::json& t) {
  if (!t.contains("volume_per_atom_A3")) return "—";
  std::ostringstream s;
  s << std::setprecision(4) << t["volume_per_atom_A3"].get<double>();
  return s.str();
}
}  // namespace detail

/// The per-temperature transport table of report.md.
inline std::string transport_table_md(const nlohmann::json& temperatures) {
  std::ostringstream md;
  md << std::setprecision(4);
  md << "| T (K) | V (Å³/atom) | D (cm²/s) | D_x | D_y | D_z | σ(T) (mS/cm) | hops | fit window (ps) | framework MSD (Å²) |\n"
     << "|---|---|---|---|---|---|---|---|---|---|\n";
  char b[64];
  for (const auto& t : temperatures) {
    md << "| " << t["T_K"].get<double>() << " | " << detail::volume_per_atom_cell(t) << " | " << diffusivity_text(t);
    for (int a = 0; a < 3; ++a) {
      const auto& d = t["D_axes_cm2_s"][a];
      const auto lim = t.contains("D_axes_upper_limit_cm2_s") ? t["D_axes_upper_limit_cm2_s"][a] : nlohmann::json();
      if (d.is_number() && d.get<double>() > 0) std::snprintf(b, sizeof b, "%.3e", d.get<double>());
      else if (lim.is_number() && lim.get<double>() > 0) std::snprintf(b, sizeof b, "< %.1e", lim.get<double>());
      else std::snprintf(b, sizeof b, "—");
      md << " | " << b;
    }
    if (t["sigma_mS_cm"].is_number()) std::snprintf(b, sizeof b, "%.3g", t["sigma_mS_cm"].get<double>());
    else if (detail::number_or(t, "sigma_upper_limit_mS_cm", 0.0) > 0) std::snprintf(b, sizeof b, "< %.1e", t["sigma_upper_limit_mS_cm"].get<double>());
    else std::snprintf(b, sizeof b, "—");
    md << " | " << b << " | " << t.value("n_hops", std::size_t{0}) << " | " << t["fit_window_ps"][0].get<double>() << "–"
       << t["fit_window_ps"][1].get<double>() << " | " << detail::number_or(t, "framework_msd_A2", 0.0)
       << (t.value("framework_mobile", false) ? " **(framework diffuses: molten or decomposed)**" : "") << " |\n";
  }
  return md.str();
}

/// Planar D in lattice planes (fits with d = 2 on the total D's window): measured only where the
/// total D is and the plane passes the MSD part of the detection test; otherwise null and an
/// upper limit (as the per-axis D). Keys "ab", "ac", "bc".
inline nlohmann::json planes_json(const std::vector<std::pair<std::string, analysis::DiffusivityVerdict>>& planes,
                                  const std::vector<double>& D_err_cm2_s, bool total_diffusive) {
  nlohmann::json j = nlohmann::json::object();
  for (std::size_t i = 0; i < planes.size(); ++i) {
    const auto& v = planes[i].second;
    const bool ok = total_diffusive && v.diffusive;
    j[planes[i].first] = {{"D_cm2_s", ok ? nlohmann::json(v.D_cm2_s) : nlohmann::json()},
                          {"D_err_cm2_s", ok ? nlohmann::json(D_err_cm2_s[i]) : nlohmann::json()},
                          {"D_upper_limit_cm2_s", ok ? nlohmann::json() : nlohmann::json(v.D_upper_limit_cm2_s)}};
  }
  return j;
}

namespace detail {
/// "1.23e-05", "< 4.5e-07" or "—" for a {D_cm2_s, D_upper_limit_cm2_s} object.
inline std::string plane_cell(const nlohmann::json& p) {
  char b[64];
  if (p.contains("D_cm2_s") && p["D_cm2_s"].is_number()) std::snprintf(b, sizeof b, "%.3e", p["D_cm2_s"].get<double>());
  else if (p.contains("D_upper_limit_cm2_s") && p["D_upper_limit_cm2_s"].is_number())
    std::snprintf(b, sizeof b, "< %.1e", p["D_upper_limit_cm2_s"].get<double>());
  else std::snprintf(b, sizeof b, "—");
  return b;
}
/// A number or GEMDAT's "inf"/"nan" string as a table cell.
inline std::string gemdat_number(const nlohmann::json& v, const char* fmt) {
  if (!v.is_number()) return v.is_string() ? v.get<std::string>() : "—";
  char b[64];
  std::snprintf(b, sizeof b, fmt, v.get<double>());
  return b;
}
}  // namespace detail

/// The per-temperature planar-D and site/jump tables of report.md (temperatures analysed before
/// these were recorded are left out). Jump statistics follow GEMDAT 1.7.2 (docs/jumps.md).
inline std::string planar_and_jumps_md(const nlohmann::json& temperatures) {
  std::ostringstream md;
  bool planes = false, jumps = false;
  for (const auto& t : temperatures) planes |= t.contains("D_plane"), jumps |= t.contains("jumps");
  if (planes) {
    md << "Planar D (cm²/s; MSD projected onto the lattice plane, d = 2, same fit window):\n\n"
       << "| T (K) | D_ab | D_ac | D_bc |\n|---|---|---|---|\n";
    for (const auto& t : temperatures) {
      if (!t.contains("D_plane")) continue;
      md << "| " << t["T_K"].get<double>();
      for (const char* p : {"ab", "ac", "bc"}) md << " | " << (t["D_plane"].contains(p) ? detail::plane_cell(t["D_plane"][p]) : "—");
      md << " |\n";
    }
    md << "\n";
  }
  if (jumps) {
    md << "Site-to-site jumps (GEMDAT 1.7.2 definitions; sites: the parent structure's " << "mobile-ion sites in the MD cell):\n\n"
       << "| T (K) | sites | radius (Å) | jumps | D* (m²/s) | D_J (m²/s) | f | ν (THz) | jump types: n, rate (1/s), E_A (eV) |\n"
       << "|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& t : temperatures) {
      if (!t.contains("jumps")) continue;
      const auto& j = t["jumps"];
      md << "| " << t["T_K"].get<double>() << " | ";
      if (j.contains("error")) {
        md << "— | — | — | — | — | — | — | not analysed: " << j["error"].get<std::string>() << " |\n";
        continue;
      }
      double r = 0;
      for (const auto& [l, v] : j["site_radius_A"].items())
        if (v.is_number()) r = v.get<double>();
      md << j["n_sites"].get<std::size_t>() << " | " << detail::gemdat_number(r, "%.3f") << " | " << j["n_jumps"].get<std::size_t>()
         << " | " << detail::gemdat_number(j["tracer_diffusivity_m2_s"], "%.3e") << " | "
         << detail::gemdat_number(j["jump_diffusivity_m2_s"], "%.3e") << " | " << detail::gemdat_number(j["correlation_factor"], "%.3f")
         << " | " << detail::gemdat_number(j["attempt_frequency_Hz"].is_number() ? nlohmann::json(j["attempt_frequency_Hz"].get<double>() * 1e-12)
                                                                                     : j["attempt_frequency_Hz"],
                                           "%.2f")
         << " | ";
      bool first = true;
      for (const auto& [k, n] : j["jumps"].items()) {
        md << (first ? "" : "; ") << k << ": " << n.get<std::size_t>() << ", "
           << detail::gemdat_number(j["rates_per_s"][k]["rates"], "%.2e") << ", "
           << detail::gemdat_number(j["activation_energies_eV"][k]["energy"], "%.3f") << " ± "
           << detail::gemdat_number(j["activation_energies_eV"][k]["std"], "%.3f");
        first = false;
      }
      md << (first ? "none" : "") << " |\n";
    }
    md << "\n";
  }
  return md.str();
}

/// Arrhenius fits over the temperatures of the rate of each jump type (GEMDAT's "A->B") and of the
/// planar D (ab, ac, bc; measured ones only): analysis/jump_arrhenius.hpp, docs/jumps.md.
inline nlohmann::json jump_and_plane_arrhenius(const nlohmann::json& per_T) {
  std::vector<analysis::TemperatureValues> rates, planes;
  for (const auto& m : per_T) {
    const double T = m["T_K"].get<double>();
    planes.push_back(analysis::planar_D_from_json(m, T));
    if (m.contains("jumps") && m["jumps"].contains("rates_per_s")) rates.push_back(analysis::jump_rates_from_json(m["jumps"], T));
  }
  nlohmann::json out = nlohmann::json::object();
  if (!rates.empty()) out["per_jump_type"] = analysis::arrhenius_per_key_json(analysis::fit_arrhenius_per_key(rates), "per_s");
  out["planar"] = analysis::arrhenius_per_key_json(analysis::fit_arrhenius_per_key(planes), "cm2_s");
  return out;
}

/// Arrhenius fits across temperatures per jump type (rates) and per plane (planar D) of an
/// ordering's Arrhenius stage (`per_jump_type`, `planar`: analysis::arrhenius_per_key_json), as
/// one table; empty when neither is present. GEMDAT's single-temperature E_A per type stays in the
/// jump table above it.
inline std::string jump_arrhenius_md(const nlohmann::json& a) {
  std::ostringstream md;
  auto rows = [&](const char* group, const char* what) {
    if (!a.contains(group)) return;
    for (const auto& [k, e] : a[group].items()) {
      md << "| " << what << " " << k << " | ";
      if (e.contains("Ea_eV")) {
        char b[80];
        std::snprintf(b, sizeof b, "%.3f ± %.3f", e["Ea_eV"].get<double>(), e["Ea_err_eV"].get<double>());
        md << b;
      } else {
        md << "— (" << e["reason"].get<std::string>() << ")";
      }
      md << " | " << e["T_K"].size() << " | ";
      bool first = true;
      for (const auto& t : e["left_out_K"]) md << (first ? "" : ", ") << t.get<double>(), first = false;
      md << (first ? "—" : "") << " |\n";
    }
  };
  if (!(a.contains("per_jump_type") && !a["per_jump_type"].empty()) && !(a.contains("planar") && !a["planar"].empty())) return {};
  md << "Arrhenius fits per jump type (rate in jumps/s per ion; no attempt frequency needed) and per lattice plane (planar D):\n\n"
     << "| quantity | E_A (eV) | temperatures | left out (K) |\n|---|---|---|---|\n";
  rows("per_jump_type", "rate");
  rows("planar", "D");
  md << "\n";
  return md.str();
}

/// The summary at the top of report.md, laid out like the seed paper's Table 1: per ordering, the
/// NpT pressure, the volume per atom at each temperature, E_A ± error and σ(300 K) with its
/// interval (σ_min; σ_max), or why it is not given.
inline std::string summary_table_md(const nlohmann::json& orderings, double pressure_bar) {
  std::ostringstream md;
  md << std::setprecision(4);
  if (orderings.empty()) return {};
  md << "## Summary\n\n| ordering | p (bar) |";
  for (const auto& t : orderings[0]["temperatures"]) md << " V at " << t["T_K"].get<double>() << " K (Å³/atom) |";
  md << " E_A (eV) | σ(300 K) (mS/cm) (σ_min; σ_max) |\n|---|---|";
  for (std::size_t i = 0; i < orderings[0]["temperatures"].size(); ++i) md << "---|";
  md << "---|---|\n";
  char p[32];
  std::snprintf(p, sizeof p, "%g", pressure_bar);  // 10000, not 1e+04
  for (const auto& m : orderings) {
    md << "| " << m["ordering"]["file"].get<std::string>() << " | " << p << " |";
    for (const auto& t : m["temperatures"]) md << " " << detail::volume_per_atom_cell(t) << " |";
    const auto& a = m["arrhenius"];
    if (a.value("fit_available", false))
      md << " " << a["Ea_eV"].get<double>() << " ± " << a["Ea_err_eV"].get<double>() << " |";
    else
      md << " — |";
    if (a.contains("sigma300K_mS_cm") && a["sigma300K_mS_cm"].is_number())
      md << " " << a["sigma300K_mS_cm"].get<double>() << " (" << a["sigma300K_interval_mS_cm"][0].get<double>() << "; "
         << a["sigma300K_interval_mS_cm"][1].get<double>() << ") |\n";
    else
      md << " not given: "
         << (a.contains("sigma300K_reason") && a["sigma300K_reason"].is_string() ? a["sigma300K_reason"].get<std::string>()
                                                                                 : std::string("no Arrhenius fit"))
         << " |\n";
  }
  md << "\n";
  return md.str();
}

/// The Arrhenius paragraph of report.md: temperatures left out (and why), E_A, σ(300 K) or the
/// reason it is not given.
inline std::string arrhenius_md(const nlohmann::json& a, const std::string& mobile, double framework_msd_limit_A2) {
  std::ostringstream md;
  md << std::setprecision(4);
  const auto list = [](const nlohmann::json& v) {
    std::ostringstream s;
    for (std::size_t i = 0; i < v.size(); ++i) s << (i ? ", " : "") << v[i].get<double>();
    return s.str();
  };
  const auto nd = a.value("excluded_not_diffusive_K", nlohmann::json::array());
  const auto fm = a.value("excluded_framework_mobile_K", nlohmann::json::array());
  if (!nd.empty())
    md << "\n> No diffusion detected at " << list(nd) << " K (reported as upper limits, left out of the Arrhenius fit).\n";
  if (!fm.empty())
    md << "\n> Temperatures where the framework diffuses (MSD > " << framework_msd_limit_A2
       << " Å² at the end of the fit window) are left out of the Arrhenius fit: " << list(fm) << " K.\n";
  if (!a.value("fit_available", a.value("available", false))) {
    md << "\nArrhenius fit not available: " << a.value("reason", std::string("no fit")) << ".\n\n";
    return md.str();
  }
  md << "\n**E_A = " << a["Ea_eV"].get<double>() << " ± " << a["Ea_err_eV"].get<double>() << " eV** from "
     << a.value("n_diffusive", std::size_t{0}) << " diffusive temperatures";
  if (a["sigma300K_mS_cm"].is_number()) {
    md << "; **σ(300 K) = " << a["sigma300K_mS_cm"].get<double>() << " mS/cm** (interval "
       << a["sigma300K_interval_mS_cm"][0].get<double>() << "–" << a["sigma300K_interval_mS_cm"][1].get<double>()
       << " mS/cm; Nernst–Einstein, Haven ratio 1, V = " << a["volume_A3"].get<double>() << " Å³, "
       << a["n_mobile"].get<double>() << " " << mobile << ")\n\n";
  } else {
    md << ".\n\n**σ(300 K) not extrapolated**: " << a["sigma300K_reason"].get<std::string>() << ".\n\n";
  }
  return md.str();
}

}  // namespace workflow
NERNST_NAMESPACE_END
