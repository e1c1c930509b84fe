// MACE reverse pass (mace_backward.hpp): forces and stress of every reference structure against
// mace-torch's float64 and float32 blocks, and against central finite differences of our own
// energy (positions and strain) as an independent check.

#include "mace_test_util.hpp"

#include <nernst/core/system.hpp>
#include <nernst/potential/graphnet/mace.hpp>

#include <utility>

using namespace mace_test;

namespace {

struct Gap {
  double force = 0, stress = 0;
};

/// Largest |F - F_ref| and |σ - σ_ref| of one structure in precision Scalar against block `key`.
template <class Scalar>
Gap gradient_gap(gm::MACEModel<Scalar>& m, const nlohmann::json& ref, const char* key) {
  const auto st = structure_of(ref);
  const auto s = gm::forward(m, st.x, st.lattice, st.z);
  const auto g = gm::backward(m, s, st.lattice);
  const auto F = flat(ref.at(key).at("forces_eV_per_A"));
  const auto S = flat(ref.at(key).at("stress_eV_per_A3"));
  REQUIRE(F.size() == 3 * g.forces.size());
  Gap gap;
  for (std::size_t i = 0; i < g.forces.size(); ++i)
    for (std::size_t k = 0; k < 3; ++k) gap.force = std::max(gap.force, std::abs(g.forces[i][k] - F[3 * i + k]));
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) gap.stress = std::max(gap.stress, std::abs(g.stress(a, b) - S[static_cast<std::size_t>(3 * a + b)]));
  return gap;
}

/// Five-point central difference of f at 0 with step h (error ~ h^4).
template <class F>
double d5(F&& f, double h) {
  return (-f(2 * h) + 8 * f(h) - 8 * f(-h) + f(-2 * h)) / (12 * h);
}

/// Largest |F − F_fd| and |F_fd| over every atom and component, F_fd = −dE/dx by d5 with step h;
/// `energy` maps positions to the energy.
template <class E>
std::pair<double, double> force_fd_gap(const std::vector<std::array<double, 3>>& x0, const std::vector<std::array<double, 3>>& forces,
                                       E&& energy, double h) {
  double df = 0, fmax = 0;
  for (std::size_t i = 0; i < x0.size(); ++i)
    for (std::size_t k = 0; k < 3; ++k) {
      const double fd = -d5([&](double d) {
        auto x = x0;
        x[i][k] += d;
        return energy(x);
      }, h);
      df = std::max(df, std::abs(fd - forces[i][k]));
      fmax = std::max(fmax, std::abs(fd));
    }
  return {df, fmax};
}

/// 1 + ε for a symmetric strain ε with the pair (a, b) set to eps.
Eigen::Matrix3d strain(int a, int b, double eps) {
  Eigen::Matrix3d D = Eigen::Matrix3d::Identity();
  D(a, b) += a == b ? eps : 0.5 * eps;
  D(b, a) += a == b ? 0.0 : 0.5 * eps;
  return D;
}

/// Positions (rows) times D.
std::vector<std::array<double, 3>> strained_positions(std::vector<std::array<double, 3>> x, const Eigen::Matrix3d& D) {
  for (auto& p : x) {
    const Eigen::RowVector3d q = Eigen::RowVector3d(p[0], p[1], p[2]) * D;
    p = {q[0], q[1], q[2]};
  }
  return x;
}

template <class Scalar>
void check_all(const char* key, double f_tol, double s_tol) {
  Gap worst;
  for (const auto& name : model_names()) {
    auto m = gm::make_mace_model<Scalar>(source(name));
    for (const auto& sname : reference_structures(name)) {
      const auto gap = gradient_gap(m, reference(name, sname), key);
      INFO(name << " / " << sname << " " << std::string(key) << ": max |dF| = " << gap.force << " eV/A, max |dS| = " << gap.stress << " eV/A^3");
      CHECK(gap.force < f_tol);
      CHECK(gap.stress < s_tol);
      worst.force = std::max(worst.force, gap.force);
      worst.stress = std::max(worst.stress, gap.stress);
    }
  }
  MESSAGE(std::string(key) << ": worst max |dF| = " << worst.force << " eV/A, worst max |dS| = " << worst.stress << " eV/A^3");
}

}  // namespace

TEST_CASE("MACE forces and stress match mace-torch (float64), every model and reference structure") {
  if (!nernst_test::have_shared()) return;
  check_all<double>("float64", 1e-9, 1e-10);
}

TEST_CASE("MACE forces and stress in float32 match mace-torch's float32 block") {
  if (!nernst_test::have_shared()) return;
  // Spec: float32 runs of mace itself with other BLAS kernels differ by <= 1.1e-5 eV/A, 1.5e-6 eV/A^3.
  check_all<float>("float32", 2.5e-4, 1e-5);
}

