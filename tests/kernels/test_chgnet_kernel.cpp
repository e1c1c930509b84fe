// CHGNet as Kokkos kernels (potential/graphnet/chgnet_kernel.hpp) in the default execution space (the
// GPU in a CUDA build): energies, site energies, magnetic moments, forces and stress against CHGNet's
// own float64 and float32 outputs in ../shared/reference/chgnet, and against the host evaluator
// (CHGNetEvaluator, Eigen) on the same graph; batches against each structure alone.
#include "../graphnet/chgnet_test_util.hpp"

#include <doctest/doctest.h>

#include <nernst/core/error.hpp>
#include <nernst/potential/graphnet/chgnet_evaluator.hpp>
#include <nernst/potential/graphnet/chgnet_kernel.hpp>

#include <cmath>
#include <string>
#include <vector>

using namespace chgnet_test;
namespace gn = nernst::graphnet;
using ES = Kokkos::DefaultExecutionSpace;

namespace {

constexpr double kGPa = 160.21766208;  // eV/Å³ in GPa (CHGNet's factor)

/// One reference structure as the evaluators' inputs, with CHGNet's outputs.
struct Inputs {
  std::vector<std::array<double, 3>> x;
  Eigen::Matrix3d L;
  std::vector<int> Z;
  gn::PeriodicGraph g;
  gn::BondGraph bg;
  nlohmann::json ref;  // the reference file
  double volume = 0;
};

Inputs inputs(const std::string& ckpt, const std::string& name) {
  Inputs in;
  in.ref = read_json(ref_path(ckpt, name));
  const auto& s = in.ref.at("structure");
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) in.L(a, b) = s.at("lattice_A")[a][b].get<double>();
  for (const auto& r : s.at("cart_coords_A")) in.x.push_back({r[0].get<double>(), r[1].get<double>(), r[2].get<double>()});
  for (const auto& z : s.at("atomic_numbers")) in.Z.push_back(z.get<int>());
  const auto& cfg = model(ckpt).config;
  gn::build_pymatgen_graph(in.x, in.L, cfg.atom_graph_cutoff, in.g);
  gn::build_bond_graph(in.g, in.x.size(), cfg.bond_graph_cutoff, in.bg);
  in.volume = std::abs(in.L.determinant());
  return in;
}

struct Diff {
  double energy = 0, site = 0, magmom = 0, force = 0, stress = 0;  // eV/atom, eV, μB, eV/Å, eV/Å³
  void worst(const Diff& d) {
    energy = std::max(energy, d.energy);
    site = std::max(site, d.site);
    magmom = std::max(magmom, d.magmom);
    force = std::max(force, d.force);
    stress = std::max(stress, d.stress);
  }
};

/// Kernel output against another output of the same structure.
Diff difference(const gn::CHGNetOutput& a, const gn::CHGNetOutput& b, const double volume) {
  Diff d;
  const auto n = a.site_energy.size();
  REQUIRE(b.site_energy.size() == n);
  d.energy = std::abs(a.energy - b.energy) / double(n);
  for (std::size_t i = 0; i < n; ++i) {
    d.site = std::max(d.site, std::abs(a.site_energy[i] - b.site_energy[i]));
    d.magmom = std::max(d.magmom, std::abs(a.magmom[i] - b.magmom[i]));
    if (!a.forces.empty() && !b.forces.empty())
      for (std::size_t k = 0; k < 3; ++k) d.force = std::max(d.force, std::abs(a.forces[i][k] - b.forces[i][k]));
  }
  d.stress = ((a.virial - b.virial) / volume).cwiseAbs().maxCoeff();
  return d;
}

/// Kernel output against CHGNet's outputs (block `o`: the float64 or the float32 run). The energy is
/// compared with the site-energy sum (the reported energy's AtomRef fractions were rounded in
/// float32 by the reference run; test_chgnet_reference.cpp has the details).
Diff against_reference(const gn::CHGNetOutput& a, const nlohmann::json& o, const double volume) {
  Diff d;
  const auto n = a.site_energy.size();
  double site_sum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    site_sum += o.at("site_energies_eV")[i].get<double>();
    d.site = std::max(d.site, std::abs(a.site_energy[i] - o.at("site_energies_eV")[i].get<double>()));
    d.magmom = std::max(d.magmom, std::abs(a.magmom[i] - o.at("magmoms_muB")[i].get<double>()));
    for (std::size_t k = 0; k < 3; ++k)
      d.force = std::max(d.force, std::abs(a.forces[i][k] - o.at("forces_eV_per_A")[i][k].get<double>()));
  }
  d.energy = std::abs(a.energy - site_sum) / double(n);
  // σ = W/V, the virial ∂E/∂ε over the volume (compute_result.hpp: ASE's sign).
  for (int p = 0; p < 3; ++p)
    for (int q = 0; q < 3; ++q)
      d.stress = std::max(d.stress, std::abs(a.virial(p, q) / volume - o.at("stress_GPa")[p][q].get<double>() / kGPa));
  return d;
}

}  // namespace

