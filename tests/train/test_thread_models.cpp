// Fine-tuning batches on all host threads (train/thread_models.hpp): the structures of a batch
// predicted and differentiated one per model copy. The loss and gradient of a batch must be
// bitwise those of the one-model pool run on one thread (the serial code, structure after
// structure), for every pool size; a whole Trainer run likewise; errors name their structure.

#include "train_test_util.hpp"

#include <nernst/core/one_thread.hpp>
#include <nernst/potential/graphnet/chgnet.hpp>
#include <nernst/train/trainer.hpp>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <numeric>
#include <string>
#include <vector>

using namespace nernst;

namespace {

const char* const kNames[] = {"li_y_cl_triclinic_rattled", "licl_rocksalt_prim", "licl_conv8_rattled",
                              "libr_rocksalt_prim", "li3ycl6_ordered_40"};

template <class Model>
train::Dataset five_structures(Model& m) {
  train::Dataset d;
  d.samples.reserve(std::size(kNames));  // graphs are cached by sample address: no moves
  unsigned seed = 5;
  for (const char* n : kNames) {
    d.samples.push_back(train_test::reference_sample(n));
    train_test::label_with_offsets(d.samples.back(), m.predict(d.samples.back()), seed++);
  }
  d.samples[1].weight = 0.5;
  m.clear_graph_cache();  // the caller's copy of d lives elsewhere
  return d;
}

struct LossGrad {
  double loss = 0;
  std::vector<double> grad;
  train::Metrics metrics;
};

template <class Model>
LossGrad batch_loss(train::ThreadModels<Model>& models, const train::Dataset& d) {
  std::vector<std::size_t> idx(d.size());
  std::iota(idx.begin(), idx.end(), std::size_t(0));
  LossGrad r;
  r.grad.assign(models[0].num_parameters(), 0.0);
  train::MetricsAccumulator acc;
  r.loss = train::loss_and_gradient(models, d, idx, train::Loss{}, {1.0, 1.5, 0.15}, &r.grad, &acc);
  r.metrics = acc.result();
  return r;
}

// The reference: the model alone on one thread, structure after structure.
template <class Model>
LossGrad serial_loss(Model& m, const train::Dataset& d) {
  LossGrad r;
  on_one_thread([&] {
    train::ThreadModels<Model> alone(m, 1);
    r = batch_loss(alone, d);
  });
  return r;
}

void check_same(const LossGrad& a, const LossGrad& b) {
  CHECK(a.loss == b.loss);
  CHECK(a.metrics.f_mae == b.metrics.f_mae);
  CHECK(a.metrics.e_rmse == b.metrics.e_rmse);
  REQUIRE(a.grad.size() == b.grad.size());
  std::size_t differ = 0;
  for (std::size_t j = 0; j < a.grad.size(); ++j) differ += a.grad[j] != b.grad[j];
  CHECK(differ == 0);
}

template <class Model>
void check_pools(Model& m) {
  const auto d = five_structures(m);
  const LossGrad ref = serial_loss(m, d);
  double norm = 0;
  for (double g : ref.grad) norm += g * g;
  REQUIRE(norm > 0);
  for (int t : {2, 3, 4}) {
    CAPTURE(t);
    train::ThreadModels<Model> models(m, t);
    REQUIRE(models.size() == std::size_t(t));
    check_same(batch_loss(models, d), ref);
    // Again with the same pool: nothing of the last batch carries over.
    check_same(batch_loss(models, d), ref);
  }
  // The one-model pool with the model's own threads agrees to rounding.
  train::ThreadModels<Model> alone(m, 1);
  const LossGrad threaded = batch_loss(alone, d);
  CHECK(threaded.loss == doctest::Approx(ref.loss).epsilon(1e-12));
  double diff = 0;
  for (std::size_t j = 0; j < ref.grad.size(); ++j) diff = std::max(diff, std::abs(threaded.grad[j] - ref.grad[j]));
  CHECK(diff <= 1e-10 * std::sqrt(norm));
}

}  // namespace

TEST_CASE("ThreadModels: an M3GNet batch's loss and gradient are bitwise the serial ones for 2, 3 and 4 models") {
  NERNST_REQUIRE_SHARED_DATA();
  train::M3GNetTrainable m(train_test::model());
  check_pools(m);
}

TEST_CASE("ThreadModels: a CHGNet batch's loss and gradient are bitwise the serial ones for 2, 3 and 4 models") {
  NERNST_REQUIRE_SHARED_DATA();
  train::CHGNetTrainable m(CHGNet::load(
      (nernst_test::shared_dir() / "models" / "chgnet-random" / "chgnet_0.3.0_random_seed0.pth.tar").string()));
  check_pools(m);
}

TEST_CASE("ThreadModels: a Trainer run (element references refitted first) with 3 threads is bitwise the one-thread run") {
  NERNST_REQUIRE_SHARED_DATA();
  train::M3GNetTrainable a(train_test::model()), b(train_test::model());
  auto d = five_structures(a);
  train::Dataset valid;
  valid.samples.reserve(1);
  valid.samples.push_back(d.samples.back());
  d.samples.pop_back();
  train::TrainOptions o;
  o.epochs = 2;
  o.batch_size = 3;  // batches of 3 and 1: a last wave with fewer structures than models
  o.adam.lr = 1e-5;
  o.progress = false;
  o.seed = 3;
  o.restore_best = false;  // keep the last epoch: the parameters must have moved
  o.refit_atomref = true;  // its predictions run on the pool too
  train::TrainResult serial, threaded;
  on_one_thread([&] {
    o.threads = 1;
    serial = train::Trainer<train::M3GNetTrainable>(a, o).fit(d, valid);
  });
  o.threads = 3;
  threaded = train::Trainer<train::M3GNetTrainable>(b, o).fit(d, valid);
  REQUIRE(serial.history.size() == threaded.history.size());
  for (std::size_t e = 0; e < serial.history.size(); ++e) {
    CHECK(serial.history[e].train.loss == threaded.history[e].train.loss);
    CHECK(serial.history[e].valid.loss == threaded.history[e].valid.loss);
    CHECK(serial.history[e].grad_norm == threaded.history[e].grad_norm);
  }
  CHECK(serial.final_train.loss == threaded.final_train.loss);
  CHECK(serial.final_train.loss < serial.initial_train.loss);
  CHECK(serial.atomref_rms_after_refit == threaded.atomref_rms_after_refit);
  CHECK(a.get_parameters() == b.get_parameters());
}

TEST_CASE("ThreadModels: a structure that fails is named, after the others have run") {
  NERNST_REQUIRE_SHARED_DATA();
  train::M3GNetTrainable m(train_test::model());
  auto d = five_structures(m);
  d.samples[3].z[0] = 118;  // oganesson: not an element of the model
  train::ThreadModels<train::M3GNetTrainable> models(m, 2);
  std::vector<std::size_t> idx(d.size());
  std::iota(idx.begin(), idx.end(), std::size_t(0));
  std::vector<double> grad(m.num_parameters(), 0.0);
  CHECK_THROWS_AS(train::loss_and_gradient(models, d, idx, train::Loss{}, {}, &grad), ValueError);
  // The pool is still usable: the structures without the bad one give the serial result.
  d.samples.erase(d.samples.begin() + 3);
  m.clear_graph_cache();  // the samples moved (the copies share the cache)
  check_same(batch_loss(models, d), serial_loss(m, d));
}
