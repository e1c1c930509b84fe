// Potential<LennardJones>: brute-force energies, finite-difference forces and stress, shift and
// tail corrections, and the Verlet-skin list against a fresh build.
#include "../test_support.hpp"

#include <nernst/potential/lennard_jones.hpp>

#include <cmath>
#include <random>

using namespace nernst;

namespace {

// A real copy (create_mirror_view would alias host views).
template <class V>
auto host_copy(const V& v) {
  auto h = Kokkos::create_mirror(v);
  Kokkos::deep_copy(h, v);
  return h;
}

System<> random_system(const Eigen::Matrix3d& cell, int n, unsigned seed, double rmin) {
  System<> s(static_cast<std::size_t>(n));
  s.cell = Lattice(cell);
  s.species = {18};
  auto hx = Kokkos::create_mirror_view(s.x);
  auto hm = Kokkos::create_mirror_view(s.mass);
  std::mt19937 g(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<Eigen::Vector3d> pts;
  int tries = 0;
  while (static_cast<int>(pts.size()) < n) {
    REQUIRE(++tries < 1000000);
    Eigen::Vector3d r = s.cell.to_cart(Eigen::Vector3d(u(g), u(g), u(g)));
    bool ok = true;
    for (const auto& q : pts)
      if (s.cell.minimum_image(r - q).norm() < rmin) ok = false;
    if (ok) pts.push_back(r);
  }
  for (int i = 0; i < n; ++i) {
    for (int d = 0; d < 3; ++d) hx(i, d) = pts[static_cast<std::size_t>(i)][d];
    hm(i) = 39.948;
  }
  Kokkos::deep_copy(s.x, hx);
  Kokkos::deep_copy(s.mass, hm);
  Kokkos::deep_copy(s.type, 0);
  Kokkos::deep_copy(s.image, 0);
  return s;
}

// Independent reference: every pair and every image within range, straight from the formula.
double brute_energy(const System<>& s, const LennardJones& p) {
  auto hx = host_copy(s.x);
  const auto w = s.cell.perpendicular_widths();
  int m[3];
  for (int k = 0; k < 3; ++k) m[k] = static_cast<int>(std::ceil(p.cutoff / w[k])) + 1;
  const double sh = 4 * p.epsilon * (std::pow(p.sigma / p.cutoff, 12) - std::pow(p.sigma / p.cutoff, 6));
  double e = 0;
  const int n = static_cast<int>(s.size());
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j)
      for (int a = -m[0]; a <= m[0]; ++a)
        for (int b = -m[1]; b <= m[1]; ++b)
          for (int c = -m[2]; c <= m[2]; ++c) {
            if (i == j && a == 0 && b == 0 && c == 0) continue;
            Eigen::Vector3d r = Eigen::Vector3d(hx(j, 0) - hx(i, 0), hx(j, 1) - hx(i, 1), hx(j, 2) - hx(i, 2)) +
                                s.cell.to_cart(Eigen::Vector3d(a, b, c));
            const double d = r.norm();
            if (d < p.cutoff) e += 0.5 * (4 * p.epsilon * (std::pow(p.sigma / d, 12) - std::pow(p.sigma / d, 6)) - sh);
          }
  return e;
}

Eigen::Matrix3d tri_cell() {
  Eigen::Matrix3d c;
  c << 9.1, 0.0, 0.0, 1.7, 8.4, 0.0, -1.2, 2.1, 9.6;
  return c;
}

}  // namespace

TEST_CASE("LJ energy matches a brute-force image sum (triclinic, cutoff > half the cell)") {
  LennardJones p{0.010323, 3.405, 8.5, true, false, 1.0};
  auto s = random_system(tri_cell(), 16, 7, 2.8);
  Potential<LennardJones> lj(p);
  const auto r = lj.compute(s, ComputeRequest{true, true, true});
  const double ref = brute_energy(s, p);
  CHECK(r.energy == doctest::Approx(ref).epsilon(1e-12));
  double sum = 0;
  for (double e : r.per_atom_energy) sum += e;
  CHECK(sum == doctest::Approx(r.energy).epsilon(1e-12));
}

