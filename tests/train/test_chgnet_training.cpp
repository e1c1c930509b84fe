// CHGNet training: every parameter gradient (LayerNorms, basis frequencies and the rest) of
// an E+F+S loss vs finite differences, freezing, save -> reload in CHGNet's .pth.tar layout.

#include "grad_check.hpp"
#include "save_check.hpp"
#include "train_test_util.hpp"

#include <nernst/potential/graphnet/chgnet.hpp>
#include <nernst/train/trainer.hpp>

#include <filesystem>

using namespace nernst;

namespace {

std::string chgnet_file(const char* name) {
  return (nernst_test::shared_dir() / "models" / "chgnet-random" / name).string();
}

void check_model(const char* file) {
  train::CHGNetTrainable m(CHGNet::load(chgnet_file(file)));
  auto d = train_test::labelled_set(m, {"li_y_cl_triclinic_rattled", "licl_rocksalt_prim"});
  d.samples[1].weight = 0.5;
  const auto r = train_test::check_all_parameters(m, d, train::Loss{}, {1.0, 1.5, 0.15}, 1e-3);
  MESSAGE(std::string(file) << ": " << r.tensors << " tensors (" << m.num_parameters() << " parameters), max rel err (random direction) "
               << r.max_rel_dir << ", " << r.entries << " single entries, max rel err " << r.max_rel_entry << "; "
               << r.tiny << " tensors with |g| < 1e-6 |grad L|: max err / |grad L| " << r.max_abs_tiny);
  CHECK(r.tensors == m.parameters().size());
  CHECK(r.tensors > 40);
}

}  // namespace

TEST_CASE("CHGNet 0.3.0-style (LayerNorms): every parameter gradient of an E+F+S loss matches finite differences") {
  NERNST_REQUIRE_SHARED_DATA();
  check_model("chgnet_0.3.0_random_seed0.pth.tar");
}

TEST_CASE("CHGNet 0.2.0-style (no norms, mlp_out bias): every parameter gradient matches finite differences") {
  NERNST_REQUIRE_SHARED_DATA();
  check_model("chgnet_small_random_seed1.pth.tar");
}

TEST_CASE("CHGNet: parameter table covers the state_dict; freezing; save -> reload bit-identical") {
  NERNST_REQUIRE_SHARED_DATA();
  const std::string src = chgnet_file("chgnet_0.3.0_random_seed0.pth.tar");
  train::CHGNetTrainable m(CHGNet::load(src));
  // Every tensor of the checkpoint is a parameter (CHGNet has no buffers in its state_dict).
  CHECK(m.num_parameters() == m.model().config.n_parameters);
  auto d = train_test::labelled_set(m, {"li_y_cl_triclinic_rattled", "licl_rocksalt_prim", "licl_conv8_rattled"});
  const std::vector<double> before = m.get_parameters();
  train::TrainOptions o;
  o.epochs = 2;
  o.batch_size = 3;
  o.adam.lr = 1e-6;  // random weights are steep: Adam's first steps (±lr per entry) must stay small
  o.progress = false;
  o.freeze = {"^atom_conv_layers\\.[01]\\.", "^mlp\\.", "bn1"};
  train::Trainer<train::CHGNetTrainable> tr(m, o);
  const auto res = tr.fit(d, {});
  const auto c = train_test::count_frozen(m, before, m.get_parameters(), o);
  MESSAGE(c.frozen << " frozen tensors, " << c.trained << " trained, " << c.trained_changed << " of them changed");
  CHECK(c.frozen > 10);
  CHECK(c.frozen_same == c.frozen);
  // site_wise (magnetic moments) and the unused last angle layer get no gradient from E, F, σ.
  CHECK(c.trained_changed + 2 + 4 + 4 >= c.trained);
  CHECK(res.final_train.loss < res.initial_train.loss);

  const auto f64 = (std::filesystem::temp_directory_path() / "nernst_chgnet_save64.pth.tar").string();
  const auto f32 = (std::filesystem::temp_directory_path() / "nernst_chgnet_save32.pth.tar").string();
  train_test::check_save_reload(m, d, f64, f32, [](const std::string& p) { return CHGNet::load(p); });
  train::CHGNetTrainable reloaded(CHGNet::load(f32));
  CHECK(reloaded.get_parameters() == m.get_parameters());  // m holds the float-rounded weights now
  // The Potential front (and so `nernst eval --model`) loads the saved file.
  Potential<GraphNet<CHGNet>, double> pot(f64);
  CHECK(pot.config().n_conv == m.model().config.n_conv);
  std::filesystem::remove(f64);
  std::filesystem::remove(f32);
}
