// Trainer pieces: Adam and schedules against hand computations, atomref refit, freezing
// (bit-identical frozen tensors), save -> reload (identical outputs), dataset split/batches.

#include "save_check.hpp"
#include "train_test_util.hpp"

#include <nernst/train/trainer.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>

using namespace nernst;

TEST_CASE("Adam and AdamW steps match the closed form; schedules; clipping") {
  // First Adam step: m̂ = g, v̂ = g², so θ -= lr g / (|g| + ε).
  std::vector<double> th{1.0, -2.0, 0.5}, g{0.3, -4.0, 0.0};
  nn::Adam adam(3, {0.1, 0.9, 0.999, 1e-8, 0.0, false});
  adam.step(th, g, {1, 1, 0});
  CHECK(th[0] == doctest::Approx(1.0 - 0.1 * 0.3 / (0.3 + 1e-8)).epsilon(1e-14));
  CHECK(th[1] == doctest::Approx(-2.0 + 0.1 * 4.0 / (4.0 + 1e-8)).epsilon(1e-14));
  CHECK(th[2] == 0.5);  // masked
  // Second step with the same gradient: m̂ = g, v̂ = g² again (bias correction), same move.
  const double t0 = th[0];
  adam.step(th, g, {1, 1, 0});
  CHECK(th[0] == doctest::Approx(t0 - 0.1 * 0.3 / (0.3 + 1e-8)).epsilon(1e-13));
  // AdamW: decoupled decay θ(1 − lr·wd) before the Adam move.
  std::vector<double> a{2.0}, ga{1.0};
  nn::Adam w(1, {0.01, 0.9, 0.999, 1e-8, 0.1, true});
  w.step(a, ga);
  CHECK(a[0] == doctest::Approx(2.0 * (1 - 0.001) - 0.01 / (1 + 1e-8)).epsilon(1e-14));
  nn::LRSchedule c;
  c.lr0 = 1e-3, c.lr_min = 1e-5, c.total_epochs = 10;
  CHECK(c.at(0) == doctest::Approx(1e-3));
  CHECK(c.at(5) == doctest::Approx(0.5 * (1e-3 + 1e-5)));
  CHECK(c.at(10) == doctest::Approx(1e-5));
  nn::LRSchedule s;
  s.kind = nn::LRSchedule::Kind::step, s.lr0 = 1.0, s.step_size = 3, s.gamma = 0.5;
  CHECK(s.at(2) == 1.0);
  CHECK(s.at(3) == 0.5);
  CHECK(s.at(7) == 0.25);
  std::vector<double> cg{3.0, 4.0};
  CHECK(nn::clip_grad_norm(cg, 1.0) == doctest::Approx(5.0));
  CHECK(cg[0] == doctest::Approx(0.6).epsilon(1e-10));
  CHECK(cg[1] == doctest::Approx(0.8).epsilon(1e-10));
}

TEST_CASE("Dataset: seeded split and batches are partitions") {
  train::Dataset d;
  for (int i = 0; i < 20; ++i) {
    train::Sample s;
    s.x = {{0.0, 0.0, double(i)}};
    s.z = {3};
    d.samples.push_back(s);
  }
  const auto a = train::split(d, 0.2, 0.1, 42), b = train::split(d, 0.2, 0.1, 42), c = train::split(d, 0.2, 0.1, 43);
  CHECK(a.valid.size() == 4);
  CHECK(a.test.size() == 2);
  CHECK(a.train.size() == 14);
  for (std::size_t i = 0; i < 4; ++i) CHECK(a.valid.samples[i].x[0][2] == b.valid.samples[i].x[0][2]);
  bool differs = false;
  for (std::size_t i = 0; i < 4; ++i) differs |= a.valid.samples[i].x[0][2] != c.valid.samples[i].x[0][2];
  CHECK(differs);
  std::vector<int> seen(20, 0);
  for (const auto* part : {&a.train, &a.valid, &a.test})
    for (const auto& s : part->samples) ++seen[std::size_t(s.x[0][2])];
  for (int k : seen) CHECK(k == 1);
  std::mt19937_64 rng(1);
  const auto batches = train::make_batches(10, 4, true, rng);
  REQUIRE(batches.size() == 3);
  CHECK(batches[2].size() == 2);
}

namespace {
train::Dataset small_labelled_set(train::M3GNetTrainable& m) {
  train::Dataset d;
  for (const char* n : {"li_y_cl_triclinic_rattled", "licl_rocksalt_prim", "licl_conv8_rattled"}) {
    d.samples.push_back(train_test::reference_sample(n));
    train_test::label_with_offsets(d.samples.back(), m.predict(d.samples.back()), 3);
  }
  return d;
}
}  // namespace

