// The transport part of the report (workflow/transport_report.hpp) on mixed inputs: the numbers
// of issue 17 (D = −5.4e-8, +4.3e-8, −4.5e-8 cm²/s at 500/600/700 K, within their errors of zero)
// are reported as "no diffusion detected, D < limit" and never as a D ≤ 0; they leave the
// Arrhenius fit; with two diffusive temperatures E_A is fitted but σ(300 K) is null with a reason;
// with three it is extrapolated (exact Arrhenius input → exact E_A and σ(300 K)).
#include "../test_support.hpp"

#include <nernst/workflow/transport_report.hpp>

#include <cmath>
#include <iomanip>
#include <regex>
#include <sstream>
#include <string>

using namespace nernst;

namespace {

constexpr double V = 1307.0;   // Å³
constexpr double n_li = 18.0;

/// A temperature's JSON as the pipeline's msd stage writes it, from a fitted D, its He et al.
/// error, the ion standard error and the hop count.
nlohmann::json temperature(double T, double D, double sigma_he, double sigma_ions, std::size_t hops) {
  analysis::DiffusionFit fit;
  fit.t_start_ps = 1.0;
  fit.t_end_ps = 7.0;
  fit.D_cm2_s = D;
  fit.D_err_cm2_s = sigma_he;
  fit.line.slope = 6 * D / 1e-4;
  analysis::HopResult h;
  h.n_hops = hops;
  h.threshold_A = 1.5;
  h.coarse_frames = 5;
  const analysis::DetectionOptions det;
  const auto v = analysis::assess_diffusivity(D, sigma_he, sigma_ions, hops, det);
  nlohmann::json t{{"T_K", T}, {"n_mobile", n_li}, {"framework_msd_A2", 0.5}, {"framework_mobile", false},
                   {"sigma_mS_cm", v.diffusive ? nlohmann::json(analysis::nernst_einstein_mS_cm(D, n_li, 1, V, T)) : nlohmann::json()},
                   {"sigma_upper_limit_mS_cm",
                    v.diffusive ? nlohmann::json() : nlohmann::json(analysis::nernst_einstein_mS_cm(v.D_upper_limit_cm2_s, n_li, 1, V, T))}};
  t.update(workflow::diffusivity_json(v, fit, h, det));
  t.update(workflow::axes_json(std::vector<analysis::DiffusivityVerdict>(3, v), v.diffusive));
  return t;
}

nlohmann::json summary(const nlohmann::json& temps) {
  std::vector<analysis::TemperatureDiffusivity> td;
  for (const auto& t : temps) td.push_back(workflow::temperature_from_json(t));
  return workflow::arrhenius_summary(analysis::select_arrhenius_points(td), V, n_li);
}

/// Every "D = x" and "D < x" in a text, as numbers.
std::vector<double> printed_D(const std::string& s) {
  std::vector<double> v;
  const std::regex re(R"(D [=<] (-?[0-9.]+(e[-+][0-9]+)?))");
  for (auto it = std::sregex_iterator(s.begin(), s.end(), re); it != std::sregex_iterator(); ++it) v.push_back(std::stod((*it)[1]));
  return v;
}

}  // namespace

