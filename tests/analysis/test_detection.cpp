// Detection of diffusion and site-free hop counting (analysis/hops.hpp, analysis/detection.hpp,
// select_arrhenius_points / extrapolation_refusal in analysis/arrhenius.hpp), on synthetic
// trajectories with known answers: ions vibrating around fixed sites (no hops: MSD plateau 6u²,
// "no diffusion detected"), and lattice random walks with a known number of hops of known length
// (D = n_hops·a²/(6·N·t)).
#include "../test_support.hpp"

#include <nernst/analysis/arrhenius.hpp>
#include <nernst/analysis/detection.hpp>
#include <nernst/analysis/diffusion.hpp>
#include <nernst/analysis/hops.hpp>
#include <nernst/analysis/msd.hpp>

#include <cmath>
#include <random>
#include <string>

using namespace nernst;

namespace {

constexpr double a_site = 3.0;   // Å, simple cubic lattice of sites
constexpr int L = 6;             // sites per cell edge
constexpr double dt_ps = 0.1;

/// Lattice walk: `n` ions on a simple cubic lattice (spacing a_site, periodic cell L·a_site),
/// Gaussian vibration of RMS `u` per axis around the site, and hops to a random neighbour with
/// probability `p` per frame, at least `dead_frames` frames after the ion's previous hop and only
/// in frames [head, T − tail) (the hop counter cannot resolve a hop inside its first block of
/// frames, and the last block may not see an arrival). Positions are wrapped into the cell (the
/// estimators must unwrap them).
struct Walk {
  std::vector<std::vector<double>> frames;
  std::size_t hops = 0;
  Eigen::Matrix3d cell = Eigen::Matrix3d::Identity() * (a_site * L);
};

Walk lattice_walk(std::size_t n, std::size_t T, double p, double u, std::size_t dead_frames, std::uint64_t seed,
                  std::size_t head = 0, std::size_t tail = 0) {
  Walk w;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uni(0.0, 1.0);
  std::normal_distribution<double> vib(0.0, u);
  std::vector<Eigen::Vector3i> site(n);
  std::vector<std::size_t> since(n, dead_frames);
  for (auto& s : site) s = Eigen::Vector3i(static_cast<int>(uni(rng) * L), static_cast<int>(uni(rng) * L), static_cast<int>(uni(rng) * L));
  const double box = a_site * L;
  for (std::size_t t = 0; t < T; ++t) {
    for (std::size_t i = 0; i < n; ++i) {
      ++since[i];
      if (t >= std::max<std::size_t>(head, 1) && t + tail < T && since[i] > dead_frames && uni(rng) < p) {
        const int dir = static_cast<int>(uni(rng) * 6);
        site[i][dir / 2] += (dir % 2) ? 1 : -1;
        since[i] = 0;
        ++w.hops;
      }
    }
    std::vector<double> x(3 * n);
    for (std::size_t i = 0; i < n; ++i)
      for (int k = 0; k < 3; ++k) {
        const double r = a_site * site[i][k] + vib(rng);
        x[3 * i + k] = r - box * std::floor(r / box);
      }
    w.frames.push_back(std::move(x));
  }
  return w;
}

/// Everything the pipeline computes per temperature: MSD fit on [1 ps, 0.7 t], per-ion D's,
/// hops, verdict.
struct Analysed {
  analysis::DiffusionFit fit;
  analysis::HopResult hops;
  analysis::DiffusivityVerdict verdict;
  std::vector<double> ion_D;
};

Analysed analyse(const Walk& w, std::size_t n) {
  std::vector<std::size_t> ions;
  for (std::size_t i = 0; i < n; ++i) ions.push_back(i);
  analysis::MSDOptions mo;
  mo.dt_ps = dt_ps;
  mo.per_atom = true;
  analysis::Estimator<analysis::WindowedMSD<>> msd(n, {{"Li", ions}}, mo);
  analysis::HopOptions ho;
  ho.dt_ps = dt_ps;
  analysis::Estimator<analysis::HopCounting> hop(ions, ho);
  for (const auto& f : w.frames) {
    msd.push(f.data(), w.cell);
    hop.push(f.data(), w.cell);
  }
  const auto r = msd.result();
  const auto& g = r.group("Li");
  const auto lag = r.lag_ps();
  Analysed out;
  analysis::DiffusionOptions d;
  d.fit_start_ps = 1.0;
  d.site_distance_A = a_site;
  out.fit = analysis::fit_diffusion(lag, g.tensor.xyz(), n, d);
  std::vector<std::vector<double>> per(n);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t m = 0; m < lag.size(); ++m) per[i].push_back(g.per_atom(i, m));
  out.ion_D = analysis::unit_diffusion(lag, per, out.fit.t_start_ps, out.fit.t_end_ps, d);
  out.hops = hop.result();
  out.verdict = analysis::assess_diffusivity(out.fit, out.ion_D, out.hops.n_hops);
  return out;
}

}  // namespace