TEST_CASE("CHGNet kernels reproduce CHGNet's float64 outputs and the host evaluator (double)") {
  NERNST_REQUIRE_SHARED_DATA();
  Diff ref_worst, host_worst;
  for (const char* ckpt : kCheckpoints) {
    gn::CHGNetKernel<double> dev(model(ckpt));
    gn::CHGNetEvaluator<double> host(model(ckpt));
    for (const char* name : kStructures) {
      CAPTURE(std::string(ckpt));
      CAPTURE(std::string(name));
      const Inputs in = inputs(ckpt, name);
      gn::CHGNetOutput k, h;
      dev.evaluate(ES(), in.x, in.L, in.Z, in.g, in.bg, true, k);
      host.evaluate(in.x, in.L, in.Z, in.g, in.bg, true, h);
      const Diff dh = difference(k, h, in.volume);
      CHECK(dh.energy <= 1e-12);
      CHECK(dh.site <= 1e-11);
      CHECK(dh.magmom <= 1e-12);
      CHECK(dh.force <= 1e-11);
      CHECK(dh.stress <= 1e-12);
      host_worst.worst(dh);
      const Diff dr = against_reference(k, in.ref.at("float64"), in.volume);
      // The host suite's bounds against the same files (test_chgnet_reference.cpp).
      CHECK(dr.energy <= 1e-12);
      CHECK(dr.site <= 1e-8);
      CHECK(dr.magmom <= 1e-9);
      CHECK(dr.force <= 1e-8);
      CHECK(dr.stress <= 1e-9);
      ref_worst.worst(dr);
      // Energy only: the same energies.
      gn::CHGNetOutput e;
      dev.evaluate(ES(), in.x, in.L, in.Z, in.g, in.bg, false, e);
      CHECK(e.energy == k.energy);
      CHECK(e.magmom == k.magmom);
    }
  }
  MESSAGE("CHGNet kernels (double) vs CHGNet float64, worst over 16 files: dE/atom " << ref_worst.energy << " eV, dsite "
          << ref_worst.site << " eV, dmag " << ref_worst.magmom << " muB, dF " << ref_worst.force << " eV/A, dsigma "
          << ref_worst.stress << " eV/A^3; vs the host evaluator: dE/atom " << host_worst.energy << ", dF "
          << host_worst.force << ", dsigma " << host_worst.stress);
}

TEST_CASE("CHGNet kernels in float reproduce CHGNet's float32 outputs") {
  NERNST_REQUIRE_SHARED_DATA();
  Diff worst;
  for (const char* ckpt : kCheckpoints) {
    gn::CHGNetKernel<float> dev(model(ckpt));
    for (const char* name : kStructures) {
      CAPTURE(std::string(ckpt));
      CAPTURE(std::string(name));
      const Inputs in = inputs(ckpt, name);
      gn::CHGNetOutput k;
      dev.evaluate(ES(), in.x, in.L, in.Z, in.g, in.bg, true, k);
      const Diff d = against_reference(k, in.ref, in.volume);
      // The host suite's float bounds (test_chgnet_reference.cpp).
      CHECK(d.energy <= 1e-5);
      CHECK(d.force <= 1e-4);
      CHECK(d.stress <= 1e-5);
      CHECK(d.magmom <= 1e-4);
      worst.worst(d);
    }
  }
  MESSAGE("CHGNet kernels (float) vs CHGNet float32: dE/atom " << worst.energy << " eV, dF " << worst.force
          << " eV/A, dsigma " << worst.stress << " eV/A^3, dmag " << worst.magmom << " muB");
}