TEST_CASE("MACE forces and stress in float32 are within mace's own float32-float64 gap of the float64 block") {
  if (!nernst_test::have_shared()) return;
  // Spec: mace's float32 vs float64 over all 24 files: |dF| <= 1.3e-4 eV/A.
  check_all<float>("float64", 2.5e-4, 1e-5);
}

TEST_CASE("MACE forces and stress equal central finite differences of the energy (float64)") {
  if (!nernst_test::have_shared()) return;
  auto m = gm::make_mace_model<double>(source("mace-mp0a-medium-random"));
  const auto st = structure_of(reference("mace-mp0a-medium-random", "li_y_cl_triclinic_rattled"));
  const auto g = gm::backward(m, gm::forward(m, st.x, st.lattice, st.z), st.lattice);
  // Five-point central differences, h = 2.5e-4 (error ~ h^4, as the spec's own check).
  const double h = 2.5e-4;
  auto energy = [&](const std::vector<std::array<double, 3>>& x, const Eigen::Matrix3d& L) { return gm::forward(m, x, L, st.z).energy; };
  const auto [df, fmax] = force_fd_gap(st.x, g.forces, [&](const auto& x) { return energy(x, st.lattice); }, h);
  // Strain: x' = x (1 + ε), L' = L (1 + ε) for a symmetric ε with one pair (a, b) set.
  const double V = std::abs(st.lattice.determinant());
  double ds = 0;
  for (int a = 0; a < 3; ++a)
    for (int b = a; b < 3; ++b) {
      auto strained = [&](double eps) {
        const Eigen::Matrix3d D = strain(a, b, eps);
        return energy(strained_positions(st.x, D), st.lattice * D);
      };
      const double fd = d5(strained, h) / V;
      ds = std::max(ds, std::abs(fd - g.stress(a, b)));
    }
  MESSAGE("FD (5-point, h = 2.5e-4): max |F - F_fd| = " << df << " eV/A (max |F| " << fmax << "), max |S - S_fd| = " << ds << " eV/A^3");
  CHECK(fmax > 1e-2);  // the structure is rattled: the check is not against zeros
  CHECK(df < 1e-7);
  CHECK(ds < 1e-8);
}

TEST_CASE("Potential<GraphNet<MACE>> gives forward/backward's energy, forces, stress and per-atom energies") {
  if (!nernst_test::have_shared()) return;
  const std::string name = "mace-mp0a-medium-random";
  const auto ref = reference(name, "li_y_cl_triclinic_rattled");
  const auto st = structure_of(ref);
  std::vector<Eigen::Vector3d> cart;
  for (const auto& p : st.x) cart.emplace_back(p[0], p[1], p[2]);
  auto sys = nernst::System<>::from_cartesian(nernst::Lattice(st.lattice), st.z, cart);
  nernst::Potential<nernst::GraphNet<nernst::MACE>, double> pot(source(name));
  nernst::ComputeRequest req;
  req.forces = req.stress = req.per_atom_energy = true;
  const auto res = pot.compute(sys, req);
  auto m = gm::make_mace_model<double>(source(name));
  const auto s = gm::forward(m, st.x, st.lattice, st.z);
  const auto g = gm::backward(m, s, st.lattice);
  CHECK(res.energy == s.energy);
  CHECK(res.per_atom_energy == s.node_energy);
  CHECK(res.has_stress);
  CHECK((res.stress - g.stress).cwiseAbs().maxCoeff() < 1e-15);
  auto hf = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), sys.f);
  const auto F = flat(ref.at("float64").at("forces_eV_per_A"));
  double df = 0, dref = 0;
  for (std::size_t i = 0; i < sys.size(); ++i)
    for (int k = 0; k < 3; ++k) {
      df = std::max(df, std::abs(hf(i, k) - g.forces[i][static_cast<std::size_t>(k)]));
      dref = std::max(dref, std::abs(hf(i, k) - F[3 * i + static_cast<std::size_t>(k)]));
    }
  CHECK(df == 0.0);
  CHECK(dref < 1e-9);
  CHECK(std::abs(res.energy - ref.at("float64").at("energy_eV").get<double>()) < 1e-9);
}

TEST_CASE("MACE backward refuses a forward state that is not a complete forward() of the model") {
  if (!nernst_test::have_shared()) return;
  const auto& m = model64("mace-small-random");
  const auto st = structure_of(reference("mace-small-random", "licl_rocksalt_prim"));
  CHECK_THROWS_WITH_AS(gm::backward(m, gm::ForwardState<double>{}, st.lattice), doctest::Contains("not a complete forward()"),
                       nernst::ValueError);
  auto m2 = gm::make_mace_model<double>(source("mace-small-random"));
  const auto s = gm::forward(m2, st.x, st.lattice, st.z);
  CHECK_THROWS_WITH_AS(gm::backward(m2, s, Eigen::Matrix3d::Zero()), doctest::Contains("zero volume"), nernst::ValueError);
}

