// TensorNet-MatPES (PBE and r2SCAN, v2025.1), native: the loader, the PBE model against matgl's
// float64 and float32 outputs and the worked example's intermediates (../shared), the r2SCAN
// model (no reference outputs) by finite differences and invariances, and bad input.
#include "tensornet_test_util.hpp"

#include <nernst/core/error.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

using namespace tensornet_test;

TEST_CASE("TensorNet-MatPES loads: 128 channels, 2 layers, 3 smooth radial functions, state.pt references") {
  NERNST_REQUIRE_SHARED_DATA();
  for (const std::string fn : {"pbe", "r2scan"}) {
    CAPTURE(fn);
    const auto& m = model(fn);
    CHECK(m.config.units == 128);
    CHECK(m.config.nblocks == 2);
    CHECK(m.config.max_n == 3);
    CHECK(m.config.cutoff == 5.0);
    CHECK(m.config.element_types.size() == 89);
    CHECK(m.config.element_refs.size() == 89);
    CHECK(m.weights.layers.size() == 2);
    CHECK(m.weights.pair_embedding.in_features() == 256);
    CHECK(m.weights.readout.out_features() == 1);
    // data_std is the float32 value of state.pt (spec §1).
    CHECK(m.config.data_std == static_cast<double>(static_cast<float>(m.config.data_std)));
  }
  CHECK(model("pbe").config.data_std == 3.1115448474884033);
  CHECK(model("r2scan").config.data_std == 3.187901496887207);
}

TEST_CASE("TensorNet-MatPES-PBE double precision matches matgl float64 on all reference structures") {
  NERNST_REQUIRE_SHARED_DATA();
  Diff worst;
  for (const char* name : kReferences) {
    CAPTURE(name);
    const Diff d = compare_with_reference<double>(name, "outputs_float64", true);
    std::printf("  TensorNet double %-32s |dE| %.2e eV  max|dF| %.2e eV/A  max|dS| %.2e GPa  max|dE_i| %.2e eV\n", name,
                d.de, d.df, d.ds_gpa, d.dae);
    // The spec's suggested acceptance (§12); the task asks for 1e-6.
    CHECK(d.de <= 1e-8);
    CHECK(d.df <= 1e-8);
    CHECK(d.ds_gpa <= 1e-7);
    CHECK(d.dae <= 1e-8);
    worst.de = std::max(worst.de, d.de);
    worst.df = std::max(worst.df, d.df);
    worst.ds_gpa = std::max(worst.ds_gpa, d.ds_gpa);
    worst.dae = std::max(worst.dae, d.dae);
  }
  MESSAGE("TensorNet-PBE double vs matgl float64: max |dE| " << worst.de << " eV, max |dF| " << worst.df
                                                             << " eV/A, max |dS| " << worst.ds_gpa << " GPa, per-atom "
                                                             << worst.dae << " eV");
}

TEST_CASE("TensorNet-MatPES (PBE, r2SCAN): forces and stress equal finite differences of the energy") {
  NERNST_REQUIRE_SHARED_DATA();
  std::vector<std::pair<std::string, Cell>> cells;
  for (const char* n : {"li_y_cl_triclinic_rattled", "near_cutoff_cluster"}) cells.emplace_back(n, reference_cell(n));
  {
    Cell c = reference_cell("licl_conv8_rattled");
    m3gnet_test::rattle(c, 0.1, 11);
    cells.emplace_back("licl_conv8 re-rattled", c);
  }
  for (const std::string fn : {"r2scan", "pbe"})
    for (const auto& [name, c] : cells) {
      CAPTURE(fn);
      CAPTURE(name);
      const FdErr e = finite_difference_check(model(fn), c);
      MESSAGE(fn << " " << name << ": max|F_fd - F| " << e.force << " eV/A (|F| up to " << e.fmax
                 << "), max|s_fd - s| " << e.stress << " eV/A^3 (|s| up to " << e.smax << ")");
      CHECK(e.force < 2e-8);
      CHECK(e.stress < 1e-9);
    }
}
