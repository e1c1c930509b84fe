// train::MACETrainable: exact gradients of an energy + force + stress loss against finite
// differences of the loss, a few Trainer steps toward a perturbed copy of the model, freezing,
// and writing back as state_dict + JSON (bit-identical float64 reload).

#include "mace_train_test_util.hpp"
#include "../train/grad_check.hpp"
#include "../train/save_check.hpp"

#include <nernst/core/elements.hpp>
#include <nernst/core/one_thread.hpp>
#include <nernst/potential/graphnet/mace.hpp>
#include <nernst/train/mace_trainable.hpp>
#include <nernst/train/trainer.hpp>

#include <cstring>
#include <filesystem>

using namespace mace_test;
namespace train = nernst::train;

namespace {

/// Structures of the reference set labelled (E, F, σ) by `labeller`.
train::Dataset labelled(train::MACETrainable& labeller, const std::string& model, const std::vector<std::string>& names) {
  train::Dataset d;
  for (const auto& n : names) d.samples.push_back(sample_of(model, n));
  label(d, labeller);
  return d;
}

}  // namespace

TEST_CASE("MACETrainable: parameters by state_dict name, E0 last; get/set round trip; predictions match mace-torch") {
  if (!nernst_test::have_shared()) return;
  train::MACETrainable m(source("mace-small-random"));
  const auto& info = m.parameters();
  REQUIRE(info.size() == gm::learned_tensor_names(m.source().config).size() + 1);
  CHECK(info.back().name == train::MACETrainable::atomref_name);
  CHECK(info.back().size == m.source().config.atomic_numbers.size());
  const auto p = m.get_parameters();
  CHECK(p.size() == m.num_parameters());
  m.set_parameters(p);
  CHECK(m.get_parameters() == p);
  const auto ref = reference("mace-small-random", "li_y_cl_triclinic_rattled");
  const auto pred = m.predict(sample_of("mace-small-random", "li_y_cl_triclinic_rattled"));
  const double e = ref.at("float64").at("energy_eV").get<double>();
  CHECK(std::abs(pred.energy - e) < 1e-9 * std::abs(e));
  const auto F = flat(ref.at("float64").at("forces_eV_per_A"));
  double df = 0;
  for (std::size_t i = 0; i < pred.forces.size(); ++i)
    for (std::size_t k = 0; k < 3; ++k) df = std::max(df, std::abs(pred.forces[i][k] - F[3 * i + k]));
  CHECK(df < 1e-9);
  // E0 is the atomref: shifting it moves the energy by Σ_atoms ΔE0 and nothing else.
  auto q = p;
  for (std::size_t k = 0; k < info.back().size; ++k) q[info.back().offset + k] += 0.5;
  m.set_parameters(q);
  CHECK(m.predict(sample_of("mace-small-random", "li_y_cl_triclinic_rattled")).energy == doctest::Approx(pred.energy + 0.5 * 8).epsilon(1e-12));
}

TEST_CASE("MACETrainable: gradient of an energy + force + stress loss equals finite differences of the loss") {
  if (!nernst_test::have_shared()) return;
  for (const char* name : {"mace-small-random", "mace-small-nonresfirst-random"}) {
    train::MACETrainable target(perturbed(source(name), 0.1, 3, 0.05));
    train::MACETrainable m(source(name));
    const auto d = labelled(target, name, {"licl_conv8_rattled", "li_y_cl_triclinic_rattled"});
    const auto r = train_test::check_all_parameters(m, d, train::Loss{}, {1.0, 1.0, 0.1}, 1e-3);
    MESSAGE(std::string(name) << ": " << r.tensors << " tensors (" << m.num_parameters() << " parameters), max rel err (random direction) "
                              << r.max_rel_dir << ", " << r.entries << " single entries, max rel err " << r.max_rel_entry << "; "
                              << r.tiny << " tensors with |g| < 1e-6 |grad L|: max err / |grad L| " << r.max_abs_tiny);
    CHECK(r.tensors == m.parameters().size());
  }
}