TEST_CASE("Refit of element reference energies recovers per-element shifts") {
  NERNST_REQUIRE_SHARED_DATA();
  train::M3GNetTrainable m(train_test::model());
  train::Dataset d;
  // Three independent compositions (Li, LiCl, Li3YCl6 + LiCl), so every shift is determined.
  for (const char* n : {"li_single_atom_small_cell", "licl_rocksalt_prim", "licl_conv8_rattled", "li3ycl6_ordered_40"})
    d.samples.push_back(train_test::reference_sample(n));
  // Labels: the model's energy plus known per-element shifts (Li −0.3, Y +0.7, Cl −0.05 eV).
  const std::map<int, double> shift{{3, -0.3}, {39, 0.7}, {17, -0.05}};
  for (auto& s : d.samples) {
    double e = m.predict(s).energy;
    for (int z : s.z) e += shift.at(z);
    s.energy = e;
  }
  const double rms = train::refit_atomref(m, d);
  CHECK(rms < 1e-10);
  for (const auto& s : d.samples) CHECK(m.predict(s).energy == doctest::Approx(*s.energy).epsilon(1e-12));
  const auto& refs = m.model().config.element_refs;
  const auto& refs0 = train_test::model().config.element_refs;
  for (auto [z, dz] : shift) {
    const auto t = std::size_t(m.model().config.type_of(z));
    CHECK(refs[t] - refs0[t] == doctest::Approx(dz).epsilon(1e-9));
  }
}

TEST_CASE("Freezing keeps tensors bit-identical; save -> reload gives identical outputs") {
  NERNST_REQUIRE_SHARED_DATA();
  train::M3GNetTrainable m(train_test::model());
  const auto d = small_labelled_set(m);
  const std::vector<double> before = m.get_parameters();
  train::TrainOptions o;
  o.epochs = 2;
  o.batch_size = 3;  // full batch: small steps must lower the loss
  o.adam.lr = 1e-5;
  o.progress = false;
  o.freeze = {"graph_layers\\.[01]\\.", "^model\\.final_layer", "update_network_atom"};
  train::Trainer<train::M3GNetTrainable> tr(m, o);
  const auto res = tr.fit(d, {});
  CHECK(res.history.size() == 2);
  CHECK(res.frozen > 0);
  CHECK(res.trainable > 0);
  const auto c = train_test::count_frozen(m, before, m.get_parameters(), o);
  MESSAGE(c.frozen << " frozen tensors, " << c.trained << " trained");
  CHECK(c.frozen > 10);
  CHECK(c.frozen_same == c.frozen);
  CHECK(c.trained_changed == c.trained);
  // The training loss went down on this tiny set.
  CHECK(res.final_train.loss < res.initial_train.loss);

  const auto dir64 = std::filesystem::temp_directory_path() / "nernst_train_save64";
  const auto dir32 = std::filesystem::temp_directory_path() / "nernst_train_save32";
  train_test::check_save_reload(m, d, dir64.string(), dir32.string(), [](const std::string& p) { return M3GNet::load(p); });
  // The Potential front loads the saved directory too.
  Potential<GraphNet<M3GNet>, double> pot(dir64.string());
  CHECK(pot.cutoff() == m.cutoff());
  std::filesystem::remove_all(dir64);
  std::filesystem::remove_all(dir32);
}

TEST_CASE("M3GNet-MatPES: a few fine-tuning steps lower the loss; save -> reload gives identical outputs") {
  NERNST_REQUIRE_SHARED_DATA();
  train::M3GNetTrainable m(train_test::matpes_model());
  const auto d = small_labelled_set(m);
  train::TrainOptions o;
  o.epochs = 2;
  o.batch_size = 3;
  o.adam.lr = 1e-5;
  o.progress = false;
  train::Trainer<train::M3GNetTrainable> tr(m, o);
  const auto res = tr.fit(d, {});
  CHECK(res.final_train.loss < res.initial_train.loss);
  const auto dir64 = std::filesystem::temp_directory_path() / "nernst_train_matpes64";
  const auto dir32 = std::filesystem::temp_directory_path() / "nernst_train_matpes32";
  train_test::check_save_reload(m, d, dir64.string(), dir32.string(), [](const std::string& p) { return M3GNet::load(p); });
  const auto back = M3GNet::load(dir64.string());
  CHECK(back.config.use_smooth);
  CHECK(back.config.units == 128);
  std::filesystem::remove_all(dir64);
  std::filesystem::remove_all(dir32);
}
