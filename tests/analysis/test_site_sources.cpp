// Where the pipeline's site/jump analysis gets its sites (the parent structure's mobile-ion sites
// repeated into the MD supercell) and how the report shows planar D and jump statistics.
#include "../test_support.hpp"

#include <nernst/analysis/site_list.hpp>
#include <nernst/core/units.hpp>
#include <nernst/workflow/transport_report.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <string>

using namespace nernst;

TEST_CASE("sites_in_supercell: the parent's mobile-ion sites (partial occupancy included) in a supercell") {
  Structure parent(Lattice(Eigen::Matrix3d::Identity() * 5.6));
  Site mixed;
  mixed.frac = Eigen::Vector3d(0.0, 0.0, 0.0);
  mixed.species = {{3, 0.25, std::nullopt}, {39, 0.25, std::nullopt}};
  mixed.label = "M1";
  parent.add_site(mixed);
  parent.add_site(17, Eigen::Vector3d(0.5, 0.5, 0.5), "Cl1");
  parent.add_site(3, Eigen::Vector3d(0.25, 0.5, 0.0), "Li2");

  Eigen::Matrix3d M = Eigen::Matrix3d::Identity();
  M(2, 2) = 2;
  M(0, 1) = 1;  // a non-diagonal supercell: a' = a + b, b' = b, c' = 2c
  const Lattice cell(M * parent.lattice().matrix());
  const auto s = analysis::sites_in_supercell(parent, 3, cell, "parent.cif");
  REQUIRE(s.size() == 4);  // 2 Li-bearing sites x det(M) = 2
  int m1 = 0, li2 = 0;
  for (std::size_t k = 0; k < s.size(); ++k) {
    m1 += s.labels[k] == "M1";
    li2 += s.labels[k] == "Li2";
    for (int a = 0; a < 3; ++a) CHECK((s.frac[k][a] >= 0 && s.frac[k][a] < 1));
    // each site is a parent site plus a parent lattice vector
    const Eigen::Vector3d fp = M.transpose() * s.frac[k];
    const Eigen::Vector3d base = s.labels[k] == "M1" ? Eigen::Vector3d(0, 0, 0) : Eigen::Vector3d(0.25, 0.5, 0.0);
    for (int a = 0; a < 3; ++a) CHECK(std::abs((fp[a] - base[a]) - std::round(fp[a] - base[a])) < 1e-12);
  }
  CHECK(m1 == 2);
  CHECK(li2 == 2);

  // A cell that is no integer multiple of the parent is refused with the source named.
  const Lattice other(Eigen::Matrix3d::Identity() * 4.3);
  CHECK_THROWS_WITH_AS(analysis::sites_in_supercell(parent, 3, other, "parent.cif"),
                       doctest::Contains("parent.cif: the cell is not a supercell of the parent structure"), ValueError);
  CHECK_THROWS_WITH_AS(analysis::sites_in_supercell(parent, 11, cell, "parent.cif"), doctest::Contains("no site holds the mobile species"),
                       ValueError);
}