TEST_CASE("report of issue 17's numbers: non-significant D's become upper limits, never a D <= 0; no Arrhenius fit from one point") {
  // He et al. errors ∝ |D| (RSD 0.9), ion standard errors 4e-8 cm²/s: the three low-T slopes are noise.
  nlohmann::json temps = nlohmann::json::array({temperature(500, -5.4e-8, 0.9 * 5.4e-8, 4e-8, 0),
                                                temperature(600, 4.3e-8, 0.9 * 4.3e-8, 4e-8, 2),
                                                temperature(700, -4.5e-8, 0.9 * 4.5e-8, 4e-8, 3),
                                                temperature(800, 1.6e-5, 0.25 * 1.6e-5, 1e-6, 40)});
  // JSON: null D, upper limit = max(D, 0) + 2 max(σ_He, σ_ions)
  CHECK_FALSE(temps[0]["diffusive"].get<bool>());
  CHECK(temps[0]["D_cm2_s"].is_null());
  CHECK(temps[0]["sigma_mS_cm"].is_null());
  CHECK(temps[0]["D_upper_limit_cm2_s"].get<double>() == doctest::Approx(2 * 4.86e-8).epsilon(1e-12));
  CHECK(temps[1]["D_upper_limit_cm2_s"].get<double>() == doctest::Approx(4.3e-8 + 2 * 4e-8).epsilon(1e-12));
  CHECK(temps[2]["D_upper_limit_cm2_s"].get<double>() == doctest::Approx(2 * 4.05e-8).epsilon(1e-12));
  CHECK(temps[1]["n_hops"].get<std::size_t>() == 2);
  CHECK(temps[1]["fit_window_ps"] == nlohmann::json::array({1.0, 7.0}));
  CHECK(temps[1]["detection"]["reason"].get<std::string>().find("not significantly above zero") != std::string::npos);
  CHECK(temps[3]["diffusive"].get<bool>());
  CHECK(temps[3]["D_cm2_s"].get<double>() == 1.6e-5);
  CHECK(temps[3]["D_err_cm2_s"].get<double>() == doctest::Approx(0.25 * 1.6e-5).epsilon(1e-12));
  CHECK(temps[3]["D_upper_limit_cm2_s"].is_null());

  // the Markdown table: the three upper limits, the one value, nothing ≤ 0, hops and windows shown
  const std::string md = workflow::transport_table_md(temps);
  const auto Ds = printed_D(md);
  REQUIRE(Ds.size() == 4);
  for (double d : Ds) CHECK(d > 0);
  CHECK(Ds[0] == doctest::Approx(9.7e-8).epsilon(1e-9));  // printed with 2 significant digits
  CHECK(Ds[1] == doctest::Approx(1.2e-7).epsilon(1e-9));
  CHECK(Ds[2] == doctest::Approx(8.1e-8).epsilon(1e-9));
  CHECK(Ds[3] == doctest::Approx(1.6e-5).epsilon(1e-9));
  CHECK(md.find("no diffusion detected, D < 9.7e-08 cm²/s") != std::string::npos);
  CHECK(md.find("D = 1.600e-05 ± 4.0e-06 cm²/s") != std::string::npos);
  CHECK(md.find("-5.4") == std::string::npos);
  CHECK(md.find("-4.5") == std::string::npos);
  CHECK(md.find("| 40 | 1–7 |") != std::string::npos);  // hops, fit window

  // Arrhenius: only 800 K diffuses → no fit, no σ(300 K), and it says why
  const auto a = summary(temps);
  CHECK(a["excluded_not_diffusive_K"] == nlohmann::json::array({500.0, 600.0, 700.0}));
  CHECK(a["n_diffusive"].get<int>() == 1);
  CHECK_FALSE(a["fit_available"].get<bool>());
  CHECK_FALSE(a["available"].get<bool>());
  CHECK(a["sigma300K_mS_cm"].is_null());
  CHECK(a["reason"].get<std::string>().find("fewer than two temperatures with measurable diffusion") == 0);
  const std::string amd = workflow::arrhenius_md(a, "Li", 4.0);
  CHECK(amd.find("No diffusion detected at 500, 600, 700 K") != std::string::npos);
  CHECK(amd.find("Arrhenius fit not available") != std::string::npos);
  CHECK(amd.find("σ(300 K) =") == std::string::npos);

  // JSON written before "diffusive" existed is judged by the MSD test: a negative D never enters
  const auto old = workflow::temperature_from_json(nlohmann::json{{"T_K", 500}, {"D_cm2_s", -5.4e-8}, {"D_err_cm2_s", 4.9e-8}});
  CHECK_FALSE(old.verdict.diffusive);
}

