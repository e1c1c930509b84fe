// M3GNet's energy as Kokkos kernels (potential/graphnet/m3gnet_kernel.hpp) in the default execution
// space (the GPU in a CUDA build): against matgl's float64 and float32 energies in
// ../shared/reference, and against the host evaluator (M3GNetEvaluator, Eigen) on the same graph.
#include "../graphnet/m3gnet_test_util.hpp"

#include <doctest/doctest.h>

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
};

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
  return in;
}

void check_model(const gn::M3GNetModel& m, const std::filesystem::path& refs, const char* label) {
  gn::M3GNetKernel<double> dev(m);
  gn::M3GNetKernel<float> devf(m);
  gn::M3GNetEvaluator<double> host(m);
  double worst_matgl = 0, worst_host = 0;
  for (const char* name : kReferences) {
    CAPTURE(name);
    const Inputs in = inputs(m, refs, name);
    std::vector<double> atoms;
    const double e = dev.energy(ES(), in.x, in.L, in.types, in.g, &atoms);
    gn::M3GNetOutput out;
    host.evaluate(in.x, in.L, in.types, in.g, false, out);
    const double ef = devf.energy(ES(), in.x, in.L, in.types, in.g);
    std::printf(
        "  %s kernel %-32s E %.10f  |dE| vs matgl float64 %.2e  vs host %.2e  float |dE| vs matgl float32 %.2e eV\n",
        label, name, e, std::abs(e - in.e_float64), std::abs(e - out.energy), std::abs(ef - in.e_float32));
    CHECK(std::abs(e - in.e_float64) <= 1e-6);
    CHECK(std::abs(e - out.energy) <= 1e-12 * std::abs(out.energy) + 1e-12);
    REQUIRE(atoms.size() == in.atom_float64.size());
    for (std::size_t i = 0; i < atoms.size(); ++i) {
      CHECK(std::abs(atoms[i] - in.atom_float64[i]) <= 1e-6);
      CHECK(std::abs(atoms[i] - out.atom_energy[i]) <= 1e-12 * std::abs(out.atom_energy[i]) + 1e-12);
    }
    CHECK(std::abs(ef - in.e_float32) <= 1e-7 * std::abs(in.e_float32) + 1e-5);
    // The same evaluation again: the same bits.
    CHECK(dev.energy(ES(), in.x, in.L, in.types, in.g) == e);
    worst_matgl = std::max(worst_matgl, std::abs(e - in.e_float64));
    worst_host = std::max(worst_host, std::abs(e - out.energy));
  }
  MESSAGE(std::string(label) << " kernel energies: max |dE| " << worst_matgl << " eV vs matgl float64, " << worst_host
                             << " eV vs the host evaluator");
}

}  // namespace

TEST_CASE("M3GNet-MP-2021 energy kernels match matgl and the host evaluator on all reference structures") {
  NERNST_REQUIRE_SHARED_DATA();
  check_model(model(), ref_dir(), "MP-2021");
}

TEST_CASE("M3GNet-MatPES-PBE energy kernels (smooth basis) match matgl and the host evaluator") {
  NERNST_REQUIRE_SHARED_DATA();
  check_model(matpes_model("pbe"), matpes_ref_dir(), "MatPES-PBE");
}

TEST_CASE("Potential<GraphNet<M3GNet>>: energy-only requests through the kernels equal the host evaluator's") {
  NERNST_REQUIRE_SHARED_DATA();
  nernst::Potential<nernst::GraphNet<nernst::M3GNet>, double> host(model());
  CHECK(host.energy_kernels() == !std::is_same_v<nernst::DefaultMemorySpace, Kokkos::HostSpace>);
  host.set_energy_kernels(false);
  auto dev = host;  // a copy: shares the weights, not the evaluation arrays
  dev.set_energy_kernels(true);
  nernst::ComputeRequest energy_only;
  energy_only.per_atom_energy = true;
  for (const char* name : {"li3ycl6_ordered_40", "licl_conv8_rattled"}) {
    CAPTURE(name);
    auto sys = system_from(read_json(ref_dir() / (std::string(name) + ".json")).at("structure"));
    const auto a = host.compute(sys, energy_only);
    const auto b = dev.compute(sys, energy_only);
    CHECK(std::abs(a.energy - b.energy) <= 1e-12 * std::abs(a.energy));
    REQUIRE(a.per_atom_energy.size() == b.per_atom_energy.size());
    for (std::size_t i = 0; i < a.per_atom_energy.size(); ++i)
      CHECK(std::abs(a.per_atom_energy[i] - b.per_atom_energy[i]) <= 1e-12 * std::abs(a.per_atom_energy[i]) + 1e-13);
    // Forces requested: the host evaluator, whatever the switch says.
    nernst::ComputeRequest with_forces;
    with_forces.forces = true;
    CHECK(dev.compute(sys, with_forces).energy == host.compute(sys, with_forces).energy);
  }
}
