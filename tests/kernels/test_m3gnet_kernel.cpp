// M3GNet as Kokkos kernels (potential/graphnet/m3gnet_kernel.hpp) in the default execution space (the
// GPU in a CUDA build): energies, per-atom energies, forces and stress against matgl's float64 and
// float32 outputs in ../shared/reference, and against the host evaluator (M3GNetEvaluator, Eigen) on
// the same graph.
#include "../graphnet/m3gnet_test_util.hpp"

#include <doctest/doctest.h>

#include <nernst/core/error.hpp>
#include <nernst/potential/graphnet/m3gnet_kernel.hpp>

#include <cmath>
#include <cstdio>
#include <string>
#include <type_traits>
#include <vector>

using namespace m3gnet_test;
namespace gn = nernst::graphnet;
using ES = Kokkos::DefaultExecutionSpace;

namespace {

/// One reference structure as the evaluators' inputs.
struct Inputs {
  std::vector<std::array<double, 3>> x;
  Eigen::Matrix3d L;
  std::vector<int> types;
  gn::PeriodicGraph g;
  double e_float64 = 0, e_float32 = 0;
  std::vector<double> atom_float64;
  std::vector<std::array<double, 3>> f_float64, f_float32;  // eV/Å
  Eigen::Matrix3d s_float64, s_float32;                      // GPa
  double volume = 0;                                         // Å³
};

void read_outputs(const nlohmann::json& o, std::vector<std::array<double, 3>>& f, Eigen::Matrix3d& s) {
  for (const auto& row : o.at("forces_eV_per_A")) f.push_back({row[0].get<double>(), row[1].get<double>(), row[2].get<double>()});
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) s(a, b) = o.at("stress_GPa")[a][b].get<double>();
}

constexpr double kGPa = 160.21766208;  // eV/Å³ in GPa

/// Largest |ΔF| (eV/Å) and |Δσ| (GPa) of an evaluation's forces and virial against reference ones.
std::pair<double, double> gradient_difference(const gn::M3GNetOutput& o, const double volume,
                                              const std::vector<std::array<double, 3>>& f, const Eigen::Matrix3d& s_gpa) {
  double df = 0;
  for (std::size_t i = 0; i < f.size(); ++i)
    for (std::size_t k = 0; k < 3; ++k) df = std::max(df, std::abs(o.forces[i][k] - f[i][k]));
  return {df, (o.virial / volume * kGPa - s_gpa).cwiseAbs().maxCoeff()};
}

Inputs inputs(const gn::M3GNetModel& m, const std::filesystem::path& refs, const std::string& name) {
  const auto j = read_json(refs / (name + ".json"));
  const Cell c = cell_from_json(j.at("structure"));
  Inputs in;
  in.L = c.L;
  for (std::size_t i = 0; i < c.x.size(); ++i) {
    in.x.push_back({c.x[i](0), c.x[i](1), c.x[i](2)});
    in.types.push_back(m.config.type_of(c.z[i]));
  }
  gn::build_pymatgen_graph(in.x, in.L, m.config.cutoff, in.g);
  in.e_float64 = j.at("outputs_float64").at("energy_eV").get<double>();
  in.e_float32 = j.at("outputs").at("energy_eV").get<double>();
  for (const auto& e : j.at("per_atom").at("energy_eV")) in.atom_float64.push_back(e.get<double>());
  read_outputs(j.at("outputs_float64"), in.f_float64, in.s_float64);
  read_outputs(j.at("outputs"), in.f_float32, in.s_float32);
  in.volume = std::abs(in.L.determinant());
  return in;
}