TEST_CASE("pure vibrations around fixed sites: no hops, MSD plateau 6u², no diffusion detected, D < limit") {
  const std::size_t n = 32, T = 2000;
  const double u = 0.2;
  const auto w = lattice_walk(n, T, 0.0, u, 0, 11);
  REQUIRE(w.hops == 0);
  const auto r = analyse(w, n);
  CHECK(r.hops.n_hops == 0);
  CHECK(r.hops.rate_per_ion_ps == 0.0);
  // the MSD is flat at 2·3·u² (two independent displacements of variance u² per axis)
  CHECK(r.fit.line.intercept == doctest::Approx(6 * u * u).epsilon(0.02));
  // not detected, already by the MSD criterion alone (without the hop count)
  const auto msd_only = analysis::assess_diffusivity(r.fit, r.ion_D, std::nullopt);
  CHECK_FALSE(msd_only.diffusive);
  CHECK(msd_only.reason.find("not significantly above zero") != std::string::npos);
  // … and by the hop count
  CHECK_FALSE(r.verdict.diffusive);
  REQUIRE(r.verdict.sigma_ions_cm2_s.has_value());
  CHECK(r.verdict.sigma_D_cm2_s == std::max(r.fit.D_err_cm2_s, *r.verdict.sigma_ions_cm2_s));
  // D_lim = max(D, 0) + 2 σ_D, positive and below the rise of one plateau height over the window
  CHECK(r.verdict.D_upper_limit_cm2_s == doctest::Approx(std::max(r.fit.D_cm2_s, 0.0) + 2 * r.verdict.sigma_D_cm2_s).epsilon(1e-14));
  CHECK(r.verdict.D_upper_limit_cm2_s > 0);
  const double plateau_rise = 6 * u * u / (6 * (r.fit.t_end_ps - r.fit.t_start_ps)) * 1e-4;  // cm²/s
  CHECK(r.verdict.D_upper_limit_cm2_s < plateau_rise);
  const std::string text = analysis::format_diffusivity(r.verdict);
  CHECK(text.rfind("no diffusion detected, D < ", 0) == 0);
  CHECK(std::stod(text.substr(27)) > 0);
  CHECK(std::stod(text.substr(27)) == doctest::Approx(r.verdict.D_upper_limit_cm2_s).epsilon(0.06));
}

TEST_CASE("lattice random walk: hop count equals the generated hops, D = n_hops·a²/(6 N t) within its error") {
  // Hops at least 20 frames (4 coarse-graining blocks of 5) apart per ion, none in the first
  // block and the last two, so the counter must find every one of them.
  const std::size_t n = 40, T = 4000;
  const auto w = lattice_walk(n, T, 0.02, 0.2, 20, 7, 5, 10);
  const auto r = analyse(w, n);
  MESSAGE("generated hops " << w.hops << ", counted " << r.hops.n_hops << "; D = " << r.fit.D_cm2_s << " ± "
                            << r.verdict.sigma_D_cm2_s << " (He " << r.fit.D_err_cm2_s << ", ions "
                            << r.verdict.sigma_ions_cm2_s.value_or(0) << ")");
  REQUIRE(w.hops > 1000);
  CHECK(r.hops.n_hops == w.hops);
  std::size_t per_ion = 0;
  for (auto h : r.hops.hops_per_ion) per_ion += h;
  CHECK(per_ion == w.hops);
  double len = 0;
  for (const auto& e : r.hops.events) len += e.vector.norm();
  CHECK(len / static_cast<double>(r.hops.events.size()) == doctest::Approx(a_site).epsilon(0.02));
  const double t = (T - 1) * dt_ps;
  CHECK(r.hops.rate_per_ion_ps == doctest::Approx(static_cast<double>(w.hops) / (n * t)).epsilon(1e-12));
  const double D_hops = static_cast<double>(w.hops) * a_site * a_site / (6.0 * n * t) * 1e-4;  // cm²/s
  CHECK(r.verdict.diffusive);
  CHECK(r.verdict.reason.empty());
  CHECK(std::abs(r.fit.D_cm2_s - D_hops) < 2.0 * r.verdict.sigma_D_cm2_s);
  CHECK(r.verdict.sigma_D_cm2_s < 0.25 * D_hops);  // a real measurement, not a wide error bar
  const std::string text = analysis::format_diffusivity(r.verdict);
  CHECK(text.rfind("D = ", 0) == 0);
  CHECK(std::stod(text.substr(4)) == doctest::Approx(r.fit.D_cm2_s).epsilon(1e-3));
}

