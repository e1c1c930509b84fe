// CHGNet against the real CHGNet outputs in ../shared/reference/chgnet (float64 and float32 runs)
// for both random-weight checkpoints, graph counts, and the checkpoint loader.
#include "chgnet_test_util.hpp"

#include <nernst/io/checkpoint/torch_load.hpp>
#include <nernst/potential/graphnet/chgnet.hpp>

#include <cmath>
#include <cstdio>
#include <map>

using namespace chgnet_test;
using nernst::CHGNet;
using nernst::GraphNet;
using nernst::Potential;

namespace {

constexpr double kGPa = 160.21766208;  // CHGNet's eV/Å³ -> GPa factor

struct Diff {
  double de_per_atom = 0, de_site_sum = 0, de_f32_fractions = 0, df = 0, ds = 0, dm = 0, dsite = 0, dfea = 0;
};

template <class Scalar>
Diff compare(const std::string& ckpt, const std::string& name, bool float64_block) {
  const auto j = read_json(ref_path(ckpt, name));
  auto sys = system_from(j.at("structure"));
  Potential<GraphNet<CHGNet>, Scalar> pot(model(ckpt));
  nernst::ComputeRequest req;
  req.forces = req.stress = true;
  req.per_atom_energy = true;
  const auto r = pot.compute(sys, req);
  const auto& o = float64_block ? j.at("float64") : j;
  const std::size_t n = sys.size();
  Diff d;
  const double e_ref = o.at("energy_per_atom_eV").get<double>();
  d.de_per_atom = std::abs(r.energy / double(n) - e_ref);
  // The reference's float64 run formed the AtomRef composition fractions n_Z/N in float32 (then
  // widened), which moves its energy by up to 1.4e-7 eV/atom for fractions like 0.1; its site
  // energies do not have that rounding. Check both: exact against the site-energy sum, and the
  // reported energy with the same float32 fractions.
  {
    double site_sum = 0;
    for (std::size_t i = 0; i < n; ++i) site_sum += o.at("site_energies_eV")[i].get<double>();
    d.de_site_sum = std::abs(r.energy - site_sum) / double(n);
    std::map<int, int> count;
    for (const auto& z : j.at("structure").at("atomic_numbers")) ++count[z.get<int>()];
    double ref32 = 0;
    for (const auto& [z, k] : count)
      ref32 += model(ckpt).weights.atom_ref[static_cast<std::size_t>(z - 1)] *
               static_cast<double>(static_cast<float>(double(k) / double(n)));
    d.de_f32_fractions = std::abs(pot.output().model_energy / double(n) + ref32 - e_ref);
  }
  const auto f = host_forces(sys);
  for (std::size_t i = 0; i < n; ++i) {
    for (int k = 0; k < 3; ++k)
      d.df = std::max(d.df, std::abs(f[i][static_cast<std::size_t>(k)] - o.at("forces_eV_per_A")[i][k].get<double>()));
    d.dm = std::max(d.dm, std::abs(pot.magmoms()[i] - o.at("magmoms_muB")[i].get<double>()));
    d.dsite = std::max(d.dsite, std::abs(r.per_atom_energy[i] - o.at("site_energies_eV")[i].get<double>()));
    const auto& fea = pot.evaluator().atom_features_before_last_conv();
    for (Eigen::Index c = 0; c < fea.cols(); ++c)
      d.dfea = std::max(d.dfea, std::abs(double(fea(Eigen::Index(i), c)) -
                                         o.at("atom_fea_before_last_conv")[i][static_cast<std::size_t>(c)].get<double>()));
  }
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b)  // compared in eV/Å³
      d.ds = std::max(d.ds, std::abs(r.stress(a, b) - o.at("stress_GPa")[a][b].get<double>() / kGPa));
  return d;
}

}  // namespace

