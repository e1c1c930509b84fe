// TensorNet-MatPES (PBE and r2SCAN, v2025.1), native: the loader, the PBE model against matgl's
// float64 and float32 outputs and the worked example's intermediates (../shared), the r2SCAN
// model (no reference outputs) by finite differences and invariances, and bad input.
#include "tensornet_test_util.hpp"

#include <nernst/core/elements.hpp>
#include <nernst/core/error.hpp>
#include <nernst/md/md.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

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
  // r2SCAN (no reference outputs) on all cells; PBE (checked against matgl above) on one.
  for (const std::string fn : {"r2scan", "pbe"})
    for (const auto& entry : cells) {  // no structured binding: doctest's INFO/CAPTURE capture it (nvcc refuses)
      const auto& name = entry.first;
      const auto& c = entry.second;
      if (fn == "pbe" && name != "li_y_cl_triclinic_rattled") continue;
      CAPTURE(fn);
      CAPTURE(name);
      const FdErr e = finite_difference_check(model(fn), c);
      MESSAGE(fn << " " << name << ": max|F_fd - F| " << e.force << " eV/A (|F| up to " << e.fmax
                 << "), max|s_fd - s| " << e.stress << " eV/A^3 (|s| up to " << e.smax << ")");
      CHECK(e.force < 2e-8);
      CHECK(e.stress < 1e-9);
    }
}

TEST_CASE("TensorNet-MatPES-PBE float precision matches matgl float32 within its float32 noise") {
  NERNST_REQUIRE_SHARED_DATA();
  // The reference files record matgl's own float32 - float64 gap per structure. Our float run
  // and matgl's are two independent roundings of the same float64 result, each about one gap
  // away from it, so they may differ from each other by up to about twice the gap. The recorded
  // gap is a single sample of that noise (it can be small by luck), so a floor is added: each
  // atom's energy carries a few float32 ulps of its ~1-3 eV (measured up to ~1e-6 eV per atom,
  // random in sign, so ~1e-6·sqrt(N) eV in total), forces and stress a few ulps of their size.
  for (const std::string name : kReferences) {
    CAPTURE(name);
    const auto j = read_json(ref_dir() / (name + ".json"));
    const auto& gap = j.at("consistency").at("max_abs_float32_minus_float64");
    const double ge = gap.at("energy_eV").get<double>(), gf = gap.at("forces_eV_per_A").get<double>(),
                 gs = gap.at("stress_GPa").get<double>();
    const double natoms = static_cast<double>(j.at("structure").at("species").size());
    const double tol_e = 2 * ge + 3e-6 * std::sqrt(natoms), tol_f = 2 * gf + 2e-6, tol_s = 2 * gs + 1e-5;
    for (const std::string key : {"outputs", "outputs_float64"}) {
      CAPTURE(key);
      const Diff d = compare_with_reference<float>(name, key.c_str(), false);
      std::printf("  TensorNet float %-32s vs %-15s |dE| %.2e eV  max|dF| %.2e eV/A  max|dS| %.2e GPa   (gaps %.1e %.1e %.1e)\n",
                  name.c_str(), key.c_str(), d.de, d.df, d.ds_gpa, ge, gf, gs);
      CHECK(d.de <= tol_e);
      CHECK(d.df <= tol_f);
      CHECK(d.ds_gpa <= tol_s);
    }
  }
}

