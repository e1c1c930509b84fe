// Sites from the density maxima and from a structure, layers of sites with within/cross-layer
// jump classes, D per layer, and Arrhenius fits per jump type / plane (docs/jumps.md).
#include "../test_support.hpp"

#include <nernst/analysis/density_sites.hpp>
#include <nernst/analysis/gemdat_arrhenius.hpp>
#include <nernst/analysis/jump_arrhenius.hpp>
#include <nernst/analysis/layer_analysis_json.hpp>
#include <nernst/analysis/layer_diffusion.hpp>
#include <nernst/analysis/site_analysis.hpp>
#include <nernst/analysis/site_layers.hpp>
#include <nernst/core/units.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <random>
#include <string>
#include <vector>

using namespace nernst;

namespace {

/// Pushes frames of Cartesian positions (ions only) to the site analysis and the unwrapped track.
struct WalkRecorder {
  analysis::Estimator<analysis::SiteAnalysis> sites;
  analysis::UnwrappedIons track;
  WalkRecorder(std::size_t n, analysis::SiteList s, analysis::SiteAnalysisOptions o)
      : sites(ions(n), std::move(s), o), track(ions(n)) {}
  static std::vector<std::size_t> ions(std::size_t n) {
    std::vector<std::size_t> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = i;
    return v;
  }
  void push(const std::vector<double>& xyz, const Eigen::Matrix3d& cell) {
    sites.push(xyz.data(), cell);
    track.push(xyz.data(), cell);
  }
};

}  // namespace

TEST_CASE("sites from the density maxima: ions vibrating around known sites are found (count exact, within a grid spacing)") {
  // A triclinic cell; one site straddles the c face (0.98) and one the a face, so periodic images
  // of a peak must merge into one site.
  Eigen::Matrix3d cell;
  cell << 9.0, 0.0, 0.0, 0.8, 10.0, 0.0, 0.5, -0.4, 11.0;
  const Lattice lat(cell);
  const std::vector<Eigen::Vector3d> truth{{0.1, 0.2, 0.98}, {0.5, 0.5, 0.5}, {0.99, 0.7, 0.3},
                                           {0.6, 0.1, 0.2},  {0.3, 0.8, 0.7}, {0.75, 0.45, 0.85}};
  const std::vector<std::size_t> per_site{12, 6, 10, 4, 8, 5};  // unequal occupancy → unequal peaks
  std::vector<std::size_t> home;
  for (std::size_t s = 0; s < truth.size(); ++s)
    for (std::size_t k = 0; k < per_site[s]; ++k) home.push_back(s);
  const std::size_t n = home.size();
  analysis::DensityMapOptions dmo;
  dmo.interval_A = 0.3;
  analysis::Estimator<analysis::DensityMap> dm(WalkRecorder::ions(n), cell, dmo);
  std::mt19937_64 rng(11);
  std::normal_distribution<double> vib(0.0, 0.25);  // Å, Cartesian
  std::vector<double> xyz(3 * n);
  for (int t = 0; t < 400; ++t) {
    for (std::size_t i = 0; i < n; ++i) {
      const Eigen::Vector3d r = lat.to_cart(truth[home[i]]) + Eigen::Vector3d(vib(rng), vib(rng), vib(rng));
      for (int a = 0; a < 3; ++a) xyz[3 * i + static_cast<std::size_t>(a)] = r[a];
    }
    dm.push(xyz.data(), cell);
  }
  const auto found = analysis::sites_from_density(dm, {}, "walk.extxyz");
  REQUIRE(found.size() == truth.size());
  CHECK(found.source == "walk.extxyz");
  std::vector<int> matched(truth.size(), 0);
  for (std::size_t k = 0; k < found.size(); ++k) {
    CHECK(found.labels[k] == "dens");
    for (int a = 0; a < 3; ++a) CHECK((found.frac[k][a] >= 0 && found.frac[k][a] < 1));
    double best = 1e9;
    std::size_t arg = 0;
    for (std::size_t s = 0; s < truth.size(); ++s) {
      const double d = lat.minimum_image(lat.to_cart(found.frac[k] - truth[s])).norm();
      if (d < best) best = d, arg = s;
    }
    INFO("site " << k << " nearest true site " << arg << " at " << best << " Å");
    CHECK(best < dmo.interval_A);
    ++matched[arg];
  }
  for (int m : matched) CHECK(m == 1);
  // The most occupied site has the highest peak: it comes first.
  CHECK(lat.minimum_image(lat.to_cart(found.frac[0] - truth[0])).norm() < dmo.interval_A);

  analysis::DensitySiteOptions bad;
  bad.min_fraction_of_max = 0;
  CHECK_THROWS_WITH_AS(analysis::sites_from_density(dm, bad), doctest::Contains("threshold fraction must be in (0, 1]"), ValueError);
  analysis::Estimator<analysis::DensityMap> empty(WalkRecorder::ions(1), cell, dmo);
  CHECK_THROWS_WITH_AS(analysis::sites_from_density(empty, {}, "none.extxyz"), doctest::Contains("none.extxyz: no frames"), ValueError);
}

