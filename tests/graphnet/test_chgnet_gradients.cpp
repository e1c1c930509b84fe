// CHGNet forces and stress against finite differences of the energy (graph held fixed), and
// invariance under atom permutation, rigid translation and rotation.
#include "chgnet_test_util.hpp"

#include <nernst/potential/graphnet/chgnet.hpp>

#include <Eigen/Geometry>

#include <cmath>

using namespace chgnet_test;
using nernst::CHGNet;
using nernst::GraphNet;
using nernst::Potential;

namespace {

std::vector<std::array<double, 3>> positions(const nernst::System<>& sys) {
  auto hx = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), sys.x);
  std::vector<std::array<double, 3>> x(sys.size());
  for (std::size_t i = 0; i < sys.size(); ++i) x[i] = {hx(i, 0), hx(i, 1), hx(i, 2)};
  return x;
}

void set_positions(nernst::System<>& sys, const std::vector<std::array<double, 3>>& x) {
  auto hx = Kokkos::create_mirror_view(sys.x);
  for (std::size_t i = 0; i < sys.size(); ++i)
    for (int k = 0; k < 3; ++k) hx(i, k) = x[i][static_cast<std::size_t>(k)];
  Kokkos::deep_copy(sys.x, hx);
}

struct Case {
  const char* ckpt;
  const char* structure;
};
const Case kCases[] = {{"chgnet_0.3.0_random_seed0", "liycl_triclinic_random10"},
                       {"chgnet_small_random_seed1", "licl_conv8_rattled"},
                       {"chgnet_0.3.0_random_seed0", "li_single_atom_small_cell"},
                       {"chgnet_small_random_seed1", "libr_prim_strained"}};

}  // namespace

TEST_CASE("CHGNet forces are minus the finite-difference gradient of the energy (graph fixed)") {
  NERNST_REQUIRE_SHARED_DATA();
  for (const auto& c : kCases) {
    const std::string ck = c.ckpt, st = c.structure;
    CAPTURE(ck);
    CAPTURE(st);
    auto sys = system_from(read_json(ref_path(c.ckpt, c.structure)).at("structure"));
    Potential<GraphNet<CHGNet>, double> pot(model(c.ckpt));
    nernst::ComputeRequest req;
    req.forces = true;
    pot.compute(sys, req);
    const auto g = pot.graph();
    const auto f = host_forces(sys);
    const auto x0 = positions(sys);
    const double h = 1e-5;
    nernst::ComputeRequest e_only;
    e_only.forces = false;
    double worst = 0;
    for (std::size_t i = 0; i < sys.size(); ++i)
      for (int k = 0; k < 3; ++k) {
        auto x = x0;
        x[i][static_cast<std::size_t>(k)] += h;
        set_positions(sys, x);
        const double ep = pot.compute_with_graph(sys, e_only, g).energy;
        x[i][static_cast<std::size_t>(k)] -= 2 * h;
        set_positions(sys, x);
        const double em = pot.compute_with_graph(sys, e_only, g).energy;
        const double fd = -(ep - em) / (2 * h);
        worst = std::max(worst, std::abs(fd - f[i][static_cast<std::size_t>(k)]));
      }
    set_positions(sys, x0);
    CHECK(worst <= 2e-6);
    MESSAGE(ck << " " << st << ": max |F - F_fd| = " << worst << " eV/A");
  }
}

TEST_CASE("CHGNet stress is the finite-difference strain derivative of the energy (graph fixed)") {
  NERNST_REQUIRE_SHARED_DATA();
  for (const auto& c : kCases) {
    const std::string ck = c.ckpt, st = c.structure;
    CAPTURE(ck);
    CAPTURE(st);
    auto sys = system_from(read_json(ref_path(c.ckpt, c.structure)).at("structure"));
    Potential<GraphNet<CHGNet>, double> pot(model(c.ckpt));
    nernst::ComputeRequest req;
    req.forces = req.stress = true;
    const auto r0 = pot.compute(sys, req);
    const auto g = pot.graph();
    const auto x0 = positions(sys);
    const Eigen::Matrix3d L0 = sys.cell.matrix();
    const double V = L0.determinant();
    const double h = 1e-6;
    nernst::ComputeRequest e_only;
    e_only.forces = false;
    double worst = 0;
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) {
        double e[2];
        for (int s = 0; s < 2; ++s) {
          Eigen::Matrix3d F = Eigen::Matrix3d::Identity();
          F(a, b) += s == 0 ? h : -h;
          auto x = x0;
          for (auto& p : x) {
            const Eigen::RowVector3d q = Eigen::RowVector3d(p[0], p[1], p[2]) * F;
            p = {q[0], q[1], q[2]};
          }
          set_positions(sys, x);
          sys.cell = nernst::Lattice(L0 * F);
          e[s] = pot.compute_with_graph(sys, e_only, g).energy;
        }
        const double fd = (e[0] - e[1]) / (2 * h) / V;
        worst = std::max(worst, std::abs(fd - r0.stress(a, b)));
      }
    CHECK(worst <= 1e-7);
    MESSAGE(ck << " " << st << ": max |sigma - sigma_fd| = " << worst << " eV/A^3");
  }
}

