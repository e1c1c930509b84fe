// Analytic checks of the transport analysis: ballistic motion, anisotropic Gaussian walks with
// known per-axis D, unwrapping of wrapped walks (also with a fluctuating cell), lattice random
// walks with known jump rates, drift removal, collective MSD, density-map normalisation.
#include "../test_support.hpp"

#include <nernst/analysis/density_map.hpp>
#include <nernst/analysis/diffusion.hpp>
#include <nernst/analysis/jumps.hpp>
#include <nernst/analysis/msd.hpp>
#include <nernst/analysis/planar_diffusion.hpp>

#include <cmath>
#include <random>

using namespace nernst;
using analysis::DirectSum;
using analysis::FFTCorrelation;
using analysis::WindowedMSD;

namespace {
std::vector<analysis::AtomGroup> all_group(std::size_t n) {
  analysis::AtomGroup g{"all", {}};
  for (std::size_t i = 0; i < n; ++i) g.atoms.push_back(i);
  return {g};
}
}  // namespace

TEST_CASE("ballistic trajectory: MSD = |v|² t² exactly, per axis and along lattice directions") {
  const std::size_t n = 5, T = 64;
  std::vector<Eigen::Vector3d> v{{1, 0, 0}, {0, 2, 0}, {0.5, 0.5, -1}, {0.1, -0.3, 0.2}, {-1, 1, 1}};
  Eigen::Matrix3d cell;
  cell << 10, 0, 0, 3, 9, 0, 1, 2, 11;  // triclinic; unwrap must cope with crossings
  analysis::MSDOptions o;
  o.dt_ps = 0.5;
  analysis::Estimator<WindowedMSD<FFTCorrelation>> fft(n, all_group(n), o);
  analysis::Estimator<WindowedMSD<DirectSum>> dir(n, all_group(n), o);
  std::vector<double> x(3 * n);
  for (std::size_t t = 0; t < T; ++t) {
    for (std::size_t i = 0; i < n; ++i) {
      Eigen::Vector3d r = Eigen::Vector3d(1, 2, 3) + v[i] * static_cast<double>(t) * o.dt_ps;
      Eigen::Vector3d f = cell.transpose().inverse() * r;
      for (int a = 0; a < 3; ++a) f[a] -= std::floor(f[a]);  // wrap into the cell
      r = cell.transpose() * f;
      for (int a = 0; a < 3; ++a) x[3 * i + a] = r[a];
    }
    fft.push(x.data(), cell);
    dir.push(x.data(), cell);
  }
  for (const auto& res : {fft.result(), dir.result()}) {
    const auto& g = res.group("all");
    const auto xyz = g.tensor.xyz();
    const Eigen::Vector3d a_hat = cell.row(0).normalized().transpose();
    const auto along_a = res.lattice_direction("all", 0);
    for (std::size_t m = 1; m < T; ++m) {
      const double t = static_cast<double>(m) * o.dt_ps;
      double s = 0, sx = 0, sa = 0;
      for (const auto& vi : v) {
        s += vi.squaredNorm();
        sx += vi[0] * vi[0];
        sa += std::pow(vi.dot(a_hat), 2);
      }
      s /= n, sx /= n, sa /= n;
      CHECK(xyz[m] == doctest::Approx(s * t * t).epsilon(1e-10));
      CHECK(g.tensor.axis(0)[m] == doctest::Approx(sx * t * t).epsilon(1e-10));
      CHECK(along_a[m] == doctest::Approx(sa * t * t).epsilon(1e-10));
    }
  }
}