TEST_CASE("sites from the structure: the ordered structure's own mobile-ion sites; another atom count is refused") {
  Structure s(Lattice(Eigen::Matrix3d::Identity() * 5.0));
  s.add_site(3, Eigen::Vector3d(0.0, 0.0, 0.0), "Li1");
  s.add_site(3, Eigen::Vector3d(0.5, 0.5, 0.0), "Li2");
  s.add_site(17, Eigen::Vector3d(0.5, 0.5, 0.5), "Cl1");
  const Lattice same(Eigen::Matrix3d::Identity() * 5.0);
  const auto own = analysis::sites_from_structure(s, 3, same, 3, "ordered.cif", "traj.extxyz");
  REQUIRE(own.size() == 2);
  CHECK(own.labels[0] == "Li1");
  CHECK((own.frac[1] - Eigen::Vector3d(0.5, 0.5, 0.0)).norm() < 1e-12);
  // a 1x1x2 supercell trajectory of the same structure: 6 atoms, 4 Li sites
  Eigen::Matrix3d sc = Eigen::Matrix3d::Identity() * 5.0;
  sc(2, 2) = 10.0;
  CHECK(analysis::sites_from_structure(s, 3, Lattice(sc), 6, "ordered.cif", "traj.extxyz").size() == 4);
  CHECK_THROWS_WITH_AS(analysis::sites_from_structure(s, 3, same, 4, "ordered.cif", "traj.extxyz"),
                       doctest::Contains("ordered.cif: the structure has 3 atoms (3 in the trajectory's cell), the trajectory traj.extxyz 4"),
                       ValueError);
}