TEST_CASE("TensorNet-MatPES-PBE double reproduces matgl's intermediates of the worked example") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto wj = read_json(worked_example_path());
  for (const std::string name : {"li_y_cl_triclinic_rattled", "libr_rocksalt_prim"}) {
    CAPTURE(name);
    const auto& ex = wj.at("examples").at(name);
    auto sys = m3gnet_test::system_from(ex.at("structure"));
    TensorNetPotential<double> pot(model("pbe"));
    const auto r = pot.compute(sys, {true, true, false});
    const auto& ev = pot.evaluator();
    // Node tensors of atom 0 after the embedding and after each layer: [128][3][3] in the file,
    // row 3a + b, column c of the evaluator's node stack.
    const auto stack_error = [](const nlohmann::json& ref, const nernst::nn::RowMatrix<double>& X) {
      double err = 0, scale = 0;
      for (int c = 0; c < 128; ++c)
        for (int a = 0; a < 3; ++a)
          for (int b = 0; b < 3; ++b) {
            const double v = ref[c][a][b].get<double>();
            err = std::max(err, std::abs(X(3 * a + b, c) - v));
            scale = std::max(scale, std::abs(v));
          }
      return err / scale;
    };
    const double e_emb = stack_error(ex.at("embedding").at("X_atom0"), ev.node_tensors(0));
    const double e_l0 = stack_error(ex.at("layer0").at("X_out_atom0"), ev.node_tensors(1));
    const double e_l1 = stack_error(ex.at("layer1").at("X_out_atom0"), ev.node_tensors(2));
    double e_eps = 0;
    const auto eps = ev.atom_outputs();
    for (std::size_t i = 0; i < sys.size(); ++i)
      e_eps = std::max(e_eps, std::abs(eps(static_cast<Eigen::Index>(i), 0) - ex.at("output").at("eps")[i].get<double>()));
    MESSAGE(name << ": relative max error of X(atom 0) after embedding " << e_emb << ", layer 0 " << e_l0
                 << ", layer 1 " << e_l1 << "; max |eps - eps_ref| " << e_eps);
    CHECK(e_emb < 1e-12);
    CHECK(e_l0 < 1e-12);
    CHECK(e_l1 < 1e-12);
    CHECK(e_eps < 1e-12);
    CHECK(std::abs(r.energy - ex.at("output").at("energy_eV").get<double>()) < 1e-10);
  }
}

TEST_CASE("TensorNet-MatPES-r2SCAN invariances: permutation, rotation, translation, supercell") {
  NERNST_REQUIRE_SHARED_DATA();
  TensorNetPotential<double> pot(model("r2scan"));
  nernst::ComputeRequest req;
  req.forces = req.stress = true;
  const Cell c = reference_cell("li_y_cl_triclinic_rattled");
  auto s0 = make_system(c);
  const auto r0 = pot.compute(s0, req);
  const auto f0 = host_forces(s0);
  REQUIRE(std::isfinite(r0.energy));

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
    CHECK((r.stress - r0.stress).cwiseAbs().maxCoeff() < 1e-12);
  }
  SUBCASE("rigid rotation rotates forces and stress") {
    const Eigen::Matrix3d R = Eigen::AngleAxisd(0.7, Eigen::Vector3d(1, 2, 3).normalized()).toRotationMatrix();
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
  SUBCASE("mirror image (O(3) model): same energy") {
    Cell q = c;
    const Eigen::Matrix3d P = Eigen::Vector3d(-1, 1, 1).asDiagonal();
    q.L = c.L * P;
    for (auto& x : q.x) x = P * x;
    auto s = make_system(q);
    CHECK(pot.compute(s, req).energy == doctest::Approx(r0.energy).epsilon(1e-12));
  }
  SUBCASE("translation") {
    Cell q = c;
    for (auto& x : q.x) x += Eigen::Vector3d(0.37, -1.21, 2.05);
    auto s = make_system(q);
    const auto r = pot.compute(s, req);
    const auto f = host_forces(s);
    CHECK(r.energy == doctest::Approx(r0.energy).epsilon(1e-12));
    for (std::size_t i = 0; i < c.x.size(); ++i)
      for (int k = 0; k < 3; ++k) CHECK(std::abs(f[i][k] - f0[i][k]) < 1e-10);
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
    const auto f = host_forces(s);
    CHECK(r.energy == doctest::Approx(2 * r0.energy).epsilon(1e-11));
    CHECK((r.stress - r0.stress).cwiseAbs().maxCoeff() < 1e-10);
    for (std::size_t i = 0; i < c.x.size(); ++i)
      for (int k = 0; k < 3; ++k) CHECK(std::abs(f[i + c.x.size()][k] - f0[i][k]) < 1e-10);
  }
}