TEST_CASE("anisotropic Gaussian walk: per-axis D, planar D, He et al. and block errors are consistent") {
  const std::size_t n = 200, T = 4000;
  const double sig[3] = {0.3, 0.2, 0.05};  // Å per frame
  const double dt = 0.1;                    // ps
  std::mt19937_64 rng(7);
  std::normal_distribution<double> gauss(0.0, 1.0);
  analysis::MSDOptions o;
  o.dt_ps = dt;
  o.block_frames = 1000;
  o.collective = true;
  o.unwrap = analysis::Unwrap::None;
  analysis::Estimator<WindowedMSD<FFTCorrelation>> est(n, all_group(n), o);
  analysis::MSDOptions od = o;
  od.max_lag = 400;  // streaming direct estimator with a lag window
  analysis::Estimator<WindowedMSD<DirectSum>> dir(n, all_group(n), od);
  std::vector<double> x(3 * n, 0.0);
  const Eigen::Matrix3d cell = Eigen::Matrix3d::Identity() * 50.0;
  for (std::size_t t = 0; t < T; ++t) {
    if (t)
      for (std::size_t i = 0; i < n; ++i)
        for (int a = 0; a < 3; ++a) x[3 * i + a] += sig[a] * gauss(rng);
    est.push(x.data(), cell);
    dir.push(x.data(), cell);
  }
  CHECK(dir.memory_bytes() <= 401 * 3 * (n + 1) * sizeof(double));  // ring of W+1 frames (atoms + collective track)
  const auto res = est.result();
  const auto rd = dir.result();
  const auto& g = res.group("all");
  // The windowed direct estimator agrees with FFT on its lags.
  const auto xf = g.tensor.xyz(), xd = rd.group("all").tensor.xyz();
  REQUIRE(xd.size() == 401);
  for (std::size_t m = 1; m <= 400; ++m) CHECK(xd[m] == doctest::Approx(xf[m]).epsilon(1e-10));
  const auto lag = res.lag_ps();
  analysis::DiffusionOptions d;
  d.dim = 1;
  for (int a = 0; a < 3; ++a) {
    std::vector<std::vector<double>> blocks;
    for (const auto& b : g.blocks) blocks.push_back(b.axis(a));
    const auto f = analysis::fit_diffusion(lag, g.tensor.axis(a), n, d, blocks);
    const double D_true = sig[a] * sig[a] / (2.0 * dt) * 1e-4;
    // He et al. error bar and block error bar both cover the truth (3σ).
    CHECK(std::abs(f.D_cm2_s - D_true) < 3.0 * f.D_err_cm2_s);
    CHECK(f.D_block_sem_cm2_s > 0);
    CHECK(std::abs(f.D_block_mean_cm2_s - D_true) < 4.0 * f.D_block_sem_cm2_s + 0.05 * D_true);
    CHECK(f.D_cm2_s == doctest::Approx(D_true).epsilon(0.1));
  }
  // Planar (xy) D with d = 2.
  analysis::DiffusionOptions d2;
  d2.dim = 2;
  const auto fxy = analysis::fit_diffusion(lag, g.tensor.plane({0, 0, 1}), n, d2);
  const double Dxy = (sig[0] * sig[0] + sig[1] * sig[1]) / (4.0 * dt) * 1e-4;
  CHECK(fxy.D_cm2_s == doctest::Approx(Dxy).epsilon(0.1));
  // Uncorrelated walkers: collective MSD/N has the same slope on average (Haven ratio ≈ 1).
  analysis::DiffusionOptions d3;
  const auto ft = analysis::fit_diffusion(lag, g.tensor.xyz(), n, d3);
  const auto fc = analysis::fit_diffusion(lag, g.collective, n, d3);
  CHECK(fc.D_cm2_s == doctest::Approx(ft.D_cm2_s).epsilon(0.5));
}

