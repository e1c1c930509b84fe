#pragma once
// `nernst arrhenius RESULTS... --json FILE [--plot FILE.svg]`: Arrhenius fit of the D values in
// `nernst msd` reports (and, per jump type / layer class / plane, of `nernst jumps` rates and planar
// D: analysis/jump_arrhenius.hpp) → E_A ± err, D₀, D and σ at 300 K (or --at) with a confidence interval.
// Reports without measurable diffusion ("diffusive": false, i.e. D < limit) are skipped and
// listed; E_A needs ≥ 2 diffusive temperatures, the extrapolation to --at ≥ 3
// (analysis::extrapolation_refusal), otherwise it is null with the reason.

#include <CLI/CLI.hpp>

#include <nernst/analysis/arrhenius.hpp>
#include <nernst/analysis/diffusion.hpp>
#include <nernst/analysis/gemdat_arrhenius.hpp>
#include <nernst/analysis/jump_arrhenius.hpp>
#include <nernst/analysis/png.hpp>
#include <nernst/analysis/svg_plot.hpp>
#include <nernst/analysis/transport_plots.hpp>
#include <nernst/workflow/transport_report.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace nernst::cli {

namespace arrhenius_detail {

inline nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IOError("cannot open '" + path + "'");
  try {
    return nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw ParseError(path, 0, std::string("not valid JSON: ") + e.what());
  }
}

inline void print_key_fits(const char* what, const std::map<std::string, analysis::KeyArrhenius>& fits) {
  for (const auto& [k, a] : fits) {
    if (a.fit)
      std::printf("  %-8s %-22s E_A = %.4f +- %.4f eV from %zu temperatures\n", what, k.c_str(), a.fit->Ea_eV, a.fit->Ea_err_eV, a.points.size());
    else
      std::printf("  %-8s %-22s no fit: %s\n", what, k.c_str(), a.reason.c_str());
  }
}

/// GEMDAT's ArrheniusFit (point 19) of the jumps reports' per-part tracer D, or why not.
inline nlohmann::json gemdat_fit_json(const std::vector<analysis::ArrheniusPoint>& pts) {
  try {
    const auto f = analysis::fit_arrhenius_gemdat(pts);
    std::printf("  GEMDAT ArrheniusFit (tracer D per part): E_A = %.4f +- %.4f eV, D0 = %.4g m^2/s\n", f.Ea_eV, f.Ea_err_eV, f.D0_cm2_s);
    return {{"Ea_eV", f.Ea_eV}, {"Ea_std_eV", f.Ea_err_eV}, {"D0_m2_s", f.D0_cm2_s}, {"D0_std_m2_s", f.D0_cm2_s * f.lnD0_err},
            {"n_temperatures", pts.size()}, {"definitions", "GEMDAT 1.7.2 ArrheniusFit (docs/jumps.md)"}};
  } catch (const Error& e) {
    return {{"error", e.what()}};
  }
}

/// Arrhenius fits per jump type / layer class (from `nernst jumps` reports) and per plane / layer
/// (D_plane of `nernst msd` reports, D per layer of jumps reports). `msd_files` receives the
/// inputs that are msd reports (the ones with D_cm2_s) for the 3-D fit.
inline nlohmann::json per_type_and_plane_fits(const std::vector<std::string>& files, std::vector<std::string>& msd_files) {
  using namespace nernst::analysis;
  std::vector<TemperatureValues> rates, planes;
  std::vector<ArrheniusPoint> gemdat;  // GEMDAT's per-part tracer D (m²/s) per temperature
  for (const auto& path : files) {
    const nlohmann::json j = read_json_file(path);
    try {
      if (j.contains("rates_per_s")) {
        rates.push_back(jump_rates_from_json(j));
        if (j.contains("tracer_diffusivity_parts_m2_s") && j["tracer_diffusivity_parts_m2_s"].contains("mean"))
          gemdat.push_back({rates.back().T_K, j["tracer_diffusivity_parts_m2_s"]["mean"].get<double>(),
                            j["tracer_diffusivity_parts_m2_s"]["std"].get<double>()});
        planes.push_back(planar_D_from_json(j, rates.back().T_K));
      } else {
        msd_files.push_back(path);
        if (j.contains("D_plane") && j.contains("temperature_K")) planes.push_back(planar_D_from_json(j, j["temperature_K"].get<double>()));
      }
    } catch (const std::exception& e) {
      throw ValueError(path + ": " + e.what());
    }
  }
  nlohmann::json out = nlohmann::json::object();
  if (!gemdat.empty()) out["gemdat_arrhenius"] = gemdat_fit_json(gemdat);
  if (!rates.empty()) {
    const auto f = fit_arrhenius_per_key(rates);
    print_key_fits("rate", f);
    out["per_jump_type"] = arrhenius_per_key_json(f, "per_s");
  }
  if (!planes.empty()) {
    const auto f = fit_arrhenius_per_key(planes);
    print_key_fits("D", f);
    out["planar"] = arrhenius_per_key_json(f, "cm2_s");
  }
  return out;
}

}  // namespace arrhenius_detail

