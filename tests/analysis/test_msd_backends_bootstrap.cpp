// FFT backends of the windowed MSD (kissfft and FFTW) against each other and against the direct
// sum, with every option on; and the seeded bootstrap of D against Monte Carlo repetitions of
// a Gaussian random walk with known D.
#include "../test_support.hpp"

#include <nernst/analysis/diffusion.hpp>
#include <nernst/analysis/msd.hpp>

#include <cmath>
#include <random>

using namespace nernst;
using analysis::WindowedMSD;

namespace {

double max_rel(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (std::size_t i = 1; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]) / std::abs(b[i]));
  return m;
}

/// Wrapped Gaussian walk in a triclinic cell: 30 "Li" (mobile) and 20 "framework" atoms.
struct Walk {
  std::size_t n = 50, T = 700;
  Eigen::Matrix3d cell;
  std::vector<std::vector<double>> frames;
  std::vector<analysis::AtomGroup> groups;
  std::vector<std::size_t> framework;
  Walk() {
    cell << 9, 0, 0, 2, 8, 0, 1, 1, 10;
    std::mt19937_64 rng(99);
    std::normal_distribution<double> g(0.0, 1.0);
    std::vector<double> r(3 * n);
    for (auto& v : r) v = 5.0 * g(rng);
    analysis::AtomGroup li{"Li", {}}, fw{"F", {}};
    for (std::size_t i = 0; i < n; ++i) (i % 5 < 3 ? li : fw).atoms.push_back(i);
    framework = fw.atoms;
    groups = {li, fw};
    for (std::size_t t = 0; t < T; ++t) {
      for (std::size_t i = 0; i < n; ++i)
        for (int k = 0; k < 3; ++k) r[3 * i + k] += (i % 5 < 3 ? 0.4 : 0.05) * g(rng) + 0.01;  // + drift
      std::vector<double> w(3 * n);
      for (std::size_t i = 0; i < n; ++i) {
        Eigen::Vector3d f = cell.transpose().inverse() * Eigen::Vector3d(r[3 * i], r[3 * i + 1], r[3 * i + 2]);
        for (int k = 0; k < 3; ++k) f[k] -= std::floor(f[k]);
        const Eigen::Vector3d c = cell.transpose() * f;
        for (int k = 0; k < 3; ++k) w[3 * i + k] = c[k];
      }
      frames.push_back(std::move(w));
    }
  }
};

template <class Alg>
analysis::MSDResult run(const Walk& w, std::size_t max_lag) {
  analysis::MSDOptions o;
  o.dt_ps = 0.25;
  o.collective = true;
  o.per_atom = true;
  o.block_frames = 175;
  o.max_lag = max_lag;
  o.drift_atoms = w.framework;
  analysis::Estimator<WindowedMSD<Alg>> est(w.n, w.groups, o);
  for (const auto& f : w.frames) est.push(f, w.cell);
  return est.result();
}

void compare(const analysis::MSDResult& a, const analysis::MSDResult& b, double tol) {
  REQUIRE(a.groups.size() == b.groups.size());
  REQUIRE(a.n_lags() == b.n_lags());
  double worst = 0;
  for (std::size_t g = 0; g < a.groups.size(); ++g) {
    const auto &ga = a.groups[g], &gb = b.groups[g];
    for (int c = 0; c < 3; ++c) worst = std::max(worst, max_rel(ga.tensor.c[c], gb.tensor.c[c]));
    // Off-diagonal components fluctuate around 0: compare against the trace scale.
    const auto tr = gb.tensor.xyz();
    for (int c = 3; c < 6; ++c)
      for (std::size_t m = 1; m < tr.size(); ++m) worst = std::max(worst, std::abs(ga.tensor.c[c][m] - gb.tensor.c[c][m]) / tr[m]);
    worst = std::max(worst, max_rel(ga.collective, gb.collective));
    for (std::size_t i = 0; i < ga.n_atoms; ++i)
      for (std::size_t m = 1; m < a.n_lags(); ++m)
        worst = std::max(worst, std::abs(ga.per_atom(i, m) - gb.per_atom(i, m)) / std::abs(gb.per_atom(i, m)));
    REQUIRE(ga.blocks.size() == gb.blocks.size());
    for (std::size_t k = 0; k < ga.blocks.size(); ++k) worst = std::max(worst, max_rel(ga.blocks[k].xyz(), gb.blocks[k].xyz()));
  }
  MESSAGE("max relative difference " << worst);
  CHECK(worst < tol);
}

}  // namespace

TEST_CASE("FFT backends agree with the direct sum: groups, drift, per-atom, collective, blocks, lag window") {
  const Walk w;
  using Kiss = analysis::FFTCorrelationWith<analysis::KissFFT>;
  for (std::size_t max_lag : {std::size_t{0}, std::size_t{150}}) {
    CAPTURE(max_lag);
    const auto direct = run<analysis::DirectSum>(w, max_lag);
    const auto kiss = run<Kiss>(w, max_lag);
    compare(kiss, direct, 1e-10);
#if defined(NERNST_HAVE_FFTW) && NERNST_HAVE_FFTW
    const auto fftw = run<analysis::FFTCorrelationWith<analysis::FFTW>>(w, max_lag);
    compare(fftw, direct, 1e-10);
    compare(fftw, kiss, 1e-11);
    CHECK(std::string(analysis::DefaultFFTBackend::name) == "fftw");
#else
    MESSAGE("built without FFTW: only the kissfft backend is tested");
#endif
  }
  CHECK(analysis::detail::fft_size(199999, true) == 200000);
  CHECK(analysis::detail::fft_size(2001, false) % 4 == 0);
}

