// train::MACETwoHeadTrainable (issue 21 item 3): a second readout head trained on new labels while
// a replay set holds the original head's predictions. Exact loss gradients over both heads vs
// finite differences; the replay keeps head 0 closer to the original model than training without
// it; each head written back as a .model that MACE::load reads.

#include "mace_train_test_util.hpp"
#include "../train/grad_check.hpp"

#include <nernst/core/elements.hpp>
#include <nernst/train/mace_multihead.hpp>
#include <nernst/train/mace_trainable.hpp>
#include <nernst/train/trainer.hpp>

#include <filesystem>

using namespace mace_test;
namespace train = nernst::train;

namespace {

/// Largest |ΔE| (eV/atom) and |ΔF| (eV/Å) of head 0 against the original model on `replay`.
std::pair<double, double> head0_drift(train::MACETwoHeadTrainable& m, train::MACETrainable& original, const train::Dataset& replay) {
  double de = 0, df = 0;
  for (const auto& s : replay.samples) {
    const auto a = m.predict(s), b = original.predict(s);
    de = std::max(de, std::abs(a.energy - b.energy) / double(s.size()));
    for (std::size_t i = 0; i < s.size(); ++i)
      for (std::size_t k = 0; k < 3; ++k) df = std::max(df, std::abs(a.forces[i][k] - b.forces[i][k]));
  }
  return {de, df};
}

const char* kModel = "mace-small-random";

}  // namespace

/// Replay structures labelled by the original model (head 0) followed by structures labelled by
/// the relabelled teacher (head 1), in one dataset.
train::Dataset two_head_set(train::MACETrainable& original, train::MACETrainable& teacher, const std::vector<std::string>& replay,
                            const std::vector<std::string>& fresh) {
  train::Dataset r, f;
  for (const auto& n : replay) r.samples.push_back(sample_of(kModel, n));
  for (const auto& n : fresh) f.samples.push_back(sample_of(kModel, n));
  label(r, original);
  label(f, teacher);
  r.append(f);
  return r;
}

void assign_heads(train::MACETwoHeadTrainable& m, const train::Dataset& d, std::size_t n_replay) {
  for (std::size_t i = 0; i < d.size(); ++i) m.assign(d.samples[i], i < n_replay ? 0 : 1);
}

TEST_CASE("MACE two heads: loss gradient over a replay (head 0) and a new-label (head 1) set equals finite differences") {
  if (!nernst_test::have_shared()) return;
  train::MACETrainable original(source(kModel)), teacher(perturbed(source(kModel), 0.1, 5, -0.1));
  const auto d = two_head_set(original, teacher, {"licl_conv8_rattled"}, {"li_y_cl_triclinic_rattled"});
  train::MACETwoHeadTrainable m(source(kModel));
  CHECK_THROWS_AS(m.predict(d.samples[0]), nernst::ValueError);  // not assigned to a head yet
  assign_heads(m, d, 1);
  REQUIRE(m.parameters().size() == gm::learned_tensor_names(source(kModel).config).size() + 3 + 1);  // + head 1's 3 readouts + E0
  CHECK(m.parameters().back().name == train::MACETwoHeadTrainable::atomref_name);
  // Head 1 starts as head 0: both give the original model's predictions.
  const auto p0 = m.predict(d.samples[1]);
  CHECK(p0.energy == original.predict(d.samples[1]).energy);
  const auto r = train_test::check_all_parameters(m, d, train::Loss{}, {1.0, 1.0, 0.1}, 1e-3);
  MESSAGE("two heads: " << r.tensors << " tensors (" << m.num_parameters() << " parameters), max rel err (random direction) "
                        << r.max_rel_dir << ", " << r.entries << " single entries, max rel err " << r.max_rel_entry << "; "
                        << r.tiny << " tensors with |g| < 1e-6 |grad L|: max err / |grad L| " << r.max_abs_tiny);
  CHECK(r.tensors == m.parameters().size());
}

TEST_CASE("MACE two heads: head 1 learns the new labels; the replay set keeps head 0 near the original; both heads reload") {
  if (!nernst_test::have_shared()) return;
  train::MACETrainable original(source(kModel)), teacher(perturbed(source(kModel), 0.1, 5, -0.1));
  const std::vector<std::string> replay = {"licl_conv8_rattled", "licl_rocksalt_prim"};
  const std::vector<std::string> fresh = {"li_y_cl_triclinic_rattled", "libr_rocksalt_prim"};
  train::TrainOptions o;
  o.epochs = 8;
  o.adam.lr = 1e-3;
  o.progress = false;
  o.seed = 1;
  // Head 0's readouts stay as they are (Adam would turn their tiny replay gradients into full
  // steps); the replay term acts on the shared backbone. One step per epoch in both runs.
  o.freeze = {"^readouts\\."};
  // With replay: one dataset, two heads.
  const auto d = two_head_set(original, teacher, replay, fresh);
  train::MACETwoHeadTrainable m(source(kModel));
  assign_heads(m, d, replay.size());
  train::Dataset new_only;
  new_only.samples.assign(d.samples.begin() + static_cast<std::ptrdiff_t>(replay.size()), d.samples.end());
  train::Dataset replay_set;
  replay_set.samples.assign(d.samples.begin(), d.samples.begin() + static_cast<std::ptrdiff_t>(replay.size()));
  m.assign(new_only, 1);
  m.assign(replay_set, 0);
  const auto l_new0 = train::evaluate_metrics(m, new_only, o.loss, o.weights).loss;
  o.batch_size = d.size();
  train::Trainer<train::MACETwoHeadTrainable>(m, o).fit(d, {});
  const auto l_new1 = train::evaluate_metrics(m, new_only, o.loss, o.weights).loss;
  const auto [de, df] = head0_drift(m, original, replay_set);
  // Without replay: the same new labels alone (head 0 only feels the shared backbone move).
  train::MACETwoHeadTrainable b(source(kModel));
  b.assign(new_only, 1);
  b.assign(replay_set, 0);
  o.batch_size = new_only.size();
  train::Trainer<train::MACETwoHeadTrainable>(b, o).fit(new_only, {});
  const auto l_new_b = train::evaluate_metrics(b, new_only, o.loss, o.weights).loss;
  const auto [de_b, df_b] = head0_drift(b, original, replay_set);
  MESSAGE("head 1 loss on the new labels " << l_new0 << " -> " << l_new1 << " (with replay), " << l_new_b
                                           << " (without); head 0 drift on the replay set: max |dE| " << de << " eV/atom, max |dF| "
                                           << df << " eV/A with replay; " << de_b << ", " << df_b << " without");
  CHECK(l_new1 < 0.7 * l_new0);
  CHECK(df < 0.5 * df_b);
  CHECK(de < de_b);

  const auto tmp = std::filesystem::temp_directory_path();
  for (int h : {0, 1}) {
    const std::string f = (tmp / ("nernst_mace_head" + std::to_string(h) + ".model")).string();
    m.save_model_file(h, f);
    train::MACETrainable r(nernst::MACE::load(f));
    const auto& s = h == 0 ? replay_set.samples[0] : new_only.samples[0];
    const auto a = m.predict(s), c = r.predict(s);
    CHECK(a.energy == c.energy);
    CHECK(a.forces == c.forces);
    std::filesystem::remove(f);
  }
}
