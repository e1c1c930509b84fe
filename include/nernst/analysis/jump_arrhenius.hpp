#pragma once
/// \file
/// \brief Arrhenius fits across temperatures of the quantities a jump analysis gives per jump type
/// and per plane: the rate of each jump type (GEMDAT's "A->B" rates), of each layer class
/// (within / cross / "L0->L1"), planar D (ab, ac, bc) and D per layer. ln y = ln y₀ − E_A/(k_B T)
/// with fit_arrhenius (arrhenius.hpp): weighted by (y/σ_y)² where every temperature has an error,
/// ordinary least squares otherwise.
///
/// Why beside GEMDAT's per-type E_A: GEMDAT's activation energy of a jump type (docs/jumps.md,
/// point 11) comes from *one* temperature and an assumed attempt frequency, E = −ln(Γ/ν)·k_B T;
/// the Arrhenius slope of the rates over temperatures needs no attempt frequency. The two agree
/// only when ν is temperature independent and the rate is a single activated process, so a
/// report shows both. GEMDAT's own number is not changed here.
///
/// A temperature where a key has no positive finite value (no jump of that type, D not measured)
/// is left out of that key's fit and listed.

#include <nernst/analysis/arrhenius.hpp>
#include <nernst/analysis/site_analysis.hpp>
#include <nernst/core/error.hpp>
#include <nernst/core/macros.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace analysis {

/// Values (with their standard errors) per key at one temperature.
struct TemperatureValues {
  double T_K = 0;
  std::map<std::string, ValueStd> values;
};

/// One key's Arrhenius fit over temperatures.
struct KeyArrhenius {
  std::vector<ArrheniusPoint> points;   ///< T, value, error (the D fields of ArrheniusPoint)
  std::vector<double> left_out_K;       ///< temperatures without a positive finite value
  std::optional<ArrheniusFit> fit;      ///< E_A, prefactor (D0_cm2_s holds y₀ in the key's units)
  std::string reason;                   ///< why there is no fit
};

/// Fits every key that occurs at any temperature.
inline std::map<std::string, KeyArrhenius> fit_arrhenius_per_key(const std::vector<TemperatureValues>& temps) {
  std::map<std::string, KeyArrhenius> out;
  for (const auto& t : temps)
    for (const auto& [k, v] : t.values) out[k];
  for (auto& [k, a] : out) {
    for (const auto& t : temps) {
      const auto it = t.values.find(k);
      if (it == t.values.end() || !std::isfinite(it->second.value) || !(it->second.value > 0)) {
        a.left_out_K.push_back(t.T_K);
        continue;
      }
      a.points.push_back({t.T_K, it->second.value, std::isfinite(it->second.std) ? it->second.std : 0.0});
    }
    if (a.points.size() < 2) {
      a.reason = "fewer than two temperatures with a positive value";
      continue;
    }
    bool distinct = false;
    for (const auto& p : a.points) distinct |= p.T_K != a.points.front().T_K;
    if (!distinct) {
      a.reason = "all values at one temperature";
      continue;
    }
    bool weighted = true;
    for (const auto& p : a.points) weighted &= p.D_err_cm2_s > 0;
    a.fit = fit_arrhenius(a.points, weighted);
  }
  return out;
}

namespace jump_arrhenius_detail {
/// A JSON number, or NaN for GEMDAT's "nan"/"inf" strings and nulls.
inline double number(const nlohmann::json& j) {
  if (j.is_number()) return j.get<double>();
  if (j.is_string() && j.get<std::string>() == "inf") return std::numeric_limits<double>::infinity();
  return std::numeric_limits<double>::quiet_NaN();
}
inline ValueStd rate(const nlohmann::json& r) { return {number(r.at("rates")), number(r.at("std"))}; }
}  // namespace jump_arrhenius_detail

/// Rates per jump type ("A->B") and, when the report has layers, per layer class ("within",
/// "cross", "L0->L1") of a `nernst jumps` JSON (or the pipeline's per-temperature jumps summary).
/// `T_K` overrides the report's temperature_K.
inline TemperatureValues jump_rates_from_json(const nlohmann::json& j, std::optional<double> T_K = std::nullopt) {
  using namespace jump_arrhenius_detail;
  TemperatureValues t;
  t.T_K = T_K ? *T_K : number(j.value("temperature_K", nlohmann::json()));
  if (!(t.T_K > 0)) throw ValueError("jump report without a temperature (temperature_K)");
  for (const auto& [k, v] : j.at("rates_per_s").items()) t.values[k] = rate(v);
  if (j.contains("layers"))
    for (const auto& [k, v] : j["layers"]["classes"].items()) t.values["layer " + k] = rate(v.at("rates_per_s"));
  return t;
}

/// Planar D ("ab", "ac", "bc" of D_plane, measured ones only) and D per layer ("layer L0", …, of a
/// jumps report's layers) at one temperature, in cm²/s.
inline TemperatureValues planar_D_from_json(const nlohmann::json& j, double T_K) {
  using namespace jump_arrhenius_detail;
  TemperatureValues t;
  t.T_K = T_K;
  if (j.contains("D_plane"))
    for (const auto& [k, v] : j["D_plane"].items()) t.values[k] = {number(v.value("D_cm2_s", nlohmann::json())), number(v.value("D_err_cm2_s", nlohmann::json()))};
  if (j.contains("layers"))
    for (const auto& l : j["layers"]["per_layer"])
      t.values["layer " + l["layer"].get<std::string>()] = {number(l.value("D_cm2_s", nlohmann::json())), number(l.value("D_err_cm2_s", nlohmann::json()))};
  return t;
}

/// {key: {Ea_eV, Ea_err_eV, prefactor, weighted, T_K, left_out_K} or {reason, left_out_K}}.
inline nlohmann::json arrhenius_per_key_json(const std::map<std::string, KeyArrhenius>& fits, const std::string& prefactor_unit) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [k, a] : fits) {
    nlohmann::json e;
    std::vector<double> Ts;
    for (const auto& p : a.points) Ts.push_back(p.T_K);
    e["T_K"] = Ts;
    e["left_out_K"] = a.left_out_K;
    if (a.fit) {
      e["Ea_eV"] = a.fit->Ea_eV;
      e["Ea_err_eV"] = a.fit->Ea_err_eV;
      e["prefactor_" + prefactor_unit] = a.fit->D0_cm2_s;
      e["weighted"] = a.fit->weighted;
    } else {
      e["reason"] = a.reason;
    }
    out[k] = e;
  }
  return out;
}

}  // namespace analysis
NERNST_NAMESPACE_END