TEST_CASE("lattice walk with known in-plane and out-of-plane hop rates: planar D in ab, ac, bc") {
  // Monoclinic cell (beta != 90 deg): c has a component in the ab plane, so planar D is not "xy".
  // Per step each ion hops by +-a or +-b with probability p_in each, by +-c with p_out each.
  const Eigen::Vector3d a(3.0, 0.0, 0.0), b(0.0, 3.2, 0.0), c(1.2, 0.0, 4.0);
  const double p_in = 0.04, p_out = 0.01, dt = 0.1;  // ps per step
  const std::size_t n = 400, T = 4000;
  Eigen::Matrix3d cell;
  cell.row(0) = 20.0 * a.transpose();
  cell.row(1) = 20.0 * b.transpose();
  cell.row(2) = 20.0 * c.transpose();
  // Analytic: per-step covariance Sigma = 2 p_in (a a^T + b b^T) + 2 p_out c c^T and
  // D_plane = (tr Sigma - n^T Sigma n) / (4 dt) with n the plane's unit normal.
  const Eigen::Matrix3d Sigma = 2 * p_in * (a * a.transpose() + b * b.transpose()) + 2 * p_out * c * c.transpose();
  auto D_exact = [&](analysis::LatticePlane pl) {
    const Eigen::Vector3d nn = analysis::plane_normal(cell, pl);
    return (Sigma.trace() - nn.dot(Sigma * nn)) / (4 * dt) * analysis::A2_per_ps_to_cm2_per_s;
  };
  std::mt19937_64 rng(2026);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  analysis::MSDOptions o;
  o.dt_ps = dt;
  o.block_frames = 1000;
  o.unwrap = analysis::Unwrap::None;
  analysis::Estimator<WindowedMSD<>> est(n, all_group(n), o);
  std::vector<double> x(3 * n, 0.0);
  const Eigen::Vector3d hops[6] = {a, -a, b, -b, c, -c};
  const double cum[6] = {p_in, 2 * p_in, 3 * p_in, 4 * p_in, 4 * p_in + p_out, 4 * p_in + 2 * p_out};
  for (std::size_t t = 0; t < T; ++t) {
    if (t)
      for (std::size_t i = 0; i < n; ++i) {
        const double r = u(rng);
        for (int k = 0; k < 6; ++k)
          if (r < cum[k]) {
            for (int ax = 0; ax < 3; ++ax) x[3 * i + static_cast<std::size_t>(ax)] += hops[k][ax];
            break;
          }
      }
    est.push(x.data(), cell);
  }
  const auto res = est.result();
  analysis::DiffusionOptions d;
  d.site_distance_A = 3.0;
  // The three planes weigh the in-layer (a, b) and cross-layer (c) hops differently.
  CHECK(D_exact(analysis::LatticePlane::ab) > 1.2 * D_exact(analysis::LatticePlane::bc));
  for (const char* name : {"ab", "ac", "bc"}) {
    INFO("plane " << name);
    const auto pl = analysis::parse_lattice_plane(name);
    const auto f = analysis::fit_planar_diffusion(res, "all", pl, n, d);
    const double D_true = D_exact(pl);
    CHECK(f.dim == 2);
    CHECK(f.D_cm2_s == doctest::Approx(D_true).epsilon(0.05));
    CHECK(std::abs(f.D_cm2_s - D_true) < 3.0 * f.D_err_cm2_s);  // He et al. error bar covers the truth
    REQUIRE(f.D_blocks_cm2_s.size() == 4);
    CHECK(std::abs(f.D_block_mean_cm2_s - D_true) < 4.0 * f.D_block_sem_cm2_s + 0.05 * D_true);
  }
  CHECK_THROWS_WITH_AS(analysis::parse_lattice_plane("xy"), "unknown lattice plane 'xy' (choose ab, ac or bc)", ValueError);
}

TEST_CASE("drift correction removes a uniform translation of the whole system") {
  const std::size_t n = 20, T = 100;
  std::mt19937_64 rng(3);
  std::normal_distribution<double> gauss(0.0, 0.1);
  analysis::MSDOptions o;
  for (std::size_t i = 0; i < n; ++i) o.drift_atoms.push_back(i);
  analysis::Estimator<WindowedMSD<>> est(n, all_group(n), o);
  std::vector<double> base(3 * n), x(3 * n);
  for (auto& b : base) b = 5.0 + gauss(rng);
  for (std::size_t t = 0; t < T; ++t) {
    for (std::size_t k = 0; k < 3 * n; ++k) x[k] = base[k] + 0.3 * static_cast<double>(t);  // pure drift
    est.push(x.data(), Eigen::Matrix3d::Identity() * 1000.0);
  }
  const auto r = est.result();
  for (double v : r.group("all").tensor.xyz()) CHECK(std::abs(v) < 1e-20);
}

TEST_CASE("unwrapping a walk wrapped into a triclinic cell recovers the continuous one") {
  const std::size_t n = 30, T = 500;
  std::mt19937_64 rng(11);
  std::normal_distribution<double> gauss(0.0, 0.4);
  std::uniform_real_distribution<double> uni(0.0, 1.0);
  analysis::MSDOptions o;
  analysis::MSDOptions on = o;
  on.unwrap = analysis::Unwrap::None;
  analysis::Estimator<WindowedMSD<>> wrapped(n, all_group(n), o), truth(n, all_group(n), on);
  std::vector<double> u(3 * n), w(3 * n);
  for (auto& v : u) v = 8.0 * uni(rng);
  for (std::size_t t = 0; t < T; ++t) {
    if (t)
      for (auto& v : u) v += gauss(rng);
    // (Fluctuating NpT cells are checked against the TOR reference in test_msd_reference.cpp.)
    Eigen::Matrix3d cell;
    cell << 8, 0, 0, 2, 7.5, 0, -1, 1.5, 9;
    for (std::size_t i = 0; i < n; ++i) {
      Eigen::Vector3d f = cell.transpose().inverse() * Eigen::Vector3d(u[3 * i], u[3 * i + 1], u[3 * i + 2]);
      for (int k = 0; k < 3; ++k) f[k] -= std::floor(f[k]);
      const Eigen::Vector3d r = cell.transpose() * f;
      for (int k = 0; k < 3; ++k) w[3 * i + k] = r[k];
    }
    wrapped.push(w.data(), cell);
    truth.push(u.data(), cell);
  }
  const auto a = wrapped.result().group("all").tensor.xyz();
  const auto b = truth.result().group("all").tensor.xyz();
  for (std::size_t m = 1; m < T; ++m) CHECK(a[m] == doctest::Approx(b[m]).epsilon(1e-9));
}