TEST_CASE("layers along c: periodic gap clustering; jumps classified within / cross layer with counts and rates") {
  // Three layers: one across the c face (0.98 and 0.02), one at 0.25, one at 0.5.
  Eigen::Matrix3d cell = Eigen::Matrix3d::Identity() * 6.0;
  cell(2, 2) = 12.0;
  analysis::SiteList sites;
  sites.source = "layers.cif";
  sites.lattice = Lattice(cell);
  const std::vector<Eigen::Vector3d> f{{0.0, 0.0, 0.02}, {0.5, 0.0, 0.98}, {0.0, 0.0, 0.5},
                                       {0.5, 0.5, 0.5},  {0.0, 0.5, 0.26}, {0.5, 0.5, 0.24}};
  for (const auto& x : f) sites.frac.push_back(x), sites.labels.push_back("Li");
  const auto layers = analysis::assign_layers(sites, sites.lattice, analysis::parse_lattice_axis("c"), 1.0);
  REQUIRE(layers.n_layers() == 3);
  CHECK(layers.layer_of_site == std::vector<int>{0, 0, 2, 2, 1, 1});
  CHECK(layers.position_frac[0] == doctest::Approx(0.0).epsilon(1e-12));
  CHECK(layers.position_frac[1] == doctest::Approx(0.25));
  CHECK(layers.position_frac[2] == doctest::Approx(0.5));
  CHECK(layers.width_A == doctest::Approx(12.0));
  // A tolerance below the 0.48 Å spread of the first layer splits it, and one above all gaps merges all.
  CHECK(analysis::assign_layers(sites, sites.lattice, 2, 0.4).n_layers() == 4);
  CHECK(analysis::assign_layers(sites, sites.lattice, 2, 4.0).n_layers() == 1);
  CHECK_THROWS_WITH_AS(analysis::parse_lattice_axis("z"), "unknown lattice direction 'z' for layers (choose a, b or c)", ValueError);

  // Two ions, 100 frames, 2 parts of 50 frames. Ion 0: s0 (0-9) → s1 (10-29) → s4 (30-69) → s5
  // (70-99); ion 1: s2 (0-59) → s3 (60-79) → s2 (80-99). Jumps (stop time, part): s0→s1 (10, 0)
  // within L0; s1→s4 (30, 0) L0→L1 cross; s4→s5 (70, 1) within L1; s2→s3 (60, 1), s3→s2 (80, 1)
  // within L2.
  auto site_of = [](std::size_t ion, std::size_t t) -> std::size_t {
    if (ion == 0) return t < 10 ? 0 : t < 30 ? 1 : t < 70 ? 4 : 5;
    return t < 60 ? 2 : t < 80 ? 3 : 2;
  };
  analysis::SiteAnalysisOptions o;
  o.radius_A = 0.5;
  o.dt_fs = 1.0;
  o.temperature_K = 300;
  o.n_parts = 2;
  WalkRecorder rec(2, sites, o);
  std::vector<double> xyz(6);
  for (std::size_t t = 0; t < 100; ++t) {
    for (std::size_t i = 0; i < 2; ++i) {
      const Eigen::Vector3d r = sites.lattice.to_cart(f[site_of(i, t)]);
      for (int a = 0; a < 3; ++a) xyz[3 * i + static_cast<std::size_t>(a)] = r[a];
    }
    rec.push(xyz, cell);
  }
  const auto r = rec.sites.result();
  REQUIRE(r.jumps.size() == 5);
  const auto st = analysis::layer_jump_stats(r, layers);
  const double part_time = 2 * 100 * 1e-15 / 2;  // n · N·Δt / P
  CHECK(st.classes.at("within").count == 4);
  CHECK(st.classes.at("cross").count == 1);
  CHECK(st.classes.at("L0->L0").count == 1);
  CHECK(st.classes.at("L0->L1").count == 1);
  CHECK(st.classes.at("L1->L1").count == 1);
  CHECK(st.classes.at("L2->L2").count == 2);
  CHECK(st.classes.size() == 6);
  // within: 1 in part 0, 3 in part 1 → mean 2, std (ddof 1) √2; cross: 1, 0 → 0.5, √0.5
  CHECK(st.classes.at("within").rate_per_s.value == doctest::Approx(2 / part_time));
  CHECK(st.classes.at("within").rate_per_s.std == doctest::Approx(std::sqrt(2.0) / part_time));
  CHECK(st.classes.at("cross").rate_per_s.value == doctest::Approx(0.5 / part_time));
  CHECK(st.classes.at("cross").rate_per_s.std == doctest::Approx(std::sqrt(0.5) / part_time));
  CHECK(st.classes.at("L2->L2").rate_per_s.value == doctest::Approx(1 / part_time));
  // per layer: ion fractions 30/200, 70/200, 100/200; rates per resident ion
  REQUIRE(st.per_layer.size() == 3);
  CHECK(st.per_layer[0].ion_fraction == doctest::Approx(0.15));
  CHECK(st.per_layer[1].ion_fraction == doctest::Approx(0.35));
  CHECK(st.per_layer[2].ion_fraction == doctest::Approx(0.5));
  CHECK(st.per_layer[0].n_within == 1);
  CHECK(st.per_layer[0].n_out == 1);
  CHECK(st.per_layer[2].n_within == 2);
  CHECK(st.per_layer[2].rate_within_per_resident_s == doctest::Approx(2 / (0.5 * 2 * 100e-15)));
  CHECK(st.per_layer[0].rate_out_per_resident_s == doctest::Approx(1 / (0.15 * 2 * 100e-15)));

  const auto j = analysis::layer_analysis_json(st, {});
  CHECK(j["direction"] == "c");
  CHECK(j["classes"]["cross"]["count"] == 1);
  CHECK(j["per_layer"][2]["n_within"] == 2);

  // The layers must be built from the analysis' sites.
  analysis::SiteLayers wrong = layers;
  wrong.layer_of_site.pop_back();
  CHECK_THROWS_WITH_AS(analysis::layer_jump_stats(r, wrong), doctest::Contains("built for 5 sites, the analysis has 6"), ValueError);
}