TEST_CASE("MACETrainable: Trainer steps toward a perturbed copy lower the loss; frozen tensors stay; state_dict + JSON reload bit-identically") {
  if (!nernst_test::have_shared()) return;
  const std::string name = "mace-small-random";
  train::MACETrainable target(perturbed(source(name), 0.1, 11, 0.05));
  train::MACETrainable m(source(name));
  const auto d = labelled(target, name, {"licl_conv8_rattled", "li_y_cl_triclinic_rattled", "licl_rocksalt_prim", "libr_rocksalt_prim"});
  const std::vector<double> before = m.get_parameters();
  train::TrainOptions o;
  o.epochs = 6;
  o.batch_size = 2;
  o.adam.lr = 2e-3;
  o.progress = false;
  o.refit_atomref = true;
  o.freeze = {"^interactions\\.0\\.", "^readouts\\.0\\."};
  train::Trainer<train::MACETrainable> tr(m, o);
  const auto res = tr.fit(d, {});
  const auto c = train_test::count_frozen(m, before, m.get_parameters(), o);
  MESSAGE(c.frozen << " frozen tensors, " << c.trained << " trained, " << c.trained_changed << " of them changed; loss "
                   << res.initial_train.loss << " -> " << res.final_train.loss << " (E MAE " << res.initial_train.e_mae << " -> "
                   << res.final_train.e_mae << " eV/atom, F MAE " << res.initial_train.f_mae << " -> " << res.final_train.f_mae
                   << " eV/A); " << res.seconds_per_epoch << " s/epoch");
  CHECK(c.frozen == 8);  // interactions.0: linear_up, 4 radial MLP layers, linear, skip_tp; readouts.0
  CHECK(c.frozen_same == c.frozen);
  CHECK(c.trained_changed == c.trained);
  CHECK(res.final_train.loss < 0.5 * res.initial_train.loss);
  CHECK(res.final_train.f_mae < res.initial_train.f_mae);

  const auto tmp = std::filesystem::temp_directory_path();
  const std::string sd = (tmp / "nernst_mace_train_state_dict.pt").string(), js = (tmp / "nernst_mace_train.json").string();
  m.save_state_dict(sd, js, /*float64=*/true);
  train::MACETrainable r(nernst::MACE::load(sd, js));
  CHECK(r.get_parameters() == m.get_parameters());
  for (const auto& s : d.samples) {
    const auto a = m.predict(s), b = r.predict(s);
    CHECK(a.energy == b.energy);
    CHECK(a.forces == b.forces);
    CHECK(a.stress == b.stress);
  }
  // The .model file: the source archive with new storages, pickle kept; MACE::load(file) reads it.
  const std::string mf = (tmp / "nernst_mace_train.model").string();
  m.save_model_file(mf);
  train::MACETrainable r2(nernst::MACE::load(mf));
  CHECK(r2.get_parameters() == m.get_parameters());  // the random models are float64 throughout
  for (const auto& s : d.samples) {
    const auto a = m.predict(s), b = r2.predict(s);
    CHECK(a.energy == b.energy);
    CHECK(a.forces == b.forces);
    CHECK(a.stress == b.stress);
  }
  // The tensors that are not learned come through unchanged (e.g. the W3j constants of e3nn's code).
  const auto learned = gm::learned_tensor_names(m.source().config);
  std::size_t kept = 0;
  for (const auto& kv : source(name).tensors) {
    if (std::find(learned.begin(), learned.end(), kv.first) != learned.end() || kv.first == gm::kAtomicEnergiesName) continue;
    INFO(kv.first);
    REQUIRE(r2.source().tensors.count(kv.first) == 1);
    CHECK(r2.source().tensors.at(kv.first).values == kv.second.values);
    CHECK(r2.source().tensors.at(kv.first).int_values == kv.second.int_values);
    ++kept;
  }
  CHECK(r2.source().tensors.size() == source(name).tensors.size());
  CHECK(kept > 10);
  MESSAGE(kept << " non-learned tensors of the .model unchanged after writing");
  // A state_dict source has no pickled module to keep.
  CHECK_THROWS_AS(r.save_model_file((tmp / "nernst_mace_bad.model").string()), nernst::ValueError);
  std::filesystem::remove(sd);
  std::filesystem::remove(js);
  std::filesystem::remove(mf);
}

TEST_CASE("MACETrainable: a batch's loss and gradient on 2 and 3 model copies (ThreadModels) are bitwise the serial ones") {
  if (!nernst_test::have_shared()) return;
  const std::string name = "mace-small-random";
  train::MACETrainable target(perturbed(source(name), 0.1, 5, 0.05));
  train::MACETrainable m(source(name));
  const auto d = labelled(target, name, {"licl_conv8_rattled", "li_y_cl_triclinic_rattled", "licl_rocksalt_prim"});
  const std::vector<std::size_t> idx = {0, 1, 2};
  auto run = [&](train::ThreadModels<train::MACETrainable>& models, std::vector<double>& g) {
    g.assign(m.num_parameters(), 0.0);
    return train::loss_and_gradient(models, d, idx, train::Loss{}, {1.0, 1.0, 0.1}, &g);
  };
  std::vector<double> g_serial;
  double l_serial = 0;
  nernst::on_one_thread([&] {
    train::ThreadModels<train::MACETrainable> alone(m, 1);
    l_serial = run(alone, g_serial);
  });
  for (int t : {2, 3}) {
    CAPTURE(t);
    train::ThreadModels<train::MACETrainable> models(m, t);
    std::vector<double> g;
    CHECK(run(models, g) == l_serial);
    CHECK(g == g_serial);
  }
}