TEST_CASE("TensorNet: an atom without neighbours gets matgl's energy (spec section 14), zero force and stress") {
  NERNST_REQUIRE_SHARED_DATA();
  // One Li in a 12 Å cubic cell: no edge within 5 Å, so Ī = Ā = S̄ = 0 and the LayerNorm of the
  // zero vector gives β. matgl: E = −0.91066792947972 eV (PBE, float64).
  Cell c;
  c.L = 12.0 * Eigen::Matrix3d::Identity();
  c.x = {Eigen::Vector3d(1.0, 2.0, 3.0)};
  c.z = {3};
  auto sys = make_system(c);
  TensorNetPotential<double> pot(model("pbe"));
  const auto r = pot.compute(sys, {true, true, false});
  CHECK(pot.graph().size() == 0);
  CHECK(std::abs(r.energy - (-0.91066792947972)) < 1e-12);
  const auto f = host_forces(sys);
  for (int k = 0; k < 3; ++k) CHECK(f[0][k] == 0.0);
  CHECK(r.stress.cwiseAbs().maxCoeff() == 0.0);
}

TEST_CASE("TensorNet float and double: the same workspace serves structures of different sizes") {
  NERNST_REQUIRE_SHARED_DATA();
  TensorNetPotential<float> pf(model("pbe"));
  TensorNetPotential<double> pd(model("pbe"));
  nernst::ComputeRequest req;
  req.forces = req.stress = true;
  // Large, small, large again: a reused (grown) workspace must give the fresh results.
  for (const char* name : {"li3ycl6_ordered_40", "licl_rocksalt_prim", "li3ycl6_ordered_40"}) {
    CAPTURE(name);
    const Cell c = reference_cell(name);
    auto s1 = make_system(c), s2 = make_system(c), s3 = make_system(c);
    TensorNetPotential<double> fresh(model("pbe"));
    const double e_fresh = fresh.compute(s1, req).energy;
    CHECK(pd.compute(s2, req).energy == e_fresh);
    CHECK(std::abs(pf.compute(s3, req).energy - e_fresh) < 1e-7 * std::abs(e_fresh) + 1e-4);
  }
}

TEST_CASE("TensorNet: recomputing the edge MLPs in the reverse pass (no activation budget) changes nothing") {
  NERNST_REQUIRE_SHARED_DATA();
  TensorNetPotential<double> kept(model("r2scan")), recomputed(model("r2scan"));
  recomputed.set_activation_budget(0);
  nernst::ComputeRequest req;
  req.forces = req.stress = true;
  const Cell c = reference_cell("li3ycl6_ordered_40");
  auto s1 = make_system(c), s2 = make_system(c);
  const auto r1 = kept.compute(s1, req);
  const auto r2 = recomputed.compute(s2, req);
  CHECK(r1.energy == r2.energy);
  CHECK(r1.stress == r2.stress);
  CHECK(host_forces(s1) == host_forces(s2));
}

static_assert(nernst::is_potential_v<TensorNetPotential<double>> && nernst::is_potential_v<TensorNetPotential<float>>,
              "Potential<GraphNet<TensorNet>> models the potential concept");

TEST_CASE("TensorNet drives MD: NVE energy error is small and scales as dt^2") {
  NERNST_REQUIRE_SHARED_DATA();
  TensorNetPotential<double> pot(model("r2scan"));
  const Cell c = reference_cell("li_y_cl_triclinic_rattled");
  // Largest |E_tot - E_tot(0)| over 10 fs of NVE from the same start, time step dt (fs).
  const auto fluctuation = [&](double dt) {
    auto sys = make_system(c);
    auto hm = Kokkos::create_mirror_view(sys.mass);
    for (std::size_t i = 0; i < c.z.size(); ++i) hm(i) = nernst::atomic_mass(c.z[i]);
    Kokkos::deep_copy(sys.mass, hm);
    nernst::md::maxwell_boltzmann(sys, 300.0, 7);
    nernst::md::SimulationOptions opt;
    opt.timestep = dt;
    using NVE = nernst::md::Ensemble<nernst::md::NVE>;
    nernst::md::Simulation<NVE, TensorNetPotential<double>> sim(sys, pot, NVE{}, opt);
    sim.run(0);
    const double e0 = sim.conserved();
    double worst = 0;
    const long n = std::lround(10.0 / dt);
    for (long k = 0; k < n; ++k) {
      sim.run(1);
      worst = std::max(worst, std::abs(sim.conserved() - e0));
    }
    CHECK(std::isfinite(sim.sample().potential));
    return worst;
  };
  const double f1 = fluctuation(0.5), f2 = fluctuation(0.25);
  MESSAGE("NVE over 10 fs: max |E_tot - E_tot(0)| " << f1 << " eV at 0.5 fs, " << f2 << " eV at 0.25 fs (ratio "
                                                    << f1 / f2 << ", dt^2 gives 4)");
  CHECK(f1 < 5e-3);
  CHECK(f1 / f2 > 3.5);
  CHECK(f1 / f2 < 4.5);
}

