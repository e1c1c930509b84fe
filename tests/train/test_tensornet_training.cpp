// TensorNet training (TensorNet-MatPES-PBE): every parameter gradient of an E+F+S loss vs
// finite differences of the loss, the Dual evaluation against the double one, freezing and a
// few Trainer steps, save -> reload as a matgl directory, host-thread determinism.

#include "grad_check.hpp"
#include "save_check.hpp"
#include "train_test_util.hpp"

#include <nernst/nn/row_chunks.hpp>
#include <nernst/potential/graphnet/tensornet.hpp>
#include <nernst/train/trainer.hpp>

#include <filesystem>
#include <memory>

using namespace nernst;

namespace {

std::string tensornet_dir() {
  return (nernst_test::shared_dir() / "models" / "tensornet-matpes-pbe-v2025.1-pes").string();
}

const graphnet::TensorNetModel& tensornet_model() {
  static std::unique_ptr<graphnet::TensorNetModel> m;
  if (!m) m = std::make_unique<graphnet::TensorNetModel>(TensorNet::load(tensornet_dir()));
  return *m;
}

/// A reference structure with its model types and graph.
struct Structure {
  train::Sample s;
  std::vector<int> types;
  graphnet::PeriodicGraph g;
};

Structure structure(const char* name) {
  Structure c{train_test::reference_sample(name), {}, {}};
  for (int z : c.s.z) c.types.push_back(tensornet_model().config.type_of(z));
  graphnet::build_pymatgen_graph(c.s.x, c.s.lattice, tensornet_model().config.cutoff, c.g);
  return c;
}

/// ∂E/∂θ (values) and ∂(D_t E)/∂θ (tangents) of one Dual evaluation, flattened.
std::vector<double> dual_parameter_gradient(const graphnet::TensorNetModel& model, const train::Sample& s,
                                            const std::vector<int>& types, const graphnet::PeriodicGraph& g,
                                            const std::vector<std::array<double, 3>>& dx, double& energy) {
  using D = nn::Dual<double>;
  graphnet::TensorNetEvaluator<D> ev(model);
  ev.set_geometry_tangent(dx, Eigen::Matrix3d::Zero());
  graphnet::TensorNetOutput out;
  ev.evaluate(s.x, s.lattice, types, g, false, out);
  energy = out.energy;
  auto grad = graphnet::zero_tensornet_gradients<D>(model.weights);
  ev.accumulate_parameter_gradients(g, grad);
  std::vector<double> flat;
  graphnet::visit_tensornet_parameters(grad, [&](const std::string&, D* d, const std::vector<std::int64_t>& shape) {
    std::int64_t n = 1;
    for (auto k : shape) n *= k;
    for (std::int64_t i = 0; i < n; ++i) flat.push_back(d[i].v), flat.push_back(d[i].d);
  });
  return flat;
}

}  // namespace

TEST_CASE("TensorNet in Dual<double>: values equal the double evaluator's; the tangent is the directional derivative") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto& model = tensornet_model();
  const auto [s, types, g] = structure("li_y_cl_triclinic_rattled");
  // Tangent δx = −F/|F| (a descent direction): D_t E = Σ F·F/|F|, from the double forces.
  graphnet::TensorNetEvaluator<double> ev(model);
  graphnet::TensorNetOutput ref;
  ev.evaluate(s.x, s.lattice, types, g, true, ref);
  double fn = 0;
  for (const auto& f : ref.forces)
    for (double c : f) fn += c * c;
  fn = std::sqrt(fn);
  std::vector<std::array<double, 3>> dx(s.size());
  for (std::size_t i = 0; i < s.size(); ++i)
    for (std::size_t k = 0; k < 3; ++k) dx[i][k] = -ref.forces[i][k] / fn;
  using D = nn::Dual<double>;
  graphnet::TensorNetEvaluator<D> dev(model);
  dev.set_geometry_tangent(dx, Eigen::Matrix3d::Zero());
  graphnet::TensorNetOutput out;
  dev.evaluate(s.x, s.lattice, types, g, true, out);
  CHECK(out.energy == doctest::Approx(ref.energy).epsilon(1e-13));
  for (std::size_t i = 0; i < s.size(); ++i)
    for (std::size_t k = 0; k < 3; ++k) CHECK(out.forces[i][k] == doctest::Approx(ref.forces[i][k]).epsilon(1e-10));
  // The energy's tangent, data_std·Σ_i δε_i, is D_t E = −Σ_i F_i·δx_i = |F|.
  const auto eps = dev.atom_outputs();
  double dE = 0;
  for (Eigen::Index i = 0; i < eps.rows(); ++i) dE += model.config.data_std * eps(i, 0).d;
  CHECK(dE == doctest::Approx(fn).epsilon(1e-10));
  // A wrong-length tangent is refused.
  dev.set_geometry_tangent({{0.0, 0.0, 0.0}}, Eigen::Matrix3d::Zero());
  CHECK_THROWS_AS(dev.evaluate(s.x, s.lattice, types, g, false, out), ValueError);
}