TEST_CASE("D per layer: a layered lattice walk with different in-layer hop rates recovers each layer's D") {
  // 4 layers along c (fc = 0, 0.25, 0.5, 0.75), each a 5 x 5 square grid of sites 3 Å apart.
  // Per step (0.1 ps) an ion hops by ±a or ±b with probability p_L each (p = 0.05 in even, 0.01 in
  // odd layers) or to the layer above / below with 0.002 each; it vibrates by 0.1 Å around its
  // site. Analytic in-plane D of layer L: MSD_∥ per step 4 p_L a² → D_L = p_L a² / Δt (d = 2).
  Eigen::Matrix3d cell = Eigen::Matrix3d::Identity() * 15.0;
  cell(2, 2) = 12.0;
  const Lattice lat(cell);
  analysis::SiteList sites;
  sites.source = "grid.cif";
  sites.lattice = lat;
  for (int l = 0; l < 4; ++l)
    for (int i = 0; i < 5; ++i)
      for (int j = 0; j < 5; ++j) {
        sites.frac.emplace_back(i / 5.0, j / 5.0, l / 4.0);
        sites.labels.push_back(l % 2 ? "slow" : "fast");
      }
  const double p_in[2] = {0.05, 0.01}, p_x = 0.002, dt_ps = 0.1, a = 3.0;
  const std::size_t n = 200, N = 4000;
  analysis::SiteAnalysisOptions o;
  o.radius_A = 1.0;
  o.dt_fs = dt_ps * 1000;
  o.temperature_K = 500;
  o.collective_max_dist_A.clear();  // ~10^5 jumps: the collective-pair search is not what is tested here
  WalkRecorder rec(n, sites, o);
  std::mt19937_64 rng(19);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::normal_distribution<double> vib(0.0, 0.1);
  std::vector<std::array<int, 3>> at(n);
  for (std::size_t k = 0; k < n; ++k) at[k] = {static_cast<int>(k % 5), static_cast<int>((k / 5) % 5), static_cast<int>((k / 25) % 4)};
  std::vector<double> xyz(3 * n);
  for (std::size_t t = 0; t < N; ++t) {
    for (std::size_t k = 0; k < n; ++k) {
      auto& s = at[k];
      if (t) {
        const double p = p_in[s[2] % 2], r = u(rng);
        if (r < p) ++s[0];
        else if (r < 2 * p) --s[0];
        else if (r < 3 * p) ++s[1];
        else if (r < 4 * p) --s[1];
        else if (r < 4 * p + p_x) s[2] = (s[2] + 1) % 4;
        else if (r < 4 * p + 2 * p_x) s[2] = (s[2] + 3) % 4;
      }
      const Eigen::Vector3d fr(s[0] / 5.0, s[1] / 5.0, s[2] / 4.0);
      const Eigen::Vector3d x = lat.to_cart(Lattice::wrap_frac(fr)) + Eigen::Vector3d(vib(rng), vib(rng), vib(rng));
      for (int c = 0; c < 3; ++c) xyz[3 * k + static_cast<std::size_t>(c)] = x[c];
    }
    rec.push(xyz, cell);
  }
  const auto r = rec.sites.result();
  const auto layers = analysis::assign_layers(sites, lat, 2, 1.0);
  REQUIRE(layers.n_layers() == 4);
  analysis::LayerDiffusionOptions lo;
  lo.max_lag_frames = 100;
  lo.fit.fit_start_ps = 1.0;
  lo.fit.fit_end_ps = 5.0;
  lo.fit.site_distance_A = a;
  const auto D = analysis::layer_diffusivities(rec.track, r, layers, lo);
  REQUIRE(D.size() == 4);
  for (const auto& d : D) {
    const double p = p_in[d.layer % 2];
    const double D_true = p * a * a / dt_ps * analysis::A2_per_ps_to_cm2_per_s;
    INFO("layer " << d.layer << ": D_true " << D_true);
    if (d.fit) MESSAGE("layer " << d.layer << ": D = " << d.fit->D_cm2_s << " +- " << d.fit->D_err_cm2_s << " cm2/s, exact " << D_true);
    REQUIRE(d.fit.has_value());
    CHECK(d.fit->dim == 2);
    CHECK(d.mean_ions == doctest::Approx(50).epsilon(0.25));  // ~n/4 ions per layer
    CHECK(d.fit->D_cm2_s == doctest::Approx(D_true).epsilon(0.10));
    CHECK(std::abs(d.fit->D_cm2_s - D_true) < 3.0 * d.fit->D_err_cm2_s);  // He et al. error bar covers the truth
  }
  // The ordinary 3-D analysis cannot tell the layers apart; the per-layer D differ fivefold.
  CHECK(D[0].fit->D_cm2_s / D[1].fit->D_cm2_s == doctest::Approx(5.0).epsilon(0.15));

  // Cross-layer jumps: the rate per ion is the walk's 2 p_x per step, within-layer ones 4 p_L.
  const auto st = analysis::layer_jump_stats(r, layers);
  const double per_s = 1.0 / (dt_ps * 1e-12);
  CHECK(st.classes.at("cross").rate_per_s.value == doctest::Approx(2 * p_x * per_s).epsilon(0.08));
  CHECK(st.per_layer[0].rate_within_per_resident_s == doctest::Approx(4 * p_in[0] * per_s).epsilon(0.05));
  CHECK(st.per_layer[1].rate_within_per_resident_s == doctest::Approx(4 * p_in[1] * per_s).epsilon(0.08));
}