TEST_CASE("TensorNet parameter gradients of the energy equal finite differences, tensor by tensor") {
  NERNST_REQUIRE_SHARED_DATA();
  using nernst::graphnet::TensorNetEvaluator;
  using nernst::graphnet::TensorNetModel;
  const TensorNetModel& m = model("r2scan");
  const Cell c = reference_cell("li_y_cl_triclinic_rattled");
  std::vector<std::array<double, 3>> x;
  std::vector<int> types;
  for (std::size_t i = 0; i < c.x.size(); ++i) {
    x.push_back({c.x[i][0], c.x[i][1], c.x[i][2]});
    types.push_back(m.config.type_of(c.z[i]));
  }
  nernst::graphnet::PeriodicGraph g;
  nernst::graphnet::build_pymatgen_graph(x, c.L, m.config.cutoff, g);
  TensorNetModel mm = m;  // perturbed in place, one tensor at a time
  TensorNetEvaluator<double> ev_shifted;
  const auto energy = [&]() {
    ev_shifted.set_model(mm);
    nernst::graphnet::TensorNetOutput o;
    ev_shifted.evaluate(x, c.L, types, g, false, o);
    return o.energy;
  };
  TensorNetEvaluator<double> ev(m);
  nernst::graphnet::TensorNetOutput out;
  ev.evaluate(x, c.L, types, g, true, out);
  auto grad = nernst::graphnet::zero_tensornet_gradients<double>(m.weights);
  ev.accumulate_parameter_gradients(g, grad);
  std::map<std::string, std::pair<const double*, std::int64_t>> grads;
  nernst::graphnet::visit_tensornet_parameters(grad, [&](const std::string& n, double* d, const std::vector<std::int64_t>& s) {
    std::int64_t k = 1;
    for (auto v : s) k *= v;
    grads[n] = {d, k};
  });
  // The 67 state.pt tensors less data_mean, data_std, the basis cutoff and the two element_refs buffers.
  CHECK(grads.size() == 62);
  std::mt19937 rng(3);
  std::normal_distribution<double> N01;
  double worst = 0;
  std::string worst_name;
  for (const auto& entry : grads) {  // no structured binding: doctest's INFO/CAPTURE capture it (nvcc refuses)
    const auto& name = entry.first;
    const auto& gd = entry.second;
    CAPTURE(name);
    // A random unit direction in this tensor; E(θ ± hδ) by central differences.
    std::vector<double> dir(static_cast<std::size_t>(gd.second));
    double nrm = 0;
    for (auto& v : dir) {
      v = N01(rng);
      nrm += v * v;
    }
    for (auto& v : dir) v /= std::sqrt(nrm);
    double analytic = 0;
    for (std::int64_t i = 0; i < gd.second; ++i) analytic += gd.first[i] * dir[static_cast<std::size_t>(i)];
    const double h = 1e-4;
    const auto shift = [&](double step) {  // θ += step·δ in this tensor
      nernst::graphnet::visit_tensornet_parameters(
          mm.weights, [&](const std::string& n, double* d, const std::vector<std::int64_t>&) {
            if (n == name)
              for (std::size_t i = 0; i < dir.size(); ++i) d[i] += step * dir[i];
          });
      nernst::graphnet::sync_tensornet_weights(mm.weights);
    };
    shift(h);
    const double ep = energy();
    shift(-2 * h);
    const double em = energy();
    shift(h);
    const double fd = (ep - em) / (2 * h);
    const double err = std::abs(fd - analytic) / (std::abs(fd) + 1e-3);
    if (err > worst) worst = err, worst_name = name;
    CHECK(err < 1e-6);
  }
  MESSAGE("dE/dtheta vs central differences along a random direction per tensor: worst relative error " << worst
                                                                                                           << " (" << worst_name << ")");
}