TEST_CASE("report: planar D and site-to-site jump tables (GEMDAT's inf/nan shown as such, failures explained)") {
  using nlohmann::json;
  json t1 = {{"T_K", 600.0},
             {"D_plane", {{"ab", {{"D_cm2_s", 1.5e-5}, {"D_upper_limit_cm2_s", nullptr}}},
                          {"ac", {{"D_cm2_s", nullptr}, {"D_upper_limit_cm2_s", 2.0e-7}}},
                          {"bc", {{"D_cm2_s", 3.0e-6}, {"D_upper_limit_cm2_s", nullptr}}}}},
             {"jumps", {{"n_sites", 45},
                        {"site_radius_A", {{"oct_L", 1.0924572}, {"oct_M", 1.0924572}}},
                        {"n_jumps", 124},
                        {"jumps", {{"oct_L->oct_L", 46}}},
                        {"rates_per_s", {{"oct_L->oct_L", {{"rates", 1.7e10}, {"std", 1e10}}}}},
                        {"activation_energies_eV", {{"oct_L->oct_L", {{"energy", 0.2857}, {"std", "nan"}}}}},
                        {"tracer_diffusivity_m2_s", 8.06e-10},
                        {"jump_diffusivity_m2_s", 1.05e-9},
                        {"correlation_factor", 0.769},
                        {"attempt_frequency_Hz", 6.67e12}}}};
  json t2 = {{"T_K", 500.0}, {"jumps", {{"error", "sites 1.1 A apart leave too small a default radius"}}}};
  json old = {{"T_K", 400.0}};  // analysed before planar D and jumps were recorded
  const std::string md = workflow::planar_and_jumps_md(json::array({t1, t2, old}));
  CHECK(md.find("| 600 | 1.500e-05 | < 2.0e-07 | 3.000e-06 |") != std::string::npos);
  CHECK(md.find("| 600 | 45 | 1.092 | 124 | 8.060e-10 | 1.050e-09 | 0.769 | 6.67 | oct_L->oct_L: 46, 1.70e+10, 0.286 ± nan |") !=
        std::string::npos);
  CHECK(md.find("| 500 | — | — | — | — | — | — | — | not analysed: sites 1.1 A apart") != std::string::npos);
  CHECK(md.find("| 400") == std::string::npos);
  CHECK(workflow::planar_and_jumps_md(json::array({old})).empty());

  // planes_json: measured only with the total D, otherwise an upper limit
  analysis::DiffusivityVerdict yes, no;
  yes.diffusive = true;
  yes.D_cm2_s = 2e-5;
  no.D_upper_limit_cm2_s = 1e-7;
  const json p = workflow::planes_json({{"ab", yes}, {"bc", no}}, {1e-6, 5e-8}, true);
  CHECK(p["ab"]["D_cm2_s"].get<double>() == 2e-5);
  CHECK(p["ab"]["D_err_cm2_s"].get<double>() == 1e-6);
  CHECK(p["bc"]["D_cm2_s"].is_null());
  CHECK(p["bc"]["D_upper_limit_cm2_s"].get<double>() == 1e-7);
  const json q = workflow::planes_json({{"ab", yes}}, {1e-6}, false);
  CHECK(q["ab"]["D_cm2_s"].is_null());
}

TEST_CASE("report: Arrhenius fits per jump type and per plane across the pipeline's temperatures") {
  using nlohmann::json;
  const double kB = units::kB;
  json per_T = json::array();
  for (double T : {500.0, 600.0, 700.0, 800.0}) {
    const double r = 5e13 * std::exp(-0.28 / (kB * T)), D = 2e-3 * std::exp(-0.35 / (kB * T));
    json t = {{"T_K", T},
              {"D_plane", {{"ab", {{"D_cm2_s", D}, {"D_err_cm2_s", 0.1 * D}}},
                           {"bc", {{"D_cm2_s", T < 600 ? json() : json(0.5 * D)}, {"D_err_cm2_s", 0.1 * D}}}}}};
    if (T == 700)
      t["jumps"] = {{"error", "sites too close"}};  // a temperature without a site analysis
    else
      t["jumps"]["rates_per_s"] = {{"Li1->Li1", {{"rates", r}, {"std", 0.2 * r}}}, {"Li1->Li2", {{"rates", 0.0}, {"std", 0.0}}}};
    per_T.push_back(t);
  }
  const json a = workflow::jump_and_plane_arrhenius(per_T);
  CHECK(a["per_jump_type"]["Li1->Li1"]["Ea_eV"].get<double>() == doctest::Approx(0.28).epsilon(1e-10));
  CHECK(a["per_jump_type"]["Li1->Li1"]["T_K"].size() == 3);
  CHECK(a["per_jump_type"]["Li1->Li2"]["reason"] == "fewer than two temperatures with a positive value");
  CHECK(a["planar"]["ab"]["Ea_eV"].get<double>() == doctest::Approx(0.35).epsilon(1e-10));
  CHECK(a["planar"]["ab"]["prefactor_cm2_s"].get<double>() == doctest::Approx(2e-3).epsilon(1e-9));
  CHECK(a["planar"]["bc"]["Ea_eV"].get<double>() == doctest::Approx(0.35).epsilon(1e-10));
  CHECK(a["planar"]["bc"]["left_out_K"] == json::array({500.0}));
  const std::string md = workflow::jump_arrhenius_md(a);
  CHECK(md.find("| rate Li1->Li1 | 0.280 ± ") != std::string::npos);
  CHECK(md.find("| rate Li1->Li2 | — (fewer than two temperatures with a positive value) | 0 | 500, 600, 800 |") != std::string::npos);
  CHECK(md.find("| D bc | 0.350 ± ") != std::string::npos);
  CHECK(md.find("| 3 | 500 |") != std::string::npos);
  CHECK(md.find("| rate Li1->Li1 | 0.280 ± 0.") != std::string::npos);
  CHECK(workflow::jump_arrhenius_md(json::object()).empty());
}