TEST_CASE("Arrhenius per jump type and plane: synthetic exp(-E/kT) values recover E exactly; gaps are left out") {
  const double kB = units::kB;
  std::vector<analysis::TemperatureValues> temps;
  for (double T : {400.0, 500.0, 600.0, 750.0}) {
    analysis::TemperatureValues t;
    t.T_K = T;
    const double r1 = 3e13 * std::exp(-0.31 / (kB * T)), r2 = 1e12 * std::exp(-0.52 / (kB * T));
    t.values["oct_L->oct_L"] = {r1, 0.1 * r1};  // weighted fit
    t.values["layer cross"] = {r2, 0.0};       // no errors: ordinary fit
    t.values["oct_M->oct_M"] = {T < 500 ? 0.0 : r2, 0.2 * r2};  // no jump at 400 K
    if (T == 600) t.values["oct_L->oct_M"] = {r1, 0.1 * r1};      // one temperature only
    temps.push_back(t);
  }
  const auto fits = analysis::fit_arrhenius_per_key(temps);
  auto same_T = temps;
  for (auto& t : same_T) t.T_K = 500;
  CHECK(analysis::fit_arrhenius_per_key(same_T).at("layer cross").reason == "all values at one temperature");
  REQUIRE(fits.at("oct_L->oct_L").fit.has_value());
  CHECK(fits.at("oct_L->oct_L").fit->Ea_eV == doctest::Approx(0.31).epsilon(1e-10));
  CHECK(fits.at("oct_L->oct_L").fit->D0_cm2_s == doctest::Approx(3e13).epsilon(1e-9));
  CHECK(fits.at("oct_L->oct_L").fit->weighted);
  CHECK(fits.at("layer cross").fit->Ea_eV == doctest::Approx(0.52).epsilon(1e-10));
  CHECK_FALSE(fits.at("layer cross").fit->weighted);
  CHECK(fits.at("oct_M->oct_M").fit->Ea_eV == doctest::Approx(0.52).epsilon(1e-10));
  CHECK(fits.at("oct_M->oct_M").left_out_K == std::vector<double>{400.0});
  CHECK_FALSE(fits.at("oct_L->oct_M").fit.has_value());
  CHECK(fits.at("oct_L->oct_M").left_out_K.size() == 3);

  // From reports: GEMDAT's per-type rates (nan std as a string), layer classes, planar D.
  using nlohmann::json;
  const json rep = {{"temperature_K", 500.0},
                    {"rates_per_s", {{"A->B", {{"rates", 2e10}, {"std", "nan"}}}}},
                    {"layers", {{"classes", {{"cross", {{"count", 3}, {"rates_per_s", {{"rates", 1e9}, {"std", 5e8}}}}}}},
                                {"per_layer", json::array({json{{"layer", "L0"}, {"D_cm2_s", 1e-6}, {"D_err_cm2_s", 2e-7}}})}}}};
  const auto tv = analysis::jump_rates_from_json(rep);
  CHECK(tv.T_K == 500.0);
  CHECK(tv.values.at("A->B").value == 2e10);
  CHECK(std::isnan(tv.values.at("A->B").std));
  CHECK(tv.values.at("layer cross").std == 5e8);
  const json msd = {{"D_plane", {{"ab", {{"D_cm2_s", 3e-6}, {"D_err_cm2_s", 1e-7}}}, {"bc", {{"D_cm2_s", nullptr}, {"D_err_cm2_s", 1e-7}}}}}};
  const auto pd = analysis::planar_D_from_json(msd, 600);
  CHECK(pd.values.at("ab").value == 3e-6);
  CHECK(std::isnan(pd.values.at("bc").value));  // not measured: left out of the fit
  CHECK(analysis::planar_D_from_json(rep, 500).values.at("layer L0").value == 1e-6);
  CHECK_THROWS_WITH_AS(analysis::jump_rates_from_json(json{{"rates_per_s", json::object()}}), doctest::Contains("without a temperature"),
                       ValueError);
  const json out = analysis::arrhenius_per_key_json(fits, "per_s");
  CHECK(out["oct_L->oct_L"]["Ea_eV"].get<double>() == doctest::Approx(0.31).epsilon(1e-10));
  CHECK(out["oct_L->oct_M"]["reason"] == "fewer than two temperatures with a positive value");
}