TEST_CASE("CHGNet loader infers the architecture from the state_dict") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto& a = model("chgnet_0.3.0_random_seed0").config;
  CHECK(a.n_parameters == 412525);
  CHECK(a.atom_fea_dim == 64);
  CHECK(a.bond_fea_dim == 64);
  CHECK(a.angle_fea_dim == 64);
  CHECK(a.num_radial == 31);
  CHECK(a.num_angular == 31);
  CHECK(a.n_conv == 4);
  CHECK(a.atom_graph_cutoff == 6.0);
  CHECK(a.bond_graph_cutoff == 3.0);
  CHECK(a.cutoff_coeff == 8);
  CHECK(a.gmlp_norm);
  CHECK(a.readout_norm);
  CHECK_FALSE(a.mlp_out_bias);
  const auto& b = model("chgnet_small_random_seed1").config;
  CHECK(b.n_parameters == 67194);
  CHECK(b.atom_fea_dim == 32);
  CHECK(b.bond_fea_dim == 24);
  CHECK(b.angle_fea_dim == 16);
  CHECK(b.num_radial == 11);
  CHECK(b.num_angular == 9);
  CHECK(b.n_conv == 3);
  CHECK(b.atom_graph_cutoff == 5.0);
  CHECK(b.cutoff_coeff == 5);
  CHECK_FALSE(b.gmlp_norm);
  CHECK_FALSE(b.readout_norm);
  CHECK(b.mlp_out_bias);
  // Hidden layers of the small model's MLPs: angle update 20 wide, readout [48, 24].
  const auto& w = model("chgnet_small_random_seed1").weights;
  CHECK(w.angle_update[0].depth() == 2);
  CHECK(w.angle_update[0].width(0) == 20);
  CHECK(w.readout.depth() == 3);
  CHECK(w.readout.layer(0).out_features() == 48);
  CHECK(w.readout.layer(1).out_features() == 24);
}

TEST_CASE("CHGNet loader refuses what it cannot reproduce, with clear errors") {
  NERNST_REQUIRE_SHARED_DATA();
  const std::string path = checkpoint_path("chgnet_small_random_seed1").string();
  const auto top = nernst::io::load_torch(path);
  const auto& m = top.at("model");
  const auto sd = nernst::io::to_state_dict(m.at("state_dict"));
  auto args = m.at("model_args");
  CHECK_NOTHROW(nernst::graphnet::load_chgnet_state_dict(sd, args, path));
  {
    auto a = args;
    a.set("non_linearity", "gelu");
    CHECK_THROWS_AS(nernst::graphnet::load_chgnet_state_dict(sd, a, path), nernst::NotSupported);
  }
  {
    auto a = args;
    a.set("mlp_first", false);
    CHECK_THROWS_AS(nernst::graphnet::load_chgnet_state_dict(sd, a, path), nernst::NotSupported);
  }
  {
    nernst::io::PickleValue a = nernst::io::PickleValue::dict();
    for (const auto& kv : args.as_dict().items)
      if (!(kv.first == nernst::io::PickleValue("atom_graph_cutoff"))) a.set(kv.first, kv.second);
    CHECK_THROWS_WITH_AS(nernst::graphnet::load_chgnet_state_dict(sd, a, path),
                         doctest::Contains("atom_graph_cutoff"), nernst::ValueError);
  }
  {
    auto s = sd;
    s["atom_conv_layers.0.norm.weight"] = s.at("site_wise.bias");  // a conv_norm the code would ignore
    CHECK_THROWS_AS(nernst::graphnet::load_chgnet_state_dict(s, args, path), nernst::NotSupported);
  }
  {
    auto s = sd;
    s.erase("bond_weights_ag.weight");
    CHECK_THROWS_WITH_AS(nernst::graphnet::load_chgnet_state_dict(s, args, path),
                         doctest::Contains("bond_weights_ag.weight"), nernst::ValueError);
  }
  // Not a CHGNet checkpoint at all (an M3GNet state.pt would be; the torch file itself is fine).
  CHECK_THROWS_AS(CHGNet::load((nernst_test::shared_dir() / "models" / "chgnet-random" / "README.md").string()),
                  nernst::Error);
}