TEST_CASE("CHGNet kernels: a batch gives each structure what it gets alone; repeated runs give the same bits") {
  NERNST_REQUIRE_SHARED_DATA();
  const char* ckpt = kCheckpoints[0];
  gn::CHGNetKernel<double> dev(model(ckpt));
  // A structure twice, the cluster of pairs at the cutoffs (two angles, most bonds outside the bond
  // graph) and a larger one.
  std::vector<Inputs> in;
  for (const char* name : {"licl_rocksalt_prim", "cutoff_pairs_cluster", "liycl_triclinic_random10", "licl_rocksalt_prim",
                           "li3ycl6_like_ordered20"})
    in.push_back(inputs(ckpt, name));
  std::vector<gn::CHGNetKernel<double>::Structure> batch;
  for (const auto& s : in) batch.push_back({s.x, s.L, s.Z, s.g, s.bg});
  for (const bool gradients : {false, true}) {
    CAPTURE(gradients);
    std::vector<gn::CHGNetOutput> together(batch.size()), again(batch.size());
    dev.evaluate_batch(ES(), batch.data(), batch.data() + batch.size(), gradients, together.data());
    dev.evaluate_batch(ES(), batch.data(), batch.data() + batch.size(), gradients, again.data());
    for (std::size_t k = 0; k < batch.size(); ++k) {
      CAPTURE(k);
      gn::CHGNetOutput alone;
      dev.evaluate(ES(), in[k].x, in[k].L, in[k].Z, in[k].g, in[k].bg, gradients, alone);
      const Diff d = difference(together[k], alone, in[k].volume);
      const double tol = nernst::runs_on_host_v<ES> ? 1e-12 : 0.0;  // GEMM tiles span structures on the host
      CHECK(d.energy <= tol);
      CHECK(d.site <= tol);
      CHECK(d.magmom <= tol);
      CHECK(d.force <= tol);
      CHECK(d.stress <= tol);
      CHECK(again[k].energy == together[k].energy);
      CHECK(again[k].forces == together[k].forces);
      CHECK(again[k].virial == together[k].virial);
    }
  }
}

TEST_CASE("CHGNet kernels refuse bad input with clear errors") {
  NERNST_REQUIRE_SHARED_DATA();
  const char* ckpt = kCheckpoints[1];
  gn::CHGNetKernel<double> dev(model(ckpt));
  Inputs in = inputs(ckpt, "licl_rocksalt_prim");
  gn::CHGNetOutput out;
  auto Z = in.Z;
  Z[1] = 95;
  CHECK_THROWS_WITH_AS(dev.evaluate(ES(), in.x, in.L, Z, in.g, in.bg, true, out),
                       doctest::Contains("atom 1 has Z = 95"), nernst::ValueError);
  Z.pop_back();
  CHECK_THROWS_WITH_AS(dev.evaluate(ES(), in.x, in.L, Z, in.g, in.bg, true, out),
                       doctest::Contains("atomic numbers for"), nernst::ValueError);
  gn::BondGraph other;
  CHECK_THROWS_WITH_AS(dev.evaluate(ES(), in.x, in.L, in.Z, in.g, other, true, out),
                       doctest::Contains("bond graph was built for 0 edges"), nernst::ValueError);
}

TEST_CASE("Potential<GraphNet<CHGNet>> through the kernels = through the host evaluator, alone and in a batch") {
  NERNST_REQUIRE_SHARED_DATA();
  using Pot = nernst::Potential<nernst::GraphNet<nernst::CHGNet>, double>;
  const char* ckpt = kCheckpoints[0];
  nernst::ComputeRequest req;
  req.forces = req.stress = req.per_atom_energy = true;
  std::vector<nernst::System<>> systems, ref_systems;
  for (const char* name : {"liycl_triclinic_random10", "libr_prim_strained"}) {
    systems.push_back(system_from(read_json(ref_path(ckpt, name)).at("structure")));
    ref_systems.push_back(systems.back());
  }
  Pot host(model(ckpt)), dev(model(ckpt));
  host.set_kernels(false);
  dev.set_kernels(true);
  CHECK(dev.batched());
  CHECK_FALSE(host.batched());
  std::vector<nernst::System<>*> ptrs;
  for (auto& s : systems) ptrs.push_back(&s);
  const auto batch = dev.compute_batch(ptrs, req);
  for (std::size_t k = 0; k < systems.size(); ++k) {
    CAPTURE(k);
    const auto h = host.compute(ref_systems[k], req);
    const auto magmoms = host.magmoms();
    const auto d = dev.compute(ref_systems[k], req);  // alone, through the kernels
    for (const auto* r : {&d, &batch[k]}) {
      CHECK(std::abs(r->energy - h.energy) <= 1e-12 * std::abs(h.energy));
      CHECK((r->stress - h.stress).cwiseAbs().maxCoeff() <= 1e-13);
      for (std::size_t i = 0; i < h.per_atom_energy.size(); ++i)
        CHECK(std::abs(r->per_atom_energy[i] - h.per_atom_energy[i]) <= 1e-11);
    }
    for (std::size_t i = 0; i < magmoms.size(); ++i) CHECK(std::abs(dev.magmoms()[i] - magmoms[i]) <= 1e-12);
    const auto fh = host_forces(ref_systems[k]);  // the kernels' forces (dev.compute wrote them)
    host.compute(ref_systems[k], req);
    const auto f_host = host_forces(ref_systems[k]);
    const auto f_batch = host_forces(systems[k]);
    for (std::size_t i = 0; i < f_host.size(); ++i)
      for (std::size_t c = 0; c < 3; ++c) {
        CHECK(std::abs(f_batch[i][c] - f_host[i][c]) <= 1e-11);
        CHECK(std::abs(fh[i][c] - f_host[i][c]) <= 1e-11);
      }
  }
}
