// Fine-tuning that learns: M3GNet-MP-2021.2.8-PES fine-tuned on frames labelled by a classical
// Ewald + Born–Mayer potential (learning_demo.hpp). The full run is in the slow suite; the
// default suite checks the label potential itself against finite differences.

#include "learning_demo.hpp"

#include <nernst/io/extxyz.hpp>
#include <nernst/train/trainer.hpp>

#include <fstream>

#include <cstdlib>
#include <iostream>

using namespace nernst;

namespace {

// With NERNST_TRAIN_XYZ=prefix, writes the frames as prefix_train.extxyz / prefix_valid.extxyz
// (the same data for `nernst finetune`).
void write_frames_if_asked(const train::Split& parts) {
  const char* xyz = std::getenv("NERNST_TRAIN_XYZ");
  if (!xyz) return;
  for (const auto* part : {&parts.train, &parts.valid}) {
    const std::string path = std::string(xyz) + (part == &parts.train ? "_train.extxyz" : "_valid.extxyz");
    std::ofstream out(path);
    for (const auto& s : part->samples) {
      io::Frame f;
      f.structure = Structure(Lattice(s.lattice));
      for (std::size_t i = 0; i < s.size(); ++i)
        f.structure.add_site_cart(s.z[i], Eigen::Vector3d(s.x[i][0], s.x[i][1], s.x[i][2]));
      f.energy = s.energy;
      f.stress = s.stress;
      for (const auto& v : s.forces) f.forces.emplace_back(v[0], v[1], v[2]);
      io::write_extxyz_frame(out, f);
    }
  }
}

double env_or(const char* name, double def) {
  const char* v = std::getenv(name);
  return v ? std::atof(v) : def;
}

// The demonstration's settings: Adam lr 1e-3 (NERNST_TRAIN_LR) cosine to 1e-4, batch 4,
// atomref refit, clipping at 10, logs to NERNST_TRAIN_DEMO_OUT (default `prefix`) .csv/.json.
train::TrainOptions demo_options(int epochs, train::LossWeights w, const std::string& prefix) {
  train::TrainOptions o;
  o.epochs = epochs;
  o.batch_size = 4;
  o.adam.lr = env_or("NERNST_TRAIN_LR", 1e-3);
  o.lr_min = 1e-4;
  o.weights = w;
  o.refit_atomref = true;
  o.clip_norm = 10.0;
  o.progress = true;
  const char* out = std::getenv("NERNST_TRAIN_DEMO_OUT");
  o.log_csv = (out ? out : prefix) + std::string(".csv");
  o.log_json = (out ? out : prefix) + std::string(".json");
  return o;
}

}  // namespace

TEST_CASE("Demo label potential: forces and stress match finite differences") {
  NERNST_REQUIRE_SHARED_DATA();
  auto s = train_test::demo_frames(1, 5).samples[0];
  const auto F = s.forces;
  const Eigen::Matrix3d S = *s.stress;
  const double h = 1e-5;
  for (std::size_t i : {0u, 17u, 59u})
    for (std::size_t k = 0; k < 3; ++k) {
      auto p = s, m = s;
      p.x[i][k] += h, m.x[i][k] -= h;
      train_test::classical_labels(p), train_test::classical_labels(m);
      CHECK(F[i][k] == doctest::Approx(-(*p.energy - *m.energy) / (2 * h)).epsilon(1e-6));
    }
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) {
      auto strained = [&](double e) {
        auto t = s;
        Eigen::Matrix3d D = Eigen::Matrix3d::Identity();
        D(a, b) += e;
        t.lattice = s.lattice * D;
        for (auto& x : t.x) {
          Eigen::RowVector3d v(x[0], x[1], x[2]);
          v = v * D;
          x = {v[0], v[1], v[2]};
        }
        train_test::classical_labels(t);
        return *t.energy;
      };
      const double fd = (strained(h) - strained(-h)) / (2 * h) / s.volume();
      CHECK(S(a, b) == doctest::Approx(fd).epsilon(1e-6).scale(1e-6));
    }
}

TEST_SUITE("slow") {
TEST_CASE("Fine-tuning M3GNet on classical labels halves the validation force MAE") {
  NERNST_REQUIRE_SHARED_DATA();
  const char* nf = std::getenv("NERNST_TRAIN_FRAMES");
  const char* ne = std::getenv("NERNST_TRAIN_EPOCHS");
  const std::size_t frames = nf ? std::size_t(std::atol(nf)) : 300;
  const int epochs = ne ? std::atoi(ne) : 6;
  const auto all = train_test::demo_frames(frames, 2024);
  const auto parts = train::split(all, 0.2, 0.0, 1);
  write_frames_if_asked(parts);
  train::M3GNetTrainable m(train_test::model());
  const auto o = demo_options(epochs, {1.0, 1.5, 0.15}, "train_demo");
  train::Trainer<train::M3GNetTrainable> tr(m, o);
  const auto r = tr.fit(parts.train, parts.valid);
  MESSAGE("train " << parts.train.size() << " / valid " << parts.valid.size() << " frames, " << r.history.size()
                   << " epochs, " << r.seconds_per_epoch << " s/epoch");
  MESSAGE("valid MAE before: E " << r.initial_valid.e_mae << " eV/atom, F " << r.initial_valid.f_mae << " eV/A, S "
                                 << r.initial_valid.s_mae << " eV/A^3");
  MESSAGE("valid MAE after:  E " << r.final_valid.e_mae << " eV/atom, F " << r.final_valid.f_mae << " eV/A, S "
                                 << r.final_valid.s_mae << " eV/A^3");
  CHECK(r.final_valid.f_mae <= 0.5 * r.initial_valid.f_mae);
}

TEST_CASE("Fine-tuning CHGNet (0.3.0 architecture, random weights) on classical labels lowers the force MAE") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto all = train_test::demo_frames(std::size_t(env_or("NERNST_TRAIN_FRAMES", 60)), 2024);
  const auto parts = train::split(all, 0.2, 0.0, 1);
  write_frames_if_asked(parts);
  train::CHGNetTrainable m(CHGNet::load(
      (nernst_test::shared_dir() / "models" / "chgnet-random" / "chgnet_0.3.0_random_seed0.pth.tar").string()));
  const auto o = demo_options(int(env_or("NERNST_TRAIN_EPOCHS", 4)), {1.0, 1.0, 0.1}, "train_demo_chgnet");  // CHGNet's ratios
  train::Trainer<train::CHGNetTrainable> tr(m, o);
  const auto r = tr.fit(parts.train, parts.valid);
  MESSAGE("CHGNet: train " << parts.train.size() << " / valid " << parts.valid.size() << " frames, " << r.history.size()
                           << " epochs, " << r.seconds_per_epoch << " s/epoch");
  MESSAGE("valid MAE before: E " << r.initial_valid.e_mae << " eV/atom, F " << r.initial_valid.f_mae << " eV/A, S "
                                 << r.initial_valid.s_mae << " eV/A^3");
  MESSAGE("valid MAE after:  E " << r.final_valid.e_mae << " eV/atom, F " << r.final_valid.f_mae << " eV/A, S "
                                 << r.final_valid.s_mae << " eV/A^3");
  CHECK(r.final_valid.f_mae < r.initial_valid.f_mae);
  CHECK(r.final_train.loss < r.initial_train.loss);
}
}