TEST_CASE("LJ forces and stress equal finite differences of the energy") {
  LennardJones p{0.010323, 3.405, 8.5, true, false, 1.0};
  auto s = random_system(tri_cell(), 14, 11, 3.0);
  Potential<LennardJones> lj(p);
  auto r = lj.compute(s, ComputeRequest{true, true, false});
  auto hf = host_copy(s.f);
  auto hx = host_copy(s.x);
  const double h = 1e-5;
  double maxerr = 0, maxf = 0;
  for (int i = 0; i < 5; ++i)
    for (int d = 0; d < 3; ++d) {
      auto energy_at = [&](double dx) {
        auto y = Kokkos::create_mirror(s.x);
        Kokkos::deep_copy(y, hx);
        y(i, d) += dx;
        Kokkos::deep_copy(s.x, y);
        lj.invalidate();
        return lj.compute(s, ComputeRequest{false, false, false}).energy;
      };
      const double fd = -(energy_at(h) - energy_at(-h)) / (2 * h);
      maxerr = std::max(maxerr, std::abs(fd - hf(i, d)));
      maxf = std::max(maxf, std::abs(hf(i, d)));
    }
  Kokkos::deep_copy(s.x, hx);
  CHECK(maxf > 1e-3);
  CHECK(maxerr < 1e-7 * std::max(1.0, maxf) + 1e-9);

  // Stress: σ = (1/V) ∂E/∂ε for a symmetric strain applied to cell and positions.
  const Eigen::Matrix3d cell0 = s.cell.matrix();
  const double V = s.cell.volume();
  for (int a = 0; a < 3; ++a)
    for (int b = a; b < 3; ++b) {
      auto energy_at = [&](double e) {
        Eigen::Matrix3d eps = Eigen::Matrix3d::Identity();
        eps(a, b) += e / (a == b ? 1.0 : 2.0);
        eps(b, a) += a == b ? 0.0 : e / 2.0;
        System<> t = s;
        t.x = Kokkos::View<double* [3]>("x", s.size());
        auto y = Kokkos::create_mirror(t.x);
        for (std::size_t i = 0; i < s.size(); ++i) {
          Eigen::Vector3d v = eps * Eigen::Vector3d(hx(i, 0), hx(i, 1), hx(i, 2));
          for (int d = 0; d < 3; ++d) y(i, d) = v[d];
        }
        Kokkos::deep_copy(t.x, y);
        t.cell = Lattice(cell0 * eps.transpose());
        Potential<LennardJones> fresh(p);
        return fresh.compute(t, ComputeRequest{false, false, false}).energy;
      };
      const double fd = (energy_at(1e-6) - energy_at(-1e-6)) / (2e-6) / V;
      CHECK(r.stress(a, b) == doctest::Approx(fd).epsilon(1e-6).scale(1e-6));
      CHECK(r.stress(a, b) == doctest::Approx(r.stress(b, a)));
    }
}

TEST_CASE("LJ shift: E(r_c^-) = 0 and E(r) - E_unshifted(r) is the constant E(r_c)") {
  LennardJones p{0.010323, 3.405, 8.5, true, false, 2.0};
  Potential<LennardJones> lj(p);
  CHECK(std::abs(lj.pair_energy(8.5 - 1e-9)) < 1e-12);
  const double s6 = std::pow(3.405 / 8.5, 6);
  CHECK(lj.shift_energy() == doctest::Approx(4 * 0.010323 * (s6 * s6 - s6)));
  CHECK(lj.pair_energy(3.405) == doctest::Approx(-lj.shift_energy()));
  CHECK(lj.pair_energy(std::pow(2.0, 1.0 / 6.0) * 3.405) == doctest::Approx(-0.010323 - lj.shift_energy()));
  LennardJones q = p;
  q.shift = false;
  CHECK(Potential<LennardJones>(q).pair_energy(8.4) ==
        doctest::Approx(lj.pair_energy(8.4) + lj.shift_energy()).epsilon(1e-12));
}