TEST_CASE("GEMDAT's ArrheniusFit (point 19): tracer D per equal part and the residual-scaled weighted fit") {
  // Tracer D per part against a brute-force sum over the generator's own unwrapped positions.
  // N = 1006, P = 10: tau = 0, 100, 201, 301, ... (int(linspace(0, 1005, 11))), parts trimmed to 100.
  const std::size_t n = 7, N = 1006, P = 10;
  const double dt_s = 2e-14;
  Eigen::Matrix3d cell;
  cell << 8.0, 0.0, 0.0, 1.0, 9.0, 0.0, 0.0, 0.5, 10.0;
  const Lattice lat(cell);
  std::mt19937_64 rng(7);
  std::normal_distribution<double> step(0.0, 0.4);
  std::vector<std::vector<Eigen::Vector3d>> truth(N, std::vector<Eigen::Vector3d>(n));
  analysis::UnwrappedIons track(WalkRecorder::ions(n));
  std::vector<double> xyz(3 * n);
  for (std::size_t t = 0; t < N; ++t) {
    for (std::size_t k = 0; k < n; ++k) {
      truth[t][k] = t ? truth[t - 1][k] + Eigen::Vector3d(step(rng), step(rng), step(rng)) : Eigen::Vector3d(1.0 + k, 2.0, 3.0);
      const Eigen::Vector3d w = lat.wrap_cart(truth[t][k]);
      for (int a = 0; a < 3; ++a) xyz[3 * k + static_cast<std::size_t>(a)] = w[a];
    }
    track.push(xyz.data(), cell);
  }
  const auto pt = analysis::tracer_diffusivity_per_part(track, P, 3, dt_s);
  CHECK(pt.frames_per_part == 100);
  REQUIRE(pt.D_parts_m2_s.size() == P);
  const std::size_t tau[] = {0, 100, 201, 301, 402, 502, 603, 703, 804, 904};
  double mean = 0;
  std::vector<double> ref;
  for (std::size_t p = 0; p < P; ++p) {
    double s = 0;
    for (std::size_t k = 0; k < n; ++k) s += (truth[tau[p] + 99][k] - truth[tau[p]][k]).squaredNorm();
    ref.push_back(s / n * 1e-20 / (6.0 * 100 * dt_s));
    CHECK(pt.D_parts_m2_s[p] == doctest::Approx(ref.back()).epsilon(1e-12));
    mean += ref.back() / P;
  }
  double var = 0;
  for (double d : ref) var += (d - mean) * (d - mean) / P;  // population std
  CHECK(pt.mean_m2_s == doctest::Approx(mean).epsilon(1e-12));
  CHECK(pt.std_m2_s == doctest::Approx(std::sqrt(var)).epsilon(1e-10));

  // The fit against the matrix form: beta = (A^T W A)^-1 A^T W y, cov = (A^T W A)^-1 rss_w / (n - 2).
  const std::vector<analysis::ArrheniusPoint> pts{{400, 2.1e-11, 0.4e-11}, {500, 1.3e-10, 0.2e-10}, {600, 3.2e-10, 0.9e-10},
                                                  {700, 9.0e-10, 1.1e-10}};
  Eigen::MatrixXd A(4, 2);
  Eigen::VectorXd y(4), w(4);
  for (int i = 0; i < 4; ++i) {
    A(i, 0) = 1.0 / pts[static_cast<std::size_t>(i)].T_K;
    A(i, 1) = 1.0;
    y(i) = std::log(pts[static_cast<std::size_t>(i)].D_cm2_s);
    w(i) = std::pow(pts[static_cast<std::size_t>(i)].D_cm2_s / pts[static_cast<std::size_t>(i)].D_err_cm2_s, 2);
  }
  const Eigen::Matrix2d M = (A.transpose() * w.asDiagonal() * A).inverse();
  const Eigen::Vector2d beta = M * A.transpose() * w.asDiagonal() * y;
  const Eigen::VectorXd res = y - A * beta;
  const double rss = (res.array() * res.array() * w.array()).sum();
  const Eigen::Matrix2d cov = M * rss / 2.0;
  const auto f = analysis::fit_arrhenius_gemdat(pts);
  CHECK(f.Ea_eV == doctest::Approx(-beta(0) * units::kB).epsilon(1e-12));
  CHECK(f.Ea_err_eV == doctest::Approx(std::sqrt(cov(0, 0)) * units::kB).epsilon(1e-10));
  CHECK(f.D0_cm2_s == doctest::Approx(std::exp(beta(1))).epsilon(1e-10));
  CHECK(f.lnD0_err == doctest::Approx(std::sqrt(cov(1, 1))).epsilon(1e-10));
  CHECK_THROWS_WITH_AS(analysis::fit_arrhenius_gemdat({pts[0], pts[1]}), doctest::Contains("at least 3 temperatures"), ValueError);
}