/// Energies, per-atom energies, forces and stress of the double and float kernels on every reference
/// structure of `refs`: against matgl (float64 within `tol`, float32 within its noise) and against
/// the host evaluator on the same graph (1e-12 relative: the same arithmetic summed in another
/// order).
void check_model(const gn::M3GNetModel& m, const std::filesystem::path& refs, const double tol, const char* label) {
  gn::M3GNetKernel<double> dev(m);
  gn::M3GNetKernel<float> devf(m);
  gn::M3GNetEvaluator<double> host(m);
  double worst_matgl = 0, worst_host = 0, worst_f = 0, worst_s = 0, worst_fh = 0, worst_sh = 0;
  for (const char* name : kReferences) {
    CAPTURE(name);
    const Inputs in = inputs(m, refs, name);
    std::vector<double> atoms;
    const double e = dev.energy(ES(), in.x, in.L, in.types, in.g, &atoms);
    gn::M3GNetOutput out, k, kf;
    host.evaluate(in.x, in.L, in.types, in.g, true, out);
    dev.evaluate(ES(), in.x, in.L, in.types, in.g, true, k);
    devf.evaluate(ES(), in.x, in.L, in.types, in.g, true, kf);
    const double ef = kf.energy;
    const auto [df, ds] = gradient_difference(k, in.volume, in.f_float64, in.s_float64);
    const auto [dfh, dsh] = gradient_difference(k, in.volume, out.forces, out.virial / in.volume * kGPa);
    const auto [dff, dsf] = gradient_difference(kf, in.volume, in.f_float32, in.s_float32);
    std::printf("  %s kernel %-30s E %.10f  |dE| vs matgl float64 %.1e vs host %.1e  |dF| %.1e %.1e  |dS| %.1e %.1e GPa"
                "  float |dE| %.1e |dF| %.1e |dS| %.1e vs matgl float32\n",
                label, name, e, std::abs(e - in.e_float64), std::abs(e - out.energy), df, dfh, ds, dsh,
                std::abs(ef - in.e_float32), dff, dsf);
    CHECK(std::abs(e - in.e_float64) <= tol);
    CHECK(std::abs(e - out.energy) <= 1e-12 * std::abs(out.energy) + 1e-12);
    CHECK(k.energy == e);
    REQUIRE(atoms.size() == in.atom_float64.size());
    for (std::size_t i = 0; i < atoms.size(); ++i) {
      CHECK(std::abs(atoms[i] - in.atom_float64[i]) <= tol);
      CHECK(std::abs(atoms[i] - out.atom_energy[i]) <= 1e-12 * std::abs(out.atom_energy[i]) + 1e-12);
    }
    double fscale = 1;  // eV/Å: the tolerance is relative to the largest force component
    for (const auto& f : out.forces)
      for (const double c : f) fscale = std::max(fscale, std::abs(c));
    CHECK(df <= tol);
    CHECK(ds / kGPa <= tol);
    CHECK(dfh <= 1e-12 * fscale);
    CHECK(dsh / kGPa <= 1e-12);
    CHECK(std::abs(ef - in.e_float32) <= 1e-7 * std::abs(in.e_float32) + 1e-5);
    CHECK(dff <= 5e-5);
    CHECK(dsf <= 1e-3);
    // The same evaluation again: the same bits.
    CHECK(dev.energy(ES(), in.x, in.L, in.types, in.g) == e);
    gn::M3GNetOutput again;
    dev.evaluate(ES(), in.x, in.L, in.types, in.g, true, again);
    CHECK(again.forces == k.forces);
    CHECK(again.virial == k.virial);
    worst_matgl = std::max(worst_matgl, std::abs(e - in.e_float64));
    worst_host = std::max(worst_host, std::abs(e - out.energy));
    worst_f = std::max(worst_f, df);
    worst_s = std::max(worst_s, ds);
    worst_fh = std::max(worst_fh, dfh);
    worst_sh = std::max(worst_sh, dsh);
  }
  MESSAGE(std::string(label) << " kernels: max |dE| " << worst_matgl << " eV, |dF| " << worst_f << " eV/A, |dS| "
                             << worst_s << " GPa vs matgl float64; vs the host evaluator |dE| " << worst_host
                             << " eV, |dF| " << worst_fh << " eV/A, |dS| " << worst_sh << " GPa");
}

}  // namespace

TEST_CASE("M3GNet-MP-2021 kernels: energy, forces and stress match matgl and the host evaluator on all reference structures") {
  NERNST_REQUIRE_SHARED_DATA();
  check_model(model(), ref_dir(), 1e-6, "MP-2021");
}

TEST_CASE("M3GNet-MatPES-PBE kernels (smooth basis): energy, forces and stress match matgl and the host evaluator") {
  NERNST_REQUIRE_SHARED_DATA();
  check_model(matpes_model("pbe"), matpes_ref_dir(), 1e-8, "MatPES-PBE");
}