TEST_CASE("CHGNet graph, bonds and angles match the converter's counts") {
  NERNST_REQUIRE_SHARED_DATA();
  for (const char* ckpt : kCheckpoints)
    for (const char* name : kStructures) {
      const std::string c = ckpt, s = name;
      CAPTURE(c);
      CAPTURE(s);
      const auto j = read_json(ref_path(ckpt, name));
      auto sys = system_from(j.at("structure"));
      Potential<GraphNet<CHGNet>, double> pot(model(ckpt));
      pot.compute(sys, {false, false, false});
      const auto& gr = j.at("graph");
      const auto& bg = pot.bond_graph();
      CHECK(pot.graph().size() == gr.at("n_directed_edges").get<std::size_t>());
      CHECK(bg.bonds() == gr.at("n_undirected_edges").get<std::size_t>());
      CHECK(bg.nodes() == gr.at("n_bond_graph_nodes").get<std::size_t>());
      CHECK(bg.angles() == gr.at("n_angles").get<std::size_t>());
      std::vector<char> first(bg.bonds(), 0);
      for (std::size_t t = 0; t < bg.angles(); ++t)
        first[static_cast<std::size_t>(bg.node_bond[static_cast<std::size_t>(bg.angle_node1[t])])] = 1;
      std::size_t in_angles = 0;
      for (char c : first) in_angles += c;
      CHECK(in_angles == gr.at("n_undirected_edges_in_angles").get<std::size_t>());
    }
}

TEST_CASE("CHGNet double precision reproduces CHGNet's float64 outputs") {
  NERNST_REQUIRE_SHARED_DATA();
  Diff worst;
  for (const char* ckpt : kCheckpoints)
    for (const char* name : kStructures) {
      const std::string c = ckpt, s = name;
      CAPTURE(c);
      CAPTURE(s);
      const Diff d = compare<double>(ckpt, name, true);
      CHECK(d.de_per_atom <= 2e-7);
      CHECK(d.de_site_sum <= 1e-12);
      CHECK(d.de_f32_fractions <= 1e-12);
      CHECK(d.df <= 1e-8);
      CHECK(d.ds <= 1e-9);
      CHECK(d.dm <= 1e-9);
      CHECK(d.dsite <= 1e-8);
      CHECK(d.dfea <= 1e-8);
      worst.de_per_atom = std::max(worst.de_per_atom, d.de_per_atom);
      worst.de_site_sum = std::max(worst.de_site_sum, d.de_site_sum);
      worst.de_f32_fractions = std::max(worst.de_f32_fractions, d.de_f32_fractions);
      worst.df = std::max(worst.df, d.df);
      worst.ds = std::max(worst.ds, d.ds);
      worst.dm = std::max(worst.dm, d.dm);
      worst.dsite = std::max(worst.dsite, d.dsite);
    }
  MESSAGE("double vs CHGNet float64, worst over 16 files: dE/atom " << worst.de_per_atom << " eV (vs site-energy sum "
                                                                    << worst.de_site_sum << ", with float32 fractions "
                                                                    << worst.de_f32_fractions << "), dF " << worst.df
                                                                    << " eV/A, dsigma " << worst.ds << " eV/A^3, dmag "
                                                                    << worst.dm << " muB, dsite " << worst.dsite << " eV");
}

TEST_CASE("CHGNet float precision reproduces CHGNet's float32 outputs") {
  NERNST_REQUIRE_SHARED_DATA();
  Diff worst;
  for (const char* ckpt : kCheckpoints)
    for (const char* name : kStructures) {
      const std::string c = ckpt, s = name;
      CAPTURE(c);
      CAPTURE(s);
      const Diff d = compare<float>(ckpt, name, false);
      CHECK(d.de_per_atom <= 1e-5);
      CHECK(d.df <= 1e-4);
      CHECK(d.ds <= 1e-5);  // eV/Å³ (≈ 1.6e-3 GPa)
      CHECK(d.dm <= 1e-4);
      worst.de_per_atom = std::max(worst.de_per_atom, d.de_per_atom);
      worst.df = std::max(worst.df, d.df);
      worst.ds = std::max(worst.ds, d.ds);
      worst.dm = std::max(worst.dm, d.dm);
    }
  MESSAGE("float vs CHGNet float32, worst over 16 files: dE/atom " << worst.de_per_atom << " eV, dF " << worst.df
                                                                   << " eV/A, dsigma " << worst.ds << " eV/A^3, dmag "
                                                                   << worst.dm << " muB");
}