TEST_CASE("lattice random walk: jump counts, rate, D_J and correlation factor match the known hops") {
  // Simple cubic lattice of spacing a in an L = 6a periodic box; every frame each ion hops to a
  // random neighbour with probability p (no site exclusion: uncorrelated, f = 1). Ions vibrate
  // around their sites with a small Gaussian amplitude.
  const double a = 2.0, p = 0.05, dt = 0.1;
  const int L = 6;
  const std::size_t n = 40, T = 3000;
  const Eigen::Matrix3d cell = Eigen::Matrix3d::Identity() * (a * L);
  std::vector<analysis::JumpSite> sites;
  for (int i = 0; i < L; ++i)
    for (int j = 0; j < L; ++j)
      for (int k = 0; k < L; ++k) sites.push_back({Eigen::Vector3d(i, j, k) / L, i % 2 ? "A" : "B"});
  std::vector<std::size_t> ions;
  for (std::size_t i = 0; i < n; ++i) ions.push_back(i);
  analysis::JumpOptions jo;
  jo.radius_A = 0.6;
  jo.dt_ps = dt;
  jo.layer_normal = Eigen::Vector3d(0, 0, 1);
  analysis::Estimator<analysis::JumpAnalysis> jumps(ions, sites, cell, jo);
  analysis::MSDOptions mo;
  mo.dt_ps = dt;
  analysis::Estimator<WindowedMSD<>> msd(n, all_group(n), mo);
  analysis::Estimator<analysis::DensityMap> dens(ions, cell);

  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> uni(0.0, 1.0);
  std::normal_distribution<double> vib(0.0, 0.1);
  std::vector<Eigen::Vector3i> site(n);
  for (auto& s : site) s = Eigen::Vector3i(static_cast<int>(uni(rng) * L), static_cast<int>(uni(rng) * L), static_cast<int>(uni(rng) * L));
  std::size_t hops = 0, hops_z = 0;
  std::vector<double> x(3 * n);
  for (std::size_t t = 0; t < T; ++t) {
    if (t)
      for (auto& s : site)
        if (uni(rng) < p) {
          const int dir = static_cast<int>(uni(rng) * 6);
          s[dir / 2] += (dir % 2) ? 1 : -1;
          s[dir / 2] = (s[dir / 2] + L) % L;
          ++hops;
          if (dir / 2 == 2) ++hops_z;
        }
    for (std::size_t i = 0; i < n; ++i)
      for (int k = 0; k < 3; ++k) x[3 * i + k] = a * site[i][k] + vib(rng);
    jumps.push(x.data(), cell);
    msd.push(x.data(), cell);
    dens.push(x.data(), cell);
  }
  const auto jr = jumps.result();
  CHECK(jr.events.size() == hops);
  CHECK(jr.counts_by_category.at("cross-layer") == hops_z);
  CHECK(jr.counts_by_category.at("within-layer") == hops - hops_z);
  std::size_t ab = 0;
  for (const auto& [k, c] : jr.counts_by_labels) ab += c;
  CHECK(ab == hops);
  const double total_t = (T - 1) * dt;
  CHECK(jr.rate_per_ion_ps == doctest::Approx(static_cast<double>(hops) / (n * total_t)));
  const double D_true = p / dt * a * a / 6.0 * 1e-4;  // Γ a²/6
  CHECK(jr.D_J_cm2_s == doctest::Approx(D_true).epsilon(0.05));
  CHECK(jr.transit_fraction == 0.0);
  const auto mr = msd.result();
  analysis::DiffusionOptions d;
  d.fit_start_ps = 1.0;
  const auto f = analysis::fit_diffusion(mr.lag_ps(), mr.group("all").tensor.xyz(), n, d);
  CHECK(std::abs(f.D_cm2_s - D_true) < 3.0 * f.D_err_cm2_s);
  CHECK(jr.correlation_factor(f.D_cm2_s) == doctest::Approx(1.0).epsilon(0.2));
  // Density map is normalised and peaks on the lattice sites.
  const auto P = dens.density();
  const auto sh = dens.shape();
  const double V = cell.determinant();
  double sum = 0;
  for (double v : P) sum += v;
  CHECK(sum * V / static_cast<double>(sh[0] * sh[1] * sh[2]) == doctest::Approx(1.0).epsilon(1e-12));
  CHECK(P(0, 0, 0) > 10.0 * sum / static_cast<double>(P.size()));
}
