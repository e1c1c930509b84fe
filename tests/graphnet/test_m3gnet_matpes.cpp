// M3GNet-MatPES (PBE and r2SCAN, v2025.1): the smooth spherical Bessel basis against its defining
// recursion, the loader's shapes, the PBE model against matgl's float64 and float32 outputs in
// ../shared/reference/matpes, and the r2SCAN model (no reference given) by finite differences
// and invariances.
#include "m3gnet_test_util.hpp"

#include <nernst/potential/graphnet/basis.hpp>
#include <nernst/potential/graphnet/m3gnet.hpp>

#include <cmath>
#include <cstdio>

using namespace m3gnet_test;
using nernst::GraphNet;
using nernst::M3GNet;
using nernst::Potential;

namespace {

/// g_0..g_8 straight from the orthonormalisation of Kocer et al. (specs/m3gnet-matpes.md §3) in
/// long double, independent of the sine-series table the library uses.
std::array<long double, 9> smooth_basis_by_recursion(long double r) {
  const long double pi = 3.141592653589793238462643383279502884L, rc = 5.0L;
  std::array<long double, 9> f{}, g{};
  for (int n = 0; n < 9; ++n) {
    const long double a = (n + 1) * pi / rc, b = (n + 2) * pi / rc;
    const long double pre = ((n % 2) ? -1.0L : 1.0L) * std::sqrt(2.0L) * pi / std::pow(rc, 1.5L) * (n + 1) * (n + 2) /
                            std::sqrt(static_cast<long double>((n + 1) * (n + 1) + (n + 2) * (n + 2)));
    f[static_cast<std::size_t>(n)] = pre * (std::sin(a * r) / (a * r) + std::sin(b * r) / (b * r));
  }
  long double d_prev = 1.0L;
  g[0] = f[0];
  for (int n = 1; n < 9; ++n) {
    const long double e = static_cast<long double>(n * n) * (n + 2) * (n + 2) / (4.0L * std::pow(n + 1.0L, 4) + 1.0L);
    const long double d = 1.0L - e / d_prev;
    g[static_cast<std::size_t>(n)] =
        (f[static_cast<std::size_t>(n)] + std::sqrt(e / d_prev) * g[static_cast<std::size_t>(n - 1)]) / std::sqrt(d);
    d_prev = d;
  }
  return g;
}

}  // namespace

TEST_CASE("Smooth spherical Bessel basis: sine-series table equals the orthonormalised recursion") {
  nernst::graphnet::SmoothBesselBasis<double> basis(9);
  double worst = 0, worst_d = 0;
  for (double r = 0.3; r < 6.0; r += 0.0137) {
    double v[9], dv[9];
    basis(r, v, dv);
    const auto g = smooth_basis_by_recursion(r);
    const double h = 1e-6;
    const auto gp = smooth_basis_by_recursion(r + h), gm = smooth_basis_by_recursion(r - h);
    for (int n = 0; n < 9; ++n) {
      const auto k = static_cast<std::size_t>(n);
      worst = std::max(worst, std::abs(v[n] - static_cast<double>(g[k])));
      worst_d = std::max(worst_d, std::abs(dv[n] - static_cast<double>((gp[k] - gm[k]) / (2 * h))));
    }
  }
  MESSAGE("smooth basis: max |table - recursion| " << worst << ", max |g' - FD| " << worst_d);
  CHECK(worst < 1e-13);  // the table's 15-digit literals (spec §3.1)
  CHECK(worst_d < 1e-8);
  // Value and first derivative vanish at the cutoff (the point of the construction).
  double v[9], dv[9];
  basis(5.0, v, dv);
  for (int n = 0; n < 9; ++n) {
    CHECK(std::abs(v[n]) < 1e-13);
    CHECK(std::abs(dv[n]) < 1e-12);
  }
}

TEST_CASE("M3GNet-MatPES loads: 128 hidden units, 64-wide features, smooth basis, state.pt references") {
  NERNST_REQUIRE_SHARED_DATA();
  for (const std::string fn : {"pbe", "r2scan"}) {
    CAPTURE(fn);
    const auto& m = matpes_model(fn);
    CHECK(m.config.use_smooth);
    CHECK(m.config.units == 128);
    CHECK(m.config.dim == 64);
    CHECK(m.config.radial_size() == 3);
    CHECK(m.weights.edge_embedding.in_features() == 3);
    CHECK(m.weights.conv_edge[0].first_layer().weight.rows() == 2 * 128);  // stacked layer + gate
    CHECK(m.weights.conv_edge[0].out_features() == 64);
    CHECK(m.weights.readout.out_features() == 1);
    CHECK(m.config.element_refs.size() == 89);
    // data_std is the float32 value of state.pt (spec §1).
    CHECK(m.config.data_std == static_cast<double>(static_cast<float>(m.config.data_std)));
  }
  CHECK(matpes_model("pbe").config.data_std == doctest::Approx(3.2514967918395996).epsilon(1e-15));
  CHECK(matpes_model("r2scan").config.data_std == doctest::Approx(3.155513048171997).epsilon(1e-15));
}

TEST_CASE("M3GNet-MatPES-PBE double precision matches matgl float64 on all reference structures") {
  NERNST_REQUIRE_SHARED_DATA();
  // The spec's independent implementation agrees with matgl to 1e-14; 1e-8 is its suggested
  // acceptance (the issue asks 1e-6).
  check_double_against_matgl(matpes_model("pbe"), matpes_ref_dir(), 1e-8, "MatPES-PBE");
}