namespace {

/// Every ordered pair of an open cluster (no images); mace_graph_from keeps those within r_max.
gm::MACEGraph open_graph(const std::vector<std::array<double, 3>>& x, double r_max) {
  nernst::graphnet::PeriodicGraph pairs;
  for (int i = 0; i < static_cast<int>(x.size()); ++i)
    for (int j = 0; j < static_cast<int>(x.size()); ++j)
      if (i != j) {
        pairs.src.push_back(i);
        pairs.dst.push_back(j);
        pairs.image.push_back({0, 0, 0});
      }
  return gm::mace_graph_from(pairs, x, Eigen::Matrix3d::Identity(), r_max);
}

}  // namespace

TEST_CASE("MACE weighted energy on an open cluster: forward on a graph, gradient() equals finite differences") {
  if (!nernst_test::have_shared()) return;
  // The 8-atom rattled LiCl cell's atoms as an open cluster; E_w = Σ_i w_i E_i with weights as a
  // domain decomposition would use them (owned 1, ghost 0) and one fractional weight.
  auto m = gm::make_mace_model<double>(source("mace-small-random"));
  const auto st = structure_of(reference("mace-small-random", "licl_conv8_rattled"));
  const std::vector<double> w = {1, 1, 0, 0, 1, 0.5, 0, 1};
  REQUIRE(w.size() == st.x.size());
  auto energy = [&](const std::vector<std::array<double, 3>>& x) {
    const auto s = gm::forward(m, open_graph(x, m.config.r_max), st.z);
    double e = 0;
    for (std::size_t i = 0; i < w.size(); ++i) e += w[i] * s.node_energy[i];
    return e;
  };
  const auto s = gm::forward(m, open_graph(st.x, m.config.r_max), st.z);
  REQUIRE(s.graph.size() > 0);
  const auto g = gm::gradient(m, s, w);
  // 5-point differences; the strain step is 5x smaller (it moves atoms ~5 Å out by 5 ε).
  const auto [df, fmax] = force_fd_gap(st.x, g.forces, energy, 2.5e-4);
  // Virial without a cell: dE_w/dε for x -> x (1 + ε), ε symmetric.
  double dv = 0, wmax = g.virial.cwiseAbs().maxCoeff();
  for (int a = 0; a < 3; ++a)
    for (int b = a; b < 3; ++b) {
      const double fd = d5([&](double eps) { return energy(strained_positions(st.x, strain(a, b, eps))); }, 5e-5);
      dv = std::max(dv, std::abs(fd - g.virial(a, b)));
    }
  MESSAGE("open cluster, weighted energy: max |F - F_fd| = " << df << " eV/A (max |F| " << fmax << "), max |W - W_fd| = " << dv << " eV (max |W| " << wmax << ")");
  CHECK(fmax > 1e-2);
  CHECK(df < 1e-7);
  CHECK(wmax > 1e-2);
  CHECK(dv < 1e-7);
  // Weights all 1 give backward()'s forces on the same graph, and a wrong weight count is refused.
  const auto g1 = gm::gradient(m, s, std::vector<double>(w.size(), 1.0)), g0 = gm::gradient(m, s);
  for (std::size_t i = 0; i < w.size(); ++i)
    for (std::size_t k = 0; k < 3; ++k) CHECK(std::abs(g1.forces[i][k] - g0.forces[i][k]) < 1e-13);
  CHECK_THROWS_WITH_AS(gm::gradient(m, s, std::vector<double>(3, 1.0)), doctest::Contains("3 energy weights for 8 atoms"), nernst::ValueError);
}

TEST_CASE("MACE forward on a given graph: the periodic reference graph gives the reference energy; bad edges are refused") {
  if (!nernst_test::have_shared()) return;
  auto m = gm::make_mace_model<double>(source("mace-small-random"));
  const auto ref = reference("mace-small-random", "li3ycl6_ordered_40");
  const auto st = structure_of(ref);
  const auto s = gm::forward(m, reference_graph(ref, st), st.z);
  CHECK(std::abs(s.energy - ref.at("float64").at("energy_eV").get<double>()) < 1e-9);
  gm::MACEGraph bad;
  bad.add_within(0, 45, {0, 0, 0}, std::vector<std::array<double, 3>>(46, {0.0, 0.0, 0.0}), st.lattice, 1e300);
  CHECK_THROWS_WITH_AS(gm::forward(m, bad, st.z), doctest::Contains("(0 -> 45) refers to an atom outside the 40 atoms"), nernst::ValueError);
}