TEST_CASE("LJ tail correction equals the numerical integral of the truncated tail") {
  LennardJones p{0.010323, 3.405, 8.5, false, true, 1.0};
  auto s = random_system(tri_cell(), 16, 3, 2.8);
  LennardJones np = p;
  np.tail = false;
  Potential<LennardJones> with(p), without(np);
  const auto a = with.compute(s, ComputeRequest{true, true, false});
  const auto b = without.compute(s, ComputeRequest{true, true, false});
  const double n = 16, V = s.cell.volume(), rho = n / V;
  // E_tail = 2π N ρ ∫_rc^∞ r² φ(r) dr ; P_tail = -(2π/3) ρ² ∫_rc^∞ r³ φ'(r) dr (Simpson on 1/r).
  double ie = 0, ip = 0;
  const int m = 20000;
  const double umax = 1.0 / p.cutoff;
  for (int k = 0; k <= m; ++k) {
    const double u = umax * k / m;
    const double wgt = (k == 0 || k == m) ? 1 : (k % 2 ? 4 : 2);
    if (u == 0) continue;
    const double r = 1 / u, sr6 = std::pow(p.sigma / r, 6);
    const double phi = 4 * p.epsilon * (sr6 * sr6 - sr6);
    const double dphi = -24 * p.epsilon * (2 * sr6 * sr6 - sr6) / r;
    ie += wgt * r * r * phi / (u * u);
    ip += wgt * r * r * r * dphi / (u * u);
  }
  ie *= umax / m / 3;
  ip *= umax / m / 3;
  CHECK(a.energy - b.energy == doctest::Approx(2 * M_PI * n * rho * ie).epsilon(1e-8));
  const double ptail = -(2 * M_PI / 3) * rho * rho * ip;
  CHECK(-(a.stress - b.stress).trace() / 3 == doctest::Approx(ptail).epsilon(1e-8));
}

TEST_CASE("LJ Verlet skin: a reused list gives the same forces as a fresh build, including rewrapped atoms") {
  LennardJones p{0.010323, 3.405, 8.5, true, false, 2.0};
  auto s = random_system(tri_cell() * 1.3, 30, 5, 3.0);
  Potential<LennardJones> lj(p);
  lj.compute(s, ComputeRequest{});
  // move every atom by < skin/2 and push atom 0 through a face, wrapping it back
  auto hx = host_copy(s.x);
  auto hi = host_copy(s.image);
  std::mt19937 g(1);
  std::uniform_real_distribution<double> u(-0.5, 0.5);
  for (std::size_t i = 0; i < s.size(); ++i)
    for (int d = 0; d < 3; ++d) hx(i, d) += 0.5 * u(g);
  for (int d = 0; d < 3; ++d) hx(0, d) += s.cell.matrix()(0, d);  // one lattice vector: same physics
  hi(0, 0) -= 1;
  Kokkos::deep_copy(s.x, hx);
  Kokkos::deep_copy(s.image, hi);
  const auto r1 = lj.compute(s, ComputeRequest{true, true, false});
  CHECK(lj.builds() == 1);
  auto f1 = host_copy(s.f);
  Potential<LennardJones> fresh(p);
  const auto r2 = fresh.compute(s, ComputeRequest{true, true, false});
  auto f2 = host_copy(s.f);
  CHECK(r1.energy == doctest::Approx(r2.energy).epsilon(1e-13));
  double md = 0;
  for (std::size_t i = 0; i < s.size(); ++i)
    for (int d = 0; d < 3; ++d) md = std::max(md, std::abs(f1(i, d) - f2(i, d)));
  CHECK(md < 1e-14);
  // large move forces a rebuild
  for (int d = 0; d < 3; ++d) hx(3, d) += 1.5;
  Kokkos::deep_copy(s.x, hx);
  lj.compute(s, ComputeRequest{});
  CHECK(lj.builds() == 2);
}

TEST_CASE("LJ rejects bad parameters") {
  CHECK_THROWS_AS(Potential<LennardJones>(LennardJones{0.01, 0.0, 8.5}), ValueError);
  CHECK_THROWS_AS(Potential<LennardJones>(LennardJones{0.01, 3.4, -1}), ValueError);
}