namespace {
/// A scratch model directory under the system temp dir, removed on destruction.
struct ScratchModelDir {
  std::filesystem::path dir;
  explicit ScratchModelDir(const std::string& tag)
      : dir(std::filesystem::temp_directory_path() / ("nernst_tensornet_test_" + tag)) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  ~ScratchModelDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  void write_json(const nlohmann::json& j) const { std::ofstream(dir / "model.json") << j.dump(); }
  void copy_state(const std::filesystem::path& from) const {
    std::filesystem::copy_file(from / "state.pt", dir / "state.pt", std::filesystem::copy_options::overwrite_existing);
  }
};

/// Runs f, expects an exception of type Ex whose message contains `needle`.
template <class Ex, class F>
void check_throws_mentioning(F&& f, const std::string& needle) {
  bool thrown = false;
  try {
    f();
  } catch (const Ex& e) {
    thrown = true;
    CAPTURE(e.what());
    CHECK(std::string(e.what()).find(needle) != std::string::npos);
  }
  CHECK(thrown);
}
}  // namespace

TEST_CASE("TensorNet refuses what it does not implement, naming the file") {
  NERNST_REQUIRE_SHARED_DATA();
  using nernst::TensorNet;
  check_throws_mentioning<nernst::IOError>([] { TensorNet::load("/nonexistent/tensornet"); }, "not a directory");
  // An M3GNet directory: the architecture is named.
  const auto m3g = nernst_test::shared_dir() / "models" / "m3gnet-matpes-pbe-v2025.1-pes";
  check_throws_mentioning<nernst::NotSupported>([&] { TensorNet::load(m3g.string()); }, "M3GNet");
  const auto good = read_json(model_dir("pbe") / "model.json");
  const auto edited = [&](const std::string& key, const nlohmann::json& value) {
    auto j = good;
    j["kwargs"]["model"]["init_args"][key] = value;
    return j;
  };
  {
    ScratchModelDir d("so3");
    d.write_json(edited("equivariance_invariance_group", "SO(3)"));
    d.copy_state(model_dir("pbe"));
    check_throws_mentioning<nernst::NotSupported>([&] { TensorNet::load(d.dir.string()); },
                                                  (d.dir / "model.json").string());
  }
  {
    ScratchModelDir d("gauss");
    d.write_json(edited("rbf_type", "Gaussian"));
    check_throws_mentioning<nernst::NotSupported>([&] { TensorNet::load(d.dir.string()); }, "rbf_type");
  }
  {
    ScratchModelDir d("dgl");
    auto j = good;
    j["kwargs"]["model"]["@module"] = "matgl.models._tensornet_dgl";
    d.write_json(j);
    check_throws_mentioning<nernst::NotSupported>([&] { TensorNet::load(d.dir.string()); }, "DGL");
  }
  {
    ScratchModelDir d("nostate");
    d.write_json(good);
    check_throws_mentioning<nernst::IOError>([&] { TensorNet::load(d.dir.string()); }, "state.pt");
  }
  {
    // Weights of another architecture: the missing tensor and the file are named.
    ScratchModelDir d("m3gstate");
    d.write_json(good);
    d.copy_state(m3g);
    check_throws_mentioning<nernst::ValueError>([&] { TensorNet::load(d.dir.string()); },
                                                (d.dir / "state.pt").string());
  }
  {
    // One more layer than the weights hold.
    ScratchModelDir d("nblocks");
    d.write_json(edited("nblocks", 3));
    d.copy_state(model_dir("pbe"));
    check_throws_mentioning<nernst::ValueError>([&] { TensorNet::load(d.dir.string()); }, "model.layers.2");
  }
}

TEST_CASE("TensorNet: an element outside the model and overlapping atoms are errors, not NaN") {
  NERNST_REQUIRE_SHARED_DATA();
  TensorNetPotential<double> pot(model("pbe"));
  Cell c = reference_cell("licl_rocksalt_prim");
  {
    Cell q = c;
    q.z[0] = 84;  // Po: not among the 89 element types
    auto s = make_system(q);
    check_throws_mentioning<nernst::ValueError>([&] { pot.compute(s, {true, true, false}); }, "Po");
  }
  {
    Cell q = c;
    q.x[1] = q.x[0];
    auto s = make_system(q);
    bool ok = false;
    try {
      const auto r = pot.compute(s, {true, true, false});
      ok = std::isfinite(r.energy);  // acceptable only if finite
    } catch (const nernst::ValueError&) {
      ok = true;
    }
    CHECK(ok);
  }
}