TEST_CASE("bootstrap of D over ions and over trajectory blocks: scale and coverage on a random walk with known D") {
  // R independent realisations of n walkers × T frames, σ per axis per frame: D = σ²/(2 dt).
  const std::size_t R = 120, n = 40, T = 600, B = 6;
  const double sigma = 0.2, dt = 0.1;
  const double D_true = sigma * sigma / (2.0 * dt) * 1e-4;  // cm²/s
  std::mt19937_64 rng(2024);
  std::normal_distribution<double> g(0.0, sigma);
  std::vector<double> D_hat, se_ion, se_blk, D_blk_mean;
  std::size_t cover_ion = 0, cover_ion95 = 0, cover_blk = 0;
  const Eigen::Matrix3d cell = Eigen::Matrix3d::Identity() * 1e3;
  for (std::size_t r = 0; r < R; ++r) {
    analysis::MSDOptions o;
    o.dt_ps = dt;
    o.per_atom = true;
    o.block_frames = T / B;
    o.unwrap = analysis::Unwrap::None;
    std::vector<analysis::AtomGroup> groups{{"all", {}}};
    for (std::size_t i = 0; i < n; ++i) groups[0].atoms.push_back(i);
    analysis::Estimator<WindowedMSD<analysis::FFTCorrelation>> est(n, groups, o);
    std::vector<double> x(3 * n, 0.0);
    for (std::size_t t = 0; t < T; ++t) {
      if (t)
        for (auto& v : x) v += g(rng);
      est.push(x, cell);
    }
    const auto res = est.result();
    const auto& gr = res.groups[0];
    const auto lag = res.lag_ps();
    analysis::DiffusionOptions d;
    d.fit_start_ps = 0.5;
    std::vector<std::vector<double>> blocks, ions(n);
    for (const auto& b : gr.blocks) blocks.push_back(b.xyz());
    const auto fit = analysis::fit_diffusion(lag, gr.tensor.xyz(), n, d, blocks);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t m = 0; m < lag.size(); ++m) ions[i].push_back(gr.per_atom(i, m));
    const auto unit = analysis::unit_diffusion(lag, ions, fit.t_start_ps, fit.t_end_ps, d);
    const auto bi = analysis::bootstrap_diffusion(unit, 500, 1000 + r);
    // The mean of the per-ion D's is the D of the mean MSD (linear fit, same window).
    CHECK(bi.D_cm2_s == doctest::Approx(fit.D_cm2_s).epsilon(1e-10));
    REQUIRE(fit.D_blocks_cm2_s.size() == B);
    const auto bb = analysis::bootstrap_diffusion(fit.D_blocks_cm2_s, 500, 2000 + r);
    D_hat.push_back(fit.D_cm2_s);
    se_ion.push_back(bi.std_cm2_s);
    se_blk.push_back(bb.std_cm2_s);
    D_blk_mean.push_back(bb.D_cm2_s);
    cover_ion += std::abs(fit.D_cm2_s - D_true) <= bi.std_cm2_s;
    cover_ion95 += bi.p2_5_cm2_s <= D_true && D_true <= bi.p97_5_cm2_s;
    cover_blk += std::abs(bb.D_cm2_s - D_true) <= bb.std_cm2_s;
  }
  auto mean = [](const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return s / static_cast<double>(v.size());
  };
  auto stdev = [&](const std::vector<double>& v) {
    const double m = mean(v);
    double s = 0;
    for (double x : v) s += (x - m) * (x - m);
    return std::sqrt(s / static_cast<double>(v.size() - 1));
  };
  const double mc_sd = stdev(D_hat), mc_sd_blk = stdev(D_blk_mean);
  const double ratio_ion = mean(se_ion) / mc_sd, ratio_blk = mean(se_blk) / mc_sd_blk;
  const double cov_ion = static_cast<double>(cover_ion) / R, cov95 = static_cast<double>(cover_ion95) / R,
               cov_blk = static_cast<double>(cover_blk) / R;
  MESSAGE("D_true " << D_true << ", mean D_hat " << mean(D_hat) << ", Monte Carlo sd " << mc_sd);
  MESSAGE("ion bootstrap: mean se / MC sd = " << ratio_ion << ", 68% coverage " << cov_ion << ", 95% percentile coverage " << cov95);
  MESSAGE("block bootstrap (" << B << " blocks): mean se / MC sd = " << ratio_blk << ", 68% coverage " << cov_blk);
  CHECK(mean(D_hat) == doctest::Approx(D_true).epsilon(3.0 * mc_sd / std::sqrt(double(R)) / D_true));
  CHECK(ratio_ion > 0.8);
  CHECK(ratio_ion < 1.2);
  CHECK(cov_ion > 0.55);
  CHECK(cov_ion < 0.80);
  CHECK(cov95 > 0.85);  // nominal 0.95; the percentile interval of 40 units is a little narrow
  // Six blocks: the bootstrap's n/(n−1) bias and a noisy se make it somewhat narrow.
  CHECK(ratio_blk > 0.7);
  CHECK(ratio_blk < 1.2);
  CHECK(cov_blk > 0.45);
  // Reproducible with its seed.
  const std::vector<double> u{1.0, 2.0, 3.5, 0.5};
  CHECK(analysis::bootstrap_diffusion(u, 100, 7).std_cm2_s == analysis::bootstrap_diffusion(u, 100, 7).std_cm2_s);
  CHECK_THROWS_AS(analysis::bootstrap_diffusion({1.0}), ValueError);
}
