// The graph networks on host threads (nn::RowChunks): threaded = one thread to rounding (1e-12
// relative in double), bitwise identical from run to run at a fixed thread count; the chunking
// itself (balanced, key-aligned, exceptions propagated). CI runs this module with 2 threads
// (test `graphnet`) and with 1 (`graphnet_1thread`).
#include "chgnet_test_util.hpp"
#include "m3gnet_test_util.hpp"
#include "tensornet_test_util.hpp"

#include <nernst/nn/row_chunks.hpp>

#include <algorithm>
#include <stdexcept>

using namespace m3gnet_test;

namespace {

struct Result {
  double energy = 0;
  std::vector<std::array<double, 3>> forces;
  std::array<double, 6> stress{};
};

/// Energy, forces and stress of `sys` with the graph networks limited to `threads` (0: all).
template <class Pot>
Result evaluate(Pot& pot, nernst::System<>& sys, int threads) {
  nernst::nn::set_host_thread_limit(threads);
  nernst::ComputeRequest req;
  req.forces = req.stress = true;
  const auto r = pot.compute(sys, req);
  nernst::nn::set_host_thread_limit(0);
  Result out;
  out.energy = r.energy;
  out.forces = graphnet_test::host_forces(sys);
  out.stress = r.voigt();
  return out;
}

double max_force_diff(const Result& a, const Result& b) {
  double d = 0;
  for (std::size_t i = 0; i < a.forces.size(); ++i)
    for (int k = 0; k < 3; ++k) d = std::max(d, std::abs(a.forces[i][static_cast<std::size_t>(k)] - b.forces[i][static_cast<std::size_t>(k)]));
  return d;
}

}  // namespace

TEST_CASE("RowChunks: balanced contiguous chunks, boundaries on key changes, minimum chunk size") {
  nernst::nn::RowChunks c;
  c.split(1000, 4, 10);
  REQUIRE(c.size() == 4);
  CHECK(c.begin(0) == 0);
  CHECK(c.end(3) == 1000);
  for (int i = 0; i < 4; ++i) CHECK(c.end(i) - c.begin(i) == 250);
  c.split(100, 8, 64);  // too few rows for more than one chunk of 64
  CHECK(c.size() == 1);
  c.split(0, 4, 1);
  CHECK(c.size() == 1);
  CHECK(c.end(0) == 0);
  // Keys 0,0,0,1,1,1,1,1,2,2: a boundary at 5 moves to 8 (where key 1 ends).
  const int key[10] = {0, 0, 0, 1, 1, 1, 1, 1, 2, 2};
  c.split_on_key(key, 10, 2, 1);
  REQUIRE(c.size() == 2);
  CHECK(c.end(0) == 8);
  CHECK(c.begin(1) == 8);
  for (int i = 0; i < c.size(); ++i)
    if (c.begin(i) > 0 && c.begin(i) < 10) CHECK(key[c.begin(i)] != key[c.begin(i) - 1]);
}

TEST_CASE("RowChunks: every row visited once; an exception in a chunk reaches the caller") {
  nernst::nn::RowChunks c;
  c.split(10000, std::max(2, nernst::nn::host_threads()), 16);
  std::vector<int> seen(10000, 0);
  c.run([&](int, Eigen::Index r0, Eigen::Index r1) {
    for (Eigen::Index r = r0; r < r1; ++r) ++seen[static_cast<std::size_t>(r)];
  });
  CHECK(std::all_of(seen.begin(), seen.end(), [](int v) { return v == 1; }));
  CHECK_THROWS_WITH_AS(c.run([&](int chunk, Eigen::Index, Eigen::Index) {
    if (chunk == c.size() - 1) throw nernst::ValueError("chunk failed");
  }),
                       "chunk failed", nernst::ValueError);
}

TEST_CASE("Graph construction on host threads: the same edges, in the same order, as on one thread") {
  NERNST_REQUIRE_SHARED_DATA();
  const Cell cell = reference_cell("li3ycl6_supercell_180_rattled");
  std::vector<std::array<double, 3>> x;
  for (const auto& p : cell.x) x.push_back({p[0], p[1], p[2]});
  nernst::graphnet::PeriodicGraph one, all;
  nernst::nn::set_host_thread_limit(1);
  nernst::graphnet::build_pymatgen_graph(x, cell.L, 5.0, one);
  nernst::nn::set_host_thread_limit(0);
  nernst::graphnet::build_pymatgen_graph(x, cell.L, 5.0, all);
  REQUIRE(one.size() > 1000);
  CHECK(all.src == one.src);
  CHECK(all.dst == one.dst);
  CHECK(all.image == one.image);
  CHECK(all.distance == one.distance);
}