TEST_CASE("M3GNet kernels in the smooth three-body mode equal the host evaluator (forces and stress)") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto& m = model();
  gn::M3GNetKernel<double> dev(m, ThreeBodyMode::smooth);
  gn::M3GNetEvaluator<double> host(m, ThreeBodyMode::smooth);
  for (const char* name : {"li3ycl6_ordered_40", "near_cutoff_cluster"}) {
    CAPTURE(name);
    const Inputs in = inputs(m, ref_dir(), name);
    gn::M3GNetOutput a, b;
    host.evaluate(in.x, in.L, in.types, in.g, true, a);
    dev.evaluate(ES(), in.x, in.L, in.types, in.g, true, b);
    CHECK(std::abs(a.energy - b.energy) <= 1e-12 * std::abs(a.energy));
    const auto [df, ds] = gradient_difference(b, in.volume, a.forces, a.virial / in.volume * kGPa);
    CHECK(df <= 1e-12);
    CHECK(ds / kGPa <= 1e-12);
  }
}

/// Largest |a − b| over the components of two force lists and of two virials.
double largest_difference(const gn::M3GNetOutput& a, const gn::M3GNetOutput& b) {
  double d = (a.virial - b.virial).cwiseAbs().maxCoeff();
  for (std::size_t i = 0; i < a.forces.size(); ++i)
    for (std::size_t c = 0; c < 3; ++c) d = std::max(d, std::abs(a.forces[i][c] - b.forces[i][c]));
  return d;
}

template <class Scalar>
void check_batch(const gn::M3GNetModel& m, const std::filesystem::path& refs, const ThreeBodyMode mode) {
  gn::M3GNetKernel<Scalar> kernel(m, mode);
  // Different sizes and cells, one structure twice, one without three-body triplets.
  const std::vector<std::string> names = {"li3ycl6_ordered_40", "licl_conv8_rattled", "li_single_atom_small_cell",
                                          "near_cutoff_cluster", "li3ycl6_ordered_40", "li_y_cl_triclinic_rattled"};
  std::vector<Inputs> in;
  for (const auto& n : names) in.push_back(inputs(m, refs, n));
  std::vector<typename gn::M3GNetKernel<Scalar>::Structure> batch;
  for (const auto& s : in) batch.push_back({s.x, s.L, s.types, s.g});
  for (const bool gradients : {false, true}) {
    CAPTURE(gradients);
    std::vector<gn::M3GNetOutput> together(batch.size());
    kernel.evaluate_batch(ES(), batch.data(), batch.data() + batch.size(), gradients, together.data());
    for (std::size_t k = 0; k < batch.size(); ++k) {
      CAPTURE(names[k]);
      gn::M3GNetOutput alone;
      kernel.evaluate(ES(), in[k].x, in[k].L, in[k].types, in[k].g, gradients, alone);
      REQUIRE(together[k].atom_energy.size() == in[k].x.size());
      if (!nernst::runs_on_host_v<ES>) {
        // On a device every sum is over the structure's own rows: the same bits.
        CHECK(together[k].energy == alone.energy);
        CHECK(together[k].atom_energy == alone.atom_energy);
        if (gradients) CHECK(largest_difference(together[k], alone) == 0.0);
      } else {
        const double eps = std::is_same_v<Scalar, float> ? 1e-6 : 1e-12;
        CHECK(std::abs(together[k].energy - alone.energy) <= eps * std::abs(alone.energy));
        if (gradients) CHECK(largest_difference(together[k], alone) <= eps * 10);
      }
      if (std::is_same_v<Scalar, double> && mode == ThreeBodyMode::matgl)
        CHECK(std::abs(together[k].energy - in[k].e_float64) <= 1e-6);
      if (gradients) REQUIRE(together[k].forces.size() == in[k].x.size());
    }
  }
}

TEST_CASE("M3GNet kernels: a batch of structures evaluated together gives each structure's result alone") {
  NERNST_REQUIRE_SHARED_DATA();
  check_batch<double>(model(), ref_dir(), ThreeBodyMode::matgl);
  check_batch<float>(model(), ref_dir(), ThreeBodyMode::matgl);
  check_batch<double>(model(), ref_dir(), ThreeBodyMode::smooth);
  check_batch<double>(matpes_model("pbe"), matpes_ref_dir(), ThreeBodyMode::matgl);
}

