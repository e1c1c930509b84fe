// M3GNet against the real matgl outputs in ../shared/reference/m3gnet (float64 and float32 runs),
// the pymatgen edge order, and the Bessel root table.
#include "m3gnet_test_util.hpp"

#include <nernst/potential/graphnet/m3gnet.hpp>

#include <cmath>
#include <cstdio>

using namespace m3gnet_test;
using nernst::GraphNet;
using nernst::M3GNet;
using nernst::Potential;

namespace {

template <class Scalar>
Diff compare(const std::string& name, const char* key, bool per_atom) {
  return compare_with_reference<Scalar>(model(), ref_dir(), name, key, per_atom);
}

}  // namespace

TEST_CASE("M3GNet spherical Bessel roots match matgl's table") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto j = read_json(model_dir() / "weights.json");
  const auto z = nernst::graphnet::spherical_bessel_roots_3x3();
  for (int l = 0; l < 3; ++l)
    for (int n = 0; n < 3; ++n) {
      const double ref = j.at("constants").at("spherical_bessel_roots_lxn")[l][n].get<double>();
      CHECK(std::abs(z[l][n] - ref) <= 1e-13 * ref);
    }
}

TEST_CASE("M3GNet graph reproduces pymatgen's edge list and order") {
  NERNST_REQUIRE_SHARED_DATA();
  for (const char* name : kReferences) {
    CAPTURE(name);
    const auto j = read_json(ref_dir() / (std::string(name) + ".json"));
    auto sys = system_from(j.at("structure"));
    std::vector<std::array<double, 3>> x(sys.size());
    auto hx = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), sys.x);
    for (std::size_t i = 0; i < sys.size(); ++i) x[i] = {hx(i, 0), hx(i, 1), hx(i, 2)};
    nernst::graphnet::PeriodicGraph g;
    nernst::graphnet::build_pymatgen_graph(x, sys.cell.matrix(), 5.0, g);
    const auto& ge = j.at("graph").at("edges");
    REQUIRE(g.size() == ge.at("src").size());
    std::size_t mismatch = 0;
    double dmax = 0;
    for (std::size_t e = 0; e < g.size(); ++e) {
      bool ok = g.src[e] == ge.at("src")[e].get<int>() && g.dst[e] == ge.at("dst")[e].get<int>();
      for (int k = 0; k < 3; ++k) ok = ok && g.image[e][static_cast<std::size_t>(k)] == ge.at("image")[e][k].get<int>();
      mismatch += ok ? 0 : 1;
      dmax = std::max(dmax, std::abs(g.distance[e] - ge.at("distance_A")[e].get<double>()));
    }
    CHECK(mismatch == 0);
    CHECK(dmax < 1e-12);
    // Three-body counts.
    Potential<GraphNet<M3GNet>, double> pot(model());
    pot.compute(sys, {false, false, false});
    CHECK(pot.triplets().size() == j.at("graph").at("n_triplets").get<std::size_t>());
  }
}

TEST_CASE("M3GNet double precision matches matgl float64 on all reference structures") {
  NERNST_REQUIRE_SHARED_DATA();
  check_double_against_matgl(model(), ref_dir(), 1e-6, "MP-2021");
}

TEST_CASE("M3GNet float precision matches matgl float32 within its noise") {
  NERNST_REQUIRE_SHARED_DATA();
  for (const char* name : kReferences) {
    CAPTURE(name);
    const auto j = read_json(ref_dir() / (std::string(name) + ".json"));
    const double e_ref = j.at("outputs").at("energy_eV").get<double>();
    const Diff d = compare<float>(name, "outputs", false);
    std::printf("  float  %-32s |dE| %.2e eV  max|dF| %.2e eV/A  max|dS| %.2e GPa\n", name, d.de, d.df, d.ds_gpa);
    // README: the float32 reference is good to about 1e-7 |E| + 1e-5 eV (forces up to 1.3e-5 eV/A).
    CHECK(d.de <= 1e-7 * std::abs(e_ref) + 1e-5);
    CHECK(d.df <= 5e-5);
    CHECK(d.ds_gpa <= 1e-3);
  }
}

TEST_CASE("M3GNet::load reads state.pt; every tensor equals the weights.json dump") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto sd = nernst::io::load_state_dict((model_dir() / "state.pt").string());
  const auto js = nernst::graphnet::read_weights_json_state_dict((model_dir() / "weights.json").string());
  CHECK(sd.size() == 115);
  CHECK(sd.size() == js.size());
  for (const auto& entry : js) {  // no structured binding: doctest's INFO/CAPTURE capture it (nvcc refuses)
    const auto& key = entry.first;
    const auto& t = entry.second;
    CAPTURE(key);
    auto it = sd.find(key);
    REQUIRE(it != sd.end());
    CHECK(it->second.shape == t.shape);
    CHECK(it->second.values == t.values);  // bit-exact: both are the stored float32 values
  }
  const auto& m = model();
  CHECK(m.config.element_types.size() == 89);
  CHECK(m.config.data_std == doctest::Approx(4.586133480072021).epsilon(1e-12));
  CHECK(m.config.element_refs.size() == 89);
  // Clear errors for bad model directories.
  CHECK_THROWS_AS(nernst::M3GNet::load("/nonexistent/model"), nernst::IOError);
}
