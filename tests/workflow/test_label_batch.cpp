// Batched labelling (workflow::label_batch_with_potential: `nernst label`, `nernst eval --frames all`,
// PotentialLabeler): a potential that evaluates batches together (M3GNet and CHGNet with their
// kernels: compute_batch) labels every frame as one-at-a-time labelling by the host evaluator does;
// a potential without batch evaluation (rigid ion) labels them one by one, bit for bit.
#include "../test_support.hpp"
#include "workflow_test_support.hpp"

#include <nernst/potential/graphnet/chgnet.hpp>
#include <nernst/potential/graphnet/m3gnet.hpp>
#include <nernst/potential/rigid_ion.hpp>
#include <nernst/workflow/labeler.hpp>

#include <random>
#include <vector>

using namespace nernst;

namespace {

/// Three LiCl frames of two sizes: the 8-atom cell strained and rattled, and a 16-atom supercell.
std::vector<Structure> frames() {
  std::mt19937 rng(5);
  std::normal_distribution<double> N(0.0, 0.01);
  std::vector<Structure> out{workflow_test::licl_rock_salt(5.2), workflow_test::licl_rock_salt(5.35)};
  Structure big(Lattice(Eigen::DiagonalMatrix<double, 3>(10.5, 5.25, 5.25).toDenseMatrix()));
  const Structure unit = workflow_test::licl_rock_salt(5.25);
  for (const auto& s : unit.sites())
    for (int k = 0; k < 2; ++k) big.add_site(s.species.front().z, Eigen::Vector3d((s.frac(0) + k) / 2, s.frac(1), s.frac(2)));
  out.push_back(big);
  for (auto& s : out)
    for (auto& site : s.sites())
      for (int c = 0; c < 3; ++c) site.frac(c) += N(rng);
  return out;
}

/// Batched labels against one-at-a-time labels of a reference potential.
template <class Pot, class Ref>
void check_against(Pot& batched, Ref& ref, const double tol) {
  const auto s = frames();
  const auto labels = workflow::label_batch_with_potential(batched, s.data(), s.data() + s.size());
  REQUIRE(labels.size() == s.size());
  for (std::size_t k = 0; k < s.size(); ++k) {
    CAPTURE(k);
    const io::Frame one = workflow::label_with_potential(ref, s[k]);
    REQUIRE(labels[k].forces.size() == s[k].size());
    CHECK(std::abs(*labels[k].energy - *one.energy) <= tol * std::abs(*one.energy));
    CHECK((*labels[k].stress - *one.stress).cwiseAbs().maxCoeff() <= tol);
    for (std::size_t i = 0; i < one.forces.size(); ++i) CHECK((labels[k].forces[i] - one.forces[i]).cwiseAbs().maxCoeff() <= tol);
    CHECK(labels[k].structure.size() == s[k].size());
  }
}

}  // namespace

TEST_CASE("batched labelling: M3GNet and CHGNet through compute_batch = one frame at a time on the host") {
  NERNST_REQUIRE_SHARED_DATA();
  {
    const auto m = M3GNet::load((nernst_test::shared_dir() / "models" / "m3gnet-mp-2021.2.8-pes").string());
    Potential<GraphNet<M3GNet>, double> batched(m), host(m);
    batched.set_kernels(true);
    host.set_kernels(false);
    REQUIRE(batched.batched());
    check_against(batched, host, 1e-10);
  }
  {
    const auto m = CHGNet::load(
        (nernst_test::shared_dir() / "models" / "chgnet-random" / "chgnet_0.3.0_random_seed0.pth.tar").string());
    Potential<GraphNet<CHGNet>, double> batched(m), host(m);
    batched.set_kernels(true);
    host.set_kernels(false);
    REQUIRE(batched.batched());
    check_against(batched, host, 1e-10);
  }
}

TEST_CASE("batched labelling: a potential without batch evaluation labels frame by frame, bit for bit") {
  auto pot = make_rigid_ion<>();
  static_assert(!has_batch_compute<decltype(pot)>::value);
  check_against(pot, pot, 0.0);
  // PotentialLabeler: the same frames in batches of kLabelBatch.
  auto labeler = workflow::make_potential_labeler([] { return make_rigid_ion<>(); }, "rigid-ion");
  const auto s = frames();
  const auto out = labeler.label(s, std::filesystem::temp_directory_path());
  REQUIRE(out.frames.size() == s.size());
  CHECK(out.pending.empty());
  for (std::size_t k = 0; k < s.size(); ++k) CHECK(*out.frames[k].energy == *workflow::label_with_potential(pot, s[k]).energy);
}