TEST_CASE("TensorNet: every parameter gradient of an E+F+S loss matches finite differences") {
  NERNST_REQUIRE_SHARED_DATA();
  train::TensorNetTrainable m(tensornet_model());
  auto d = train_test::labelled_set(m, {"li_y_cl_triclinic_rattled", "licl_rocksalt_prim"});
  d.samples[1].weight = 0.5;
  // Entries across every group: embedding, both layers, output norm, linear, readout, refs.
  for (const char* group : {"model.tensor_embedding.", "model.layers.0.", "model.layers.1.", "model.out_norm.",
                            "model.linear.", "model.final_layer.", "element_refs."}) {
    bool found = false;
    for (const auto& p : m.parameters()) found = found || p.name.rfind(group, 0) == 0;
    CHECK_MESSAGE(found, group);
  }
  // Step 2e-4: at 1e-3 the 4th-order difference along one distance_proj bias entry (which
  // shifts a radial channel of every edge) still carries a truncation error of ~1e-5.
  const auto r = train_test::check_all_parameters(m, d, train::Loss{}, {1.0, 1.5, 0.15}, 2e-4);
  MESSAGE("TensorNet MSE: " << r.tensors << " tensors (" << m.num_parameters() << " parameters), max rel err (random direction) "
                            << r.max_rel_dir << ", " << r.entries << " single entries, max rel err " << r.max_rel_entry << "; "
                            << r.tiny << " tensors with |g| < 1e-6 |grad L|: max err / |grad L| " << r.max_abs_tiny);
  CHECK(r.tensors == m.parameters().size());
  CHECK(r.tensors > 50);
}

TEST_CASE("TensorNet: freezing, a few Trainer steps lower the loss; save -> reload as a matgl directory") {
  NERNST_REQUIRE_SHARED_DATA();
  train::TensorNetTrainable m(tensornet_model());
  auto d = train_test::labelled_set(m, {"li_y_cl_triclinic_rattled", "licl_rocksalt_prim", "licl_conv8_rattled"});
  const std::vector<double> before = m.get_parameters();
  train::TrainOptions o;
  o.epochs = 3;
  o.batch_size = 3;
  o.adam.lr = 1e-4;
  o.progress = false;
  o.freeze = {"^model\\.tensor_embedding\\.", "^model\\.layers\\.0\\."};
  train::Trainer<train::TensorNetTrainable> tr(m, o);
  const auto res = tr.fit(d, {});
  const auto c = train_test::count_frozen(m, before, m.get_parameters(), o);
  MESSAGE(c.frozen << " frozen tensors, " << c.trained << " trained, " << c.trained_changed
                   << " of them changed; loss " << res.initial_train.loss << " -> " << res.final_train.loss);
  CHECK(c.frozen > 20);
  CHECK(c.frozen_same == c.frozen);
  CHECK(c.trained_changed == c.trained);
  CHECK(res.final_train.loss < res.initial_train.loss);

  const auto tmp = std::filesystem::temp_directory_path();
  const auto d64 = (tmp / "nernst_tensornet_save64").string(), d32 = (tmp / "nernst_tensornet_save32").string();
  // matgl stores the element references in float64, everything else in float32.
  train_test::check_save_reload(m, d, d64, d32, [](const std::string& p) { return TensorNet::load(p); },
                                {train::TensorNetTrainable::atomref_name});
  train::TensorNetTrainable reloaded(TensorNet::load(d32));
  CHECK(reloaded.get_parameters() == m.get_parameters());  // m holds the float-rounded weights now
  // The Potential front (and so `nernst eval --model`) loads the saved directory.
  Potential<GraphNet<TensorNet>, double> pot(d64);
  CHECK(pot.config().units == m.model().config.units);
  std::filesystem::remove_all(d64);
  std::filesystem::remove_all(d32);
}

TEST_CASE("TensorNet Dual evaluation and parameter gradients: 2 host threads equal 1 to 1e-12") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto& model = tensornet_model();
  const auto [s, types, g] = structure("licl_conv8_rattled");
  std::vector<std::array<double, 3>> dx(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) dx[i] = {0.1 * double(i % 3), -0.05, 0.02 * double(i)};
  double e1 = 0, e2 = 0;
  nn::set_host_thread_limit(1);
  const auto one = dual_parameter_gradient(model, s, types, g, dx, e1);
  nn::set_host_thread_limit(2);
  MESSAGE("host threads: " << nn::host_threads() << " (1 in a Serial build: then both runs are one chunk)");
  const auto two = dual_parameter_gradient(model, s, types, g, dx, e2);
  nn::set_host_thread_limit(0);
  CHECK(e1 == doctest::Approx(e2).epsilon(1e-12));
  REQUIRE(one.size() == two.size());
  double scale = 0, diff = 0;
  for (std::size_t i = 0; i < one.size(); ++i) {
    scale = std::max(scale, std::abs(one[i]));
    diff = std::max(diff, std::abs(one[i] - two[i]));
  }
  CHECK(scale > 0);
  CHECK(diff <= 1e-12 * scale);
}