TEST_CASE("M3GNet kernels: clear errors for inconsistent inputs") {
  NERNST_REQUIRE_SHARED_DATA();
  gn::M3GNetKernel<double> kernel(model());
  const Inputs in = inputs(model(), ref_dir(), "licl_conv8_rattled");
  std::vector<int> short_types(in.types.begin(), in.types.end() - 1);
  gn::M3GNetOutput out;
  CHECK_THROWS_WITH_AS(kernel.evaluate(ES(), in.x, in.L, short_types, in.g, true, out),
                       doctest::Contains("structure 0"), nernst::ValueError);
  std::vector<gn::M3GNetKernel<double>::Structure> two = {{in.x, in.L, in.types, in.g}, {in.x, in.L, in.types, in.g}};
  std::vector<gn::M3GNetOutput> outs(2);
  kernel.set_energy_weights(std::vector<double>(in.x.size(), 1.0));
  CHECK_THROWS_AS(kernel.evaluate_batch(ES(), two.data(), two.data() + 2, true, outs.data()), nernst::ValueError);
  // Weights of one per atom give the unweighted forces.
  kernel.evaluate(ES(), in.x, in.L, in.types, in.g, true, out);
  kernel.set_energy_weights({});
  gn::M3GNetOutput plain;
  kernel.evaluate(ES(), in.x, in.L, in.types, in.g, true, plain);
  CHECK(largest_difference(out, plain) == 0.0);
  // Other weights (the first half of the atoms counted): the host evaluator's weighted gradients.
  std::vector<double> half(in.x.size(), 0.0);
  for (std::size_t i = 0; i < half.size() / 2; ++i) half[i] = 1.0;
  gn::M3GNetEvaluator<double> host(model());
  host.set_energy_weights(half);
  kernel.set_energy_weights(half);
  gn::M3GNetOutput a, b;
  host.evaluate(in.x, in.L, in.types, in.g, true, a);
  kernel.evaluate(ES(), in.x, in.L, in.types, in.g, true, b);
  CHECK(largest_difference(a, b) <= 1e-12);
  CHECK(largest_difference(b, plain) > 1e-3);  // the weights changed the gradients
}

TEST_CASE("Potential<GraphNet<M3GNet>>: evaluations through the kernels equal the host evaluator's") {
  NERNST_REQUIRE_SHARED_DATA();
  nernst::Potential<nernst::GraphNet<nernst::M3GNet>, double> host(model());
  CHECK(host.kernels() == !std::is_same_v<nernst::DefaultMemorySpace, Kokkos::HostSpace>);
  host.set_kernels(false);
  auto dev = host;  // a copy: shares the weights, not the evaluation arrays
  dev.set_kernels(true);
  nernst::ComputeRequest energy_only, all;
  energy_only.per_atom_energy = true;
  all.per_atom_energy = all.forces = all.stress = true;
  for (const char* name : {"li3ycl6_ordered_40", "licl_conv8_rattled"}) {
    CAPTURE(name);
    auto sys = system_from(read_json(ref_dir() / (std::string(name) + ".json")).at("structure"));
    for (const auto& req : {energy_only, all}) {
      const auto a = host.compute(sys, req);
      const auto fa = host_forces(sys);
      const auto b = dev.compute(sys, req);
      const auto fb = host_forces(sys);
      CHECK(std::abs(a.energy - b.energy) <= 1e-12 * std::abs(a.energy));
      REQUIRE(a.per_atom_energy.size() == b.per_atom_energy.size());
      for (std::size_t i = 0; i < a.per_atom_energy.size(); ++i)
        CHECK(std::abs(a.per_atom_energy[i] - b.per_atom_energy[i]) <= 1e-12 * std::abs(a.per_atom_energy[i]) + 1e-13);
      if (!req.forces) continue;
      for (std::size_t i = 0; i < sys.size(); ++i)
        for (std::size_t c = 0; c < 3; ++c) CHECK(std::abs(fa[i][c] - fb[i][c]) <= 1e-11);
      CHECK((a.stress - b.stress).cwiseAbs().maxCoeff() <= 1e-13);  // eV/Å³
    }
  }
}