TEST_CASE("two diffusive temperatures: E_A through both points, sigma(300 K) null with a reason; three: extrapolated exactly") {
  const double Ea = 0.25, D0 = 1e-3;
  auto D = [&](double T) { return D0 * std::exp(-Ea / (units::kB * T)); };
  nlohmann::json temps = nlohmann::json::array({temperature(500, 2e-9, 2e-9, 3e-9, 1),
                                                temperature(700, D(700), 0.1 * D(700), 0.0, 100),
                                                temperature(800, D(800), 0.1 * D(800), 0.0, 150)});
  auto a = summary(temps);
  CHECK(a["fit_available"].get<bool>());
  CHECK_FALSE(a["available"].get<bool>());
  CHECK(a["Ea_eV"].get<double>() == doctest::Approx(Ea).epsilon(1e-10));
  CHECK(a["sigma300K_mS_cm"].is_null());
  CHECK(a["D300K_cm2_s"].is_null());
  CHECK(a["sigma300K_reason"].get<std::string>().find("only 2 temperatures with measurable diffusion (1 left out)") == 0);
  CHECK(a["reason"] == a["sigma300K_reason"]);
  CHECK(a.dump().find("\"sigma300K_mS_cm\":null") != std::string::npos);
  std::string md = workflow::arrhenius_md(a, "Li", 4.0);
  CHECK(md.find("**σ(300 K) not extrapolated**: only 2 temperatures") != std::string::npos);
  CHECK(md.find("E_A = 0.25 ±") != std::string::npos);

  temps.push_back(temperature(900, D(900), 0.1 * D(900), 0.0, 200));
  a = summary(temps);
  CHECK(a["available"].get<bool>());
  CHECK(a["n_diffusive"].get<int>() == 3);
  CHECK(a["Ea_eV"].get<double>() == doctest::Approx(Ea).epsilon(1e-10));
  CHECK(a["D300K_cm2_s"].get<double>() == doctest::Approx(D(300)).epsilon(1e-9));
  CHECK(a["sigma300K_mS_cm"].get<double>() == doctest::Approx(analysis::nernst_einstein_mS_cm(D(300), n_li, 1, V, 300)).epsilon(1e-9));
  CHECK(a["sigma300K_reason"].is_null());
  CHECK_FALSE(a.contains("reason"));
  md = workflow::arrhenius_md(a, "Li", 4.0);
  CHECK(md.find("**σ(300 K) = ") != std::string::npos);
  CHECK(md.find("No diffusion detected at 500 K") != std::string::npos);
}

TEST_CASE("summary table (seed paper's Table 1 layout): V per atom at each T, E_A, sigma(300 K) (min; max) or why not") {
  const double Ea = 0.2, D0 = 1e-3;
  auto D = [&](double T) { return D0 * std::exp(-Ea / (units::kB * T)); };
  nlohmann::json temps = nlohmann::json::array();
  for (double T : {600.0, 700.0, 800.0}) {
    auto t = temperature(T, D(T), 0.1 * D(T), 0.0, 120);
    t["volume_per_atom_A3"] = 22.0 + (T - 600) / 100;  // 22, 23, 24
    temps.push_back(t);
  }
  nlohmann::json orderings = nlohmann::json::array();
  orderings.push_back({{"ordering", {{"file", "top0.vasp"}}}, {"temperatures", temps}, {"arrhenius", summary(temps)}});
  const auto a = orderings[0]["arrhenius"];
  std::string md = workflow::summary_table_md(orderings, 10000);
  CHECK(md.find("| V at 600 K (Å³/atom) | V at 700 K (Å³/atom) | V at 800 K (Å³/atom) |") != std::string::npos);
  CHECK(md.find("| top0.vasp | 10000 | 22 | 23 | 24 | 0.2 ± ") != std::string::npos);
  std::ostringstream sigma;
  sigma << std::setprecision(4) << a["sigma300K_mS_cm"].get<double>() << " (" << a["sigma300K_interval_mS_cm"][0].get<double>()
        << "; " << a["sigma300K_interval_mS_cm"][1].get<double>() << ")";
  CHECK(md.find(sigma.str()) != std::string::npos);

  // Two diffusive temperatures: no sigma(300 K), the reason instead.
  temps.erase(temps.begin());
  orderings[0]["temperatures"] = temps;
  orderings[0]["arrhenius"] = summary(temps);
  md = workflow::summary_table_md(orderings, 1);
  CHECK(md.find("not given: only 2 temperatures with measurable diffusion") != std::string::npos);
}