TEST_CASE("CHGNet is invariant under permutation, translation and rotation") {
  NERNST_REQUIRE_SHARED_DATA();
  const std::string ckpt = "chgnet_0.3.0_random_seed0";
  auto sys = system_from(read_json(ref_path(ckpt, "liycl_triclinic_random10")).at("structure"));
  Potential<GraphNet<CHGNet>, double> pot(model(ckpt));
  nernst::ComputeRequest req;
  req.forces = req.stress = true;
  const auto r0 = pot.compute(sys, req);
  const auto f0 = host_forces(sys);
  const auto m0 = pot.magmoms();
  const std::size_t n = sys.size();

  // Reverse the atom order and shift everything by a non-lattice vector.
  nernst::System<> p(n);
  p.cell = sys.cell;
  p.species = sys.species;
  {
    auto hx = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), sys.x);
    auto ht = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), sys.type);
    auto px = Kokkos::create_mirror_view(p.x);
    auto pt = Kokkos::create_mirror_view(p.type);
    for (std::size_t i = 0; i < n; ++i) {
      for (int k = 0; k < 3; ++k) px(n - 1 - i, k) = hx(i, k) + 0.37 * (k + 1);
      pt(n - 1 - i) = ht(i);
    }
    Kokkos::deep_copy(p.x, px);
    Kokkos::deep_copy(p.type, pt);
  }
  const auto r1 = pot.compute(p, req);
  const auto f1 = host_forces(p);
  CHECK(std::abs(r1.energy - r0.energy) <= 1e-10);
  CHECK((r1.stress - r0.stress).cwiseAbs().maxCoeff() <= 1e-11);
  double df = 0, dm = 0;
  for (std::size_t i = 0; i < n; ++i) {
    for (int k = 0; k < 3; ++k) df = std::max(df, std::abs(f1[n - 1 - i][static_cast<std::size_t>(k)] - f0[i][static_cast<std::size_t>(k)]));
    dm = std::max(dm, std::abs(pot.magmoms()[n - 1 - i] - m0[i]));
  }
  CHECK(df <= 1e-10);
  CHECK(dm <= 1e-12);

  // Rigid rotation of cell and positions: energy unchanged, forces and stress rotated.
  const Eigen::Matrix3d Q = Eigen::AngleAxisd(0.7, Eigen::Vector3d(1, 2, 3).normalized()).toRotationMatrix();
  nernst::System<> q(n);
  q.cell = nernst::Lattice(sys.cell.matrix() * Q.transpose());
  q.species = sys.species;
  {
    auto hx = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), sys.x);
    auto qx = Kokkos::create_mirror_view(q.x);
    for (std::size_t i = 0; i < n; ++i) {
      const Eigen::Vector3d y = Q * Eigen::Vector3d(hx(i, 0), hx(i, 1), hx(i, 2));
      for (int k = 0; k < 3; ++k) qx(i, k) = y[k];
    }
    Kokkos::deep_copy(q.x, qx);
    Kokkos::deep_copy(q.type, sys.type);
  }
  const auto r2 = pot.compute(q, req);
  const auto f2 = host_forces(q);
  CHECK(std::abs(r2.energy - r0.energy) <= 1e-10);
  CHECK((r2.stress - Q * r0.stress * Q.transpose()).cwiseAbs().maxCoeff() <= 1e-11);
  df = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const Eigen::Vector3d fr = Q * Eigen::Vector3d(f0[i][0], f0[i][1], f0[i][2]);
    for (int k = 0; k < 3; ++k) df = std::max(df, std::abs(f2[i][static_cast<std::size_t>(k)] - fr[k]));
  }
  CHECK(df <= 1e-10);
}

TEST_CASE("CHGNet gives the same crystal the same stress in a left-handed cell") {
  NERNST_REQUIRE_SHARED_DATA();
  // Swapping two lattice vectors describes the same crystal with det(L) < 0. CHGNet itself
  // divides by the signed volume (its stress flips sign); nernst uses |V| (docs/chgnet.md).
  const std::string ckpt = "chgnet_0.3.0_random_seed0";
  auto sys = system_from(read_json(ref_path(ckpt, "liycl_triclinic_random10")).at("structure"));
  Potential<GraphNet<CHGNet>, double> pot(model(ckpt));
  nernst::ComputeRequest req;
  req.forces = req.stress = true;
  const auto r0 = pot.compute(sys, req);
  const auto f0 = host_forces(sys);
  Eigen::Matrix3d L = sys.cell.matrix();
  L.row(0).swap(L.row(1));
  sys.cell = nernst::Lattice(L);
  REQUIRE(L.determinant() < 0);
  const auto r1 = pot.compute(sys, req);
  const auto f1 = host_forces(sys);
  CHECK(std::abs(r1.energy - r0.energy) <= 1e-10);
  CHECK((r1.stress - r0.stress).cwiseAbs().maxCoeff() <= 1e-11);
  double df = 0;
  for (std::size_t i = 0; i < sys.size(); ++i)
    for (int k = 0; k < 3; ++k) df = std::max(df, std::abs(f1[i][static_cast<std::size_t>(k)] - f0[i][static_cast<std::size_t>(k)]));
  CHECK(df <= 1e-10);
}

TEST_CASE("CHGNet refuses isolated atoms") {
  NERNST_REQUIRE_SHARED_DATA();
  nernst::System<> sys(2);
  sys.cell = nernst::Lattice(Eigen::Matrix3d::Identity() * 30.0);
  sys.species = {3};
  auto hx = Kokkos::create_mirror_view(sys.x);
  hx(0, 0) = hx(0, 1) = hx(0, 2) = 1.0;
  hx(1, 0) = hx(1, 1) = hx(1, 2) = 15.0;
  Kokkos::deep_copy(sys.x, hx);
  Kokkos::deep_copy(sys.type, 0);
  Potential<GraphNet<CHGNet>, double> pot(model("chgnet_0.3.0_random_seed0"));
  CHECK_THROWS_WITH_AS(pot.compute(sys, {}), doctest::Contains("isolated"), nernst::ValueError);
}