namespace {

/// Threaded vs one thread in double: energy and forces to 1e-12 relative, stress to 1e-14
/// eV/Å³; bitwise identical when repeated at the same thread count.
template <class Pot>
void check_double_threads(Pot& pot, nernst::System<>& sys) {
  const Result one = evaluate(pot, sys, 1);
  const Result all = evaluate(pot, sys, 0);
  const Result again = evaluate(pot, sys, 0);
  CHECK(std::abs(all.energy - one.energy) <= 1e-12 * std::abs(one.energy));
  double fscale = 0;
  for (const auto& f : one.forces)
    for (double v : f) fscale = std::max(fscale, std::abs(v));
  CHECK(max_force_diff(all, one) <= 1e-12 * fscale);
  for (int k = 0; k < 6; ++k)
    CHECK(std::abs(all.stress[static_cast<std::size_t>(k)] - one.stress[static_cast<std::size_t>(k)]) <= 1e-14);
  CHECK(all.energy == again.energy);
  CHECK(max_force_diff(all, again) == 0.0);
  CHECK(all.stress == again.stress);
}

/// Threaded vs one thread in float: within float rounding; bitwise identical when repeated.
template <class Pot>
void check_float_threads(Pot& pot, nernst::System<>& sys) {
  const Result one = evaluate(pot, sys, 1);
  const Result all = evaluate(pot, sys, 0);
  const Result again = evaluate(pot, sys, 0);
  CHECK(std::abs(all.energy - one.energy) <= 1e-5 * std::abs(one.energy));
  CHECK(max_force_diff(all, one) <= 1e-3);
  CHECK(all.energy == again.energy);
  CHECK(max_force_diff(all, again) == 0.0);
}

/// The 160-atom CHGNet reference structure.
nernst::System<> chgnet_system(const char* ckpt) {
  return chgnet_test::system_from(
      chgnet_test::read_json(chgnet_test::ref_path(ckpt, "li3ycl6_like_2x2x2_rattled160")).at("structure"));
}

}  // namespace

TEST_CASE("M3GNet on host threads: equal to one thread to 1e-12, bitwise repeatable (180 atoms, both MP-2021 and MatPES)") {
  NERNST_REQUIRE_SHARED_DATA();
  auto sys = make_system(reference_cell("li3ycl6_supercell_180_rattled"));
  MESSAGE("host threads: " << nernst::nn::host_threads());
  for (const auto* m : {&model(), &matpes_model("pbe")}) {
    nernst::Potential<nernst::GraphNet<nernst::M3GNet>, double> pot(*m);
    check_double_threads(pot, sys);
  }
}

TEST_CASE("M3GNet in float on host threads: equal to one thread within float rounding, bitwise repeatable") {
  NERNST_REQUIRE_SHARED_DATA();
  auto sys = make_system(reference_cell("li3ycl6_supercell_180_rattled"));
  nernst::Potential<nernst::GraphNet<nernst::M3GNet>, float> pot(model());
  check_float_threads(pot, sys);
}

TEST_CASE("CHGNet on host threads: equal to one thread to 1e-12, bitwise repeatable (160 atoms, both checkpoints)") {
  NERNST_REQUIRE_SHARED_DATA();
  for (const char* ckpt : chgnet_test::kCheckpoints) {
    CAPTURE(std::string(ckpt));
    auto sys = chgnet_system(ckpt);
    nernst::Potential<nernst::GraphNet<nernst::CHGNet>, double> pot(chgnet_test::model(ckpt));
    check_double_threads(pot, sys);
  }
}

TEST_CASE("CHGNet in float on host threads: equal to one thread within float rounding, bitwise repeatable") {
  NERNST_REQUIRE_SHARED_DATA();
  auto sys = chgnet_system(chgnet_test::kCheckpoints[0]);
  nernst::Potential<nernst::GraphNet<nernst::CHGNet>, float> pot(chgnet_test::model(chgnet_test::kCheckpoints[0]));
  check_float_threads(pot, sys);
}

TEST_CASE("TensorNet on host threads: equal to one thread to 1e-12, bitwise repeatable (180 atoms, MatPES-PBE)") {
  NERNST_REQUIRE_SHARED_DATA();
  auto sys = make_system(reference_cell("li3ycl6_supercell_180_rattled"));
  MESSAGE("host threads: " << nernst::nn::host_threads());
  nernst::Potential<nernst::GraphNet<nernst::TensorNet>, double> pot(tensornet_test::model("pbe"));
  check_double_threads(pot, sys);
}

TEST_CASE("TensorNet in float on host threads: equal to one thread within float rounding, bitwise repeatable") {
  NERNST_REQUIRE_SHARED_DATA();
  auto sys = make_system(reference_cell("li3ycl6_supercell_180_rattled"));
  nernst::Potential<nernst::GraphNet<nernst::TensorNet>, float> pot(tensornet_test::model("pbe"));
  check_float_threads(pot, sys);
}

TEST_CASE("TensorNet with the edge-MLP activations recomputed on host threads: the same result as kept") {
  NERNST_REQUIRE_SHARED_DATA();
  auto sys = make_system(reference_cell("li3ycl6_supercell_180_rattled"));
  nernst::Potential<nernst::GraphNet<nernst::TensorNet>, double> kept(tensornet_test::model("pbe"));
  nernst::Potential<nernst::GraphNet<nernst::TensorNet>, double> recomputed(tensornet_test::model("pbe"));
  recomputed.set_activation_budget(0);
  const Result a = evaluate(kept, sys, 0);
  const Result b = evaluate(recomputed, sys, 0);
  CHECK(a.energy == b.energy);
  CHECK(max_force_diff(a, b) == 0.0);
  CHECK(a.stress == b.stress);
  check_double_threads(recomputed, sys);
}