inline void add_arrhenius_command(CLI::App& app) {
  struct Options {
    std::vector<std::string> results;
    std::string json, plot;
    double at = 300.0, z = 1.0;
    std::optional<double> haven;
    bool unweighted = false;
  };
  auto opt = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("arrhenius", "Arrhenius fit of `nernst msd` results: E_A, D0, σ(300 K) with confidence interval");
  cmd->add_option("results", opt->results,
                  "JSON reports of `nernst msd` (with --temperature and --charge) and/or `nernst jumps` (rates per jump type, "
                  "layer classes and D per layer are fitted too)")
      ->required();
  cmd->add_option("--at", opt->at, "extrapolation temperature, K")->capture_default_str();
  cmd->add_option("--z", opt->z, "interval half-width in standard errors of ln D (1 = 68 %, 1.96 = 95 %)")->capture_default_str();
  cmd->add_option("--haven", opt->haven, "Haven ratio for σ (default: the one stored in the reports)");
  cmd->add_flag("--unweighted", opt->unweighted, "ordinary fit of ln D (pymatgen 'linear') instead of 1/Var(ln D) weights");
  cmd->add_option("--json", opt->json, "JSON report")->required();
  cmd->add_option("--plot", opt->plot, "SVG Arrhenius plot (+ a PNG copy when built with librsvg)");
  cmd->callback([opt]() {
    using namespace nernst::analysis;
    std::vector<TemperatureDiffusivity> temps;
    std::vector<std::string> files;
    double n_ions = 0, charge = 0, volume = 0, haven = 1.0;
    std::size_t n_volumes = 0;
    bool have_sigma = true;
    std::vector<std::string> msd_files;
    const nlohmann::json by_type = arrhenius_detail::per_type_and_plane_fits(opt->results, msd_files);
    if (msd_files.empty()) {  // only jump reports: the fits per jump type (and per layer)
      std::ofstream f(opt->json);
      if (!f) throw IOError("cannot open '" + opt->json + "' for writing");
      f << by_type.dump(1) << "\n";
      return;
    }
    for (const auto& path : msd_files) {
      const nlohmann::json j = arrhenius_detail::read_json_file(path);
      for (const char* k : {"D_cm2_s", "D_err_cm2_s", "temperature_K"})
        if (!j.contains(k)) throw ValueError("'" + path + "' has no '" + k + "' (run `nernst msd` with --temperature and --charge)");
      temps.push_back(workflow::temperature_from_json(j));
      files.push_back(path);
      if (j.contains("charge") && j.contains("n_ions") && j.contains("volume_A3")) {
        n_ions = j["n_ions"].get<double>();
        charge = j["charge"].get<double>();
        volume += j["volume_A3"].get<double>();
        ++n_volumes;
        if (j.contains("haven_ratio")) haven = j["haven_ratio"].get<double>();
      } else {
        have_sigma = false;
      }
    }
    if (opt->haven) haven = *opt->haven;
    if (n_volumes) volume /= static_cast<double>(n_volumes);
    // Only temperatures with measurable diffusion enter the fit; the others are listed.
    const ArrheniusSelection sel = select_arrhenius_points(temps);
    const auto& pts = sel.points;
    nlohmann::json out = by_type;
    nlohmann::json skipped = nlohmann::json::array();
    for (std::size_t i = 0; i < temps.size(); ++i) {
      const auto& t = temps[i];
      if (!t.verdict.diffusive || !(t.verdict.D_cm2_s > 0)) {
        skipped.push_back({{"file", files[i]}, {"T_K", t.T_K}, {"D_upper_limit_cm2_s", t.verdict.D_upper_limit_cm2_s},
                           {"reason", "no diffusion detected" + (t.verdict.reason.empty() ? std::string() : ": " + t.verdict.reason)}});
        std::printf("skipped %s (%g K): %s\n", files[i].c_str(), t.T_K,
                    format_diffusivity(false, 0, 0, t.verdict.D_upper_limit_cm2_s).c_str());
      }
    }
    out["n_inputs"] = temps.size();
    out["n_temperatures"] = pts.size();
    out["skipped"] = skipped;
    const double T = opt->at;
    const auto refusal = extrapolation_refusal(pts.size(), sel.n_excluded());
    out["extrapolation_T_K"] = T;
    out["D300K_cm2_s"] = nullptr;
    out["sigma300K_mS_cm"] = nullptr;
    out["extrapolation_reason"] = refusal ? nlohmann::json(*refusal) : nlohmann::json();
    auto write = [&]() {
      std::ofstream f(opt->json);
      if (!f) throw IOError("cannot open '" + opt->json + "' for writing");
      f << out.dump(1) << "\n";
    };
    if (pts.size() < 2) {
      out["fit_available"] = false;
      out["reason"] = "fewer than two temperatures with measurable diffusion (" + std::to_string(pts.size()) + " of " +
                      std::to_string(temps.size()) + "): no Arrhenius fit";
      write();
      std::printf("%s\n", out["reason"].get<std::string>().c_str());
      return;
    }
    const auto fit = fit_arrhenius(pts, !opt->unweighted);
    const double D = fit.D_at(T);
    const auto iv = fit.D_interval(T, opt->z);
    out["fit_available"] = true;
    out["weighted"] = fit.weighted;
    out["Ea_eV"] = fit.Ea_eV;
    out["Ea_err_eV"] = fit.Ea_err_eV;
    out["D0_cm2_s"] = fit.D0_cm2_s;
    out["lnD0_err"] = fit.lnD0_err;
    nlohmann::json points = nlohmann::json::array();
    for (const auto& p : pts) points.push_back({{"T_K", p.T_K}, {"D_cm2_s", p.D_cm2_s}, {"D_err_cm2_s", p.D_err_cm2_s}});
    out["points"] = points;
    if (refusal) {  // E_A from two points, but no extrapolation
      write();
      if (!opt->plot.empty()) std::printf("no plot written (it shows the extrapolation to %g K)\n", T);
      std::printf("Ea = %.4f ± %.4f eV from %zu temperatures; D and sigma at %g K not extrapolated: %s\n", fit.Ea_eV,
                  fit.Ea_err_eV, pts.size(), T, refusal->c_str());
      return;
    }
    out["interval_z"] = opt->z;
    out["interval_note"] = "ln D ± z·sqrt(vᵀ Cov v), v = (1/T, 1): slope–intercept covariance included";
    out["D300K_cm2_s"] = D;
    out["D300K_interval_cm2_s"] = {iv.first, iv.second};
    if (have_sigma && volume > 0) {
      auto s = [&](double d) { return nernst_einstein_mS_cm(d, n_ions, charge, volume, T, haven); };
      out["sigma300K_mS_cm"] = s(D);
      out["sigma300K_interval_mS_cm"] = {s(iv.first), s(iv.second)};
      out["haven_ratio"] = haven;
      out["n_ions"] = n_ions;
      out["charge"] = charge;
      out["volume_A3"] = volume;
    }
    write();
    if (!opt->plot.empty()) {
      std::vector<std::string> notes;
      if (out["sigma300K_mS_cm"].is_number()) {
        char b[200];
        std::snprintf(b, sizeof b, "σ(%g K) = %.3g mS/cm [%.3g, %.3g]", T, out["sigma300K_mS_cm"].get<double>(),
                      out["sigma300K_interval_mS_cm"][0].get<double>(), out["sigma300K_interval_mS_cm"][1].get<double>());
        notes.push_back(b);
      }
      write_svg_and_png(render_svg(arrhenius_plot("Arrhenius plot", pts, fit, T, opt->z, notes)), opt->plot);
    }
    std::printf("Ea = %.4f ± %.4f eV, D0 = %.3e cm²/s, D(%g K) = %.3e cm²/s [%.3e, %.3e]\n", fit.Ea_eV, fit.Ea_err_eV,
                fit.D0_cm2_s, T, D, iv.first, iv.second);
    if (out["sigma300K_mS_cm"].is_number())
      std::printf("sigma(%g K) = %.4g mS/cm [%.4g, %.4g]\n", T, out["sigma300K_mS_cm"].get<double>(),
                  out["sigma300K_interval_mS_cm"][0].get<double>(), out["sigma300K_interval_mS_cm"][1].get<double>());
  });
}

}  // namespace nernst::cli