TEST_CASE("hop counter: a single hop straddling a block counts once; threshold and coarse-graining as documented") {
  // One ion, no vibration, one hop of 3 Å along x at frame 12 (inside block 2 of 5 frames):
  // block means 0, 0, 1.8 (3 of 5 frames moved: counted), 3 (settles), 3 …
  const Eigen::Matrix3d cell = Eigen::Matrix3d::Identity() * 20.0;
  analysis::HopOptions o;
  o.dt_ps = 0.1;
  analysis::Estimator<analysis::HopCounting> h({0}, o);
  for (std::size_t f = 0; f < 40; ++f) {
    const double x[3] = {f >= 12 ? 3.0 : 0.0, 1.0, 1.0};
    h.push(x, cell);
  }
  auto r = h.result();
  REQUIRE(r.n_hops == 1);
  CHECK(r.events[0].frame == 10);
  CHECK(r.events[0].vector.x() == doctest::Approx(3.0).epsilon(1e-12));  // old rest → settled new site
  CHECK(r.total_time_ps == doctest::Approx(3.9).epsilon(1e-12));
  // a 1.4 Å displacement (below the 1.5 Å threshold) and rattling within a block are no hops
  analysis::Estimator<analysis::HopCounting> h2({0}, o);
  for (std::size_t f = 0; f < 40; ++f) {
    const double x[3] = {(f >= 12 ? 1.4 : 0.0) + ((f % 5 == 2) ? 2.5 : 0.0), 1.0, 1.0};
    h2.push(x, cell);
  }
  CHECK(h2.result().n_hops == 0);
  CHECK_THROWS_AS(analysis::Estimator<analysis::HopCounting>({0}, analysis::HopOptions{0.0, 5, 0.1}), ValueError);
}

TEST_CASE("Arrhenius input: a vibrating temperature is left out; E_A recovered; fewer than 3 diffusive temperatures: no extrapolation") {
  // Hop probability per frame p = p0·exp(−E_A/kT) → D = p a²/(6 dt): an Arrhenius law with E_A = 0.2 eV.
  const double Ea = 0.2, p0 = 0.2;
  const std::size_t n = 40, T = 4000;
  std::vector<analysis::TemperatureDiffusivity> temps;
  const auto vib = analyse(lattice_walk(n, 2000, 0.0, 0.2, 0, 3), n);
  temps.push_back({400.0, vib.verdict, false});
  for (double TK : {600.0, 800.0, 1000.0}) {
    const double p = p0 * std::exp(-Ea / (units::kB * TK));
    temps.push_back({TK, analyse(lattice_walk(n, T, p, 0.2, 0, static_cast<std::uint64_t>(TK)), n).verdict, false});
  }
  auto sel = analysis::select_arrhenius_points(temps);
  CHECK(sel.not_diffusive_K == std::vector<double>{400.0});
  CHECK(sel.framework_mobile_K.empty());
  REQUIRE(sel.points.size() == 3);
  for (const auto& pt : sel.points) CHECK(pt.D_cm2_s > 0);
  CHECK_FALSE(analysis::extrapolation_refusal(sel.points.size(), sel.n_excluded()).has_value());
  const auto f = analysis::fit_arrhenius(sel.points, true);
  MESSAGE("E_A = " << f.Ea_eV << " ± " << f.Ea_err_eV << " eV (true 0.2)");
  CHECK(std::abs(f.Ea_eV - Ea) < 3 * f.Ea_err_eV);
  CHECK(f.Ea_err_eV < 0.05);

  // a molten temperature and a vibrating one out: two diffusive temperatures left → refused, with the reason
  temps[3].framework_mobile = true;
  sel = analysis::select_arrhenius_points(temps);
  CHECK(sel.points.size() == 2);
  CHECK(sel.framework_mobile_K == std::vector<double>{1000.0});
  const auto why = analysis::extrapolation_refusal(sel.points.size(), sel.n_excluded());
  REQUIRE(why.has_value());
  CHECK(why->find("only 2 temperatures with measurable diffusion (2 left out)") == 0);
}