TEST_CASE("M3GNet-MatPES-PBE float precision matches matgl float32 within its noise") {
  NERNST_REQUIRE_SHARED_DATA();
  for (const char* name : kReferences) {
    CAPTURE(name);
    const auto j = read_json(matpes_ref_dir() / (std::string(name) + ".json"));
    const double e_ref = j.at("outputs").at("energy_eV").get<double>();
    const Diff d = compare_with_reference<float>(matpes_model("pbe"), matpes_ref_dir(), name, "outputs", false);
    std::printf("  MatPES float  %-32s |dE| %.2e eV  max|dF| %.2e eV/A  max|dS| %.2e GPa\n", name, d.de, d.df,
                d.ds_gpa);
    // Spec §9: a float32 reference is good to about 1e-7 |E| + 1e-5 eV; forces to ~1.2e-5 eV/Å.
    CHECK(d.de <= 1e-7 * std::abs(e_ref) + 1e-5);
    CHECK(d.df <= 5e-5);
    CHECK(d.ds_gpa <= 1e-3);
  }
}

TEST_CASE("M3GNet-MatPES (PBE, r2SCAN): forces and stress equal finite differences of the energy") {
  NERNST_REQUIRE_SHARED_DATA();
  std::vector<std::pair<std::string, Cell>> cells;
  for (const char* n : {"li_y_cl_triclinic_rattled", "near_cutoff_cluster", "licl_rocksalt_prim"})
    cells.emplace_back(n, reference_cell(n));
  {
    Cell c = reference_cell("licl_conv8_rattled");
    rattle(c, 0.1, 11);
    cells.emplace_back("licl_conv8 re-rattled", c);
  }
  for (const std::string fn : {"pbe", "r2scan"})
    for (auto mode : {ThreeBodyMode::matgl, ThreeBodyMode::smooth})
      for (const auto& entry : cells) {  // no structured binding: doctest's INFO/CAPTURE capture it (nvcc refuses)
        const auto& name = entry.first;
        const auto& c = entry.second;
        CAPTURE(fn);
        CAPTURE(name);
        CAPTURE(int(mode));
        const FdErr e = finite_difference_check(c, mode, false, 1e-5, static_cast<std::size_t>(-1), matpes_model(fn));
        MESSAGE(fn << " " << name << " mode " << int(mode) << ": max|F_fd - F| " << e.force << " (|F| up to "
                   << e.fmax << "), max|s_fd - s| " << e.stress);
        CHECK(e.force < 2e-8);
        CHECK(e.stress < 1e-9);
      }
}

TEST_CASE("M3GNet-MatPES-r2SCAN invariances: permutation, rotation, translation, supercell") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto& m = matpes_model("r2scan");
  Potential<GraphNet<M3GNet>, double> pot(m, ThreeBodyMode::smooth);
  nernst::ComputeRequest req;
  req.forces = req.stress = true;
  const Cell c = reference_cell("li_y_cl_triclinic_rattled");
  auto s0 = make_system(c);
  const auto r0 = pot.compute(s0, req);
  const auto f0 = host_forces(s0);
  CHECK(std::isfinite(r0.energy));

  SUBCASE("permutation") {
    Cell p = c;
    std::reverse(p.x.begin(), p.x.end());
    std::reverse(p.z.begin(), p.z.end());
    auto s = make_system(p);
    const auto r = pot.compute(s, req);
    const auto f = host_forces(s);
    CHECK(r.energy == doctest::Approx(r0.energy).epsilon(1e-12));
    for (std::size_t i = 0; i < c.x.size(); ++i)
      for (int k = 0; k < 3; ++k) CHECK(std::abs(f[c.x.size() - 1 - i][k] - f0[i][k]) < 1e-10);
  }
  SUBCASE("rigid rotation rotates forces and stress") {
    const Eigen::Matrix3d R =
        Eigen::AngleAxisd(0.7, Eigen::Vector3d(1, 2, 3).normalized()).toRotationMatrix();  // column vectors
    Cell q = c;
    q.L = c.L * R.transpose();
    for (auto& x : q.x) x = R * x;
    auto s = make_system(q);
    const auto r = pot.compute(s, req);
    const auto f = host_forces(s);
    CHECK(r.energy == doctest::Approx(r0.energy).epsilon(1e-12));
    for (std::size_t i = 0; i < c.x.size(); ++i) {
      const Eigen::Vector3d fr = R * Eigen::Vector3d(f0[i][0], f0[i][1], f0[i][2]);
      for (int k = 0; k < 3; ++k) CHECK(std::abs(f[i][k] - fr[k]) < 1e-10);
    }
    const Eigen::Matrix3d sr = R * r0.stress * R.transpose();
    CHECK((r.stress - sr).cwiseAbs().maxCoeff() < 1e-12);
  }
  SUBCASE("translation") {
    Cell q = c;
    for (auto& x : q.x) x += Eigen::Vector3d(0.37, -1.21, 2.05);
    auto s = make_system(q);
    CHECK(pot.compute(s, req).energy == doctest::Approx(r0.energy).epsilon(1e-12));
  }
  SUBCASE("2x1x1 supercell is extensive") {
    Cell q;
    q.L = c.L;
    q.L.row(0) *= 2;
    for (int rep = 0; rep < 2; ++rep)
      for (std::size_t i = 0; i < c.x.size(); ++i) {
        q.x.push_back(c.x[i] + rep * c.L.row(0).transpose());
        q.z.push_back(c.z[i]);
      }
    auto s = make_system(q);
    const auto r = pot.compute(s, req);
    CHECK(r.energy == doctest::Approx(2 * r0.energy).epsilon(1e-11));
    CHECK((r.stress - r0.stress).cwiseAbs().maxCoeff() < 1e-10);
  }
}
