#pragma once
/// \file
/// \brief Trainer: fine-tunes a trainable graph network (train::M3GNetTrainable) on labelled
/// structures: weighted MSE/Huber loss on energy per atom, forces and stress, Adam/AdamW,
/// cosine or step schedule, gradient clipping, freezing by name pattern, least-squares refit
/// of the element reference energies, early stopping on the validation loss, per-epoch
/// MAE/RMSE with a progress bar and CSV/JSON logs.
///
/// The Model concept: num_parameters(), parameters() (ParameterInfo list with state_dict
/// names), get_parameters(), set_parameters(flat), predict(Sample) -> Prediction,
/// accumulate_gradient(Sample, dL/dE, dL/dF, dL/dσ, flat grad), types_of(Sample), and the
/// name of its element-reference tensor `atomref_name`.

#include <nernst/core/error.hpp>
#include <nernst/core/units.hpp>
#include <nernst/nn/optimizer.hpp>
#include <nernst/train/dataset.hpp>
#include <nernst/train/loss.hpp>
#include <nernst/train/chgnet_trainable.hpp>
#include <nernst/train/m3gnet_trainable.hpp>
#include <nernst/train/tensornet_trainable.hpp>
#include <nernst/train/thread_models.hpp>

#include <Eigen/Dense>
#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <random>
#include <regex>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace train {

/// MAE and RMSE of energy per atom (eV/atom), force components (eV/Å) and stress components
/// (eV/Å³), plus the loss, over a set of structures.
struct Metrics {
  double e_mae = 0, e_rmse = 0, f_mae = 0, f_rmse = 0, s_mae = 0, s_rmse = 0, loss = 0;
  std::size_t structures = 0;

  nlohmann::json to_json() const {
    return {{"e", e_mae}, {"f", f_mae}, {"s", s_mae}, {"e_rmse", e_rmse}, {"f_rmse", f_rmse},
            {"s_rmse", s_rmse}, {"loss", loss}, {"structures", structures}};
  }
};

/// Running sums behind Metrics.
struct MetricsAccumulator {
  double e_abs = 0, e_sq = 0, f_abs = 0, f_sq = 0, s_abs = 0, s_sq = 0;
  std::size_t ne = 0, nf = 0, ns = 0, structures = 0;
  double loss_sum = 0;
  std::size_t loss_n = 0;

  void add(const Sample& s, const Prediction& p) {
    ++structures;
    const double n = double(s.size());
    if (s.energy) {
      const double r = (p.energy - *s.energy) / n;
      e_abs += std::abs(r), e_sq += r * r, ++ne;
    }
    for (std::size_t i = 0; i < s.forces.size(); ++i)
      for (std::size_t k = 0; k < 3; ++k) {
        const double r = p.forces[i][k] - s.forces[i][k];
        f_abs += std::abs(r), f_sq += r * r, ++nf;
      }
    if (s.stress)
      for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) {
          const double r = p.stress(a, b) - (*s.stress)(a, b);
          s_abs += std::abs(r), s_sq += r * r, ++ns;
        }
  }
  Metrics result() const {
    Metrics m;
    auto mean = [](double s, std::size_t n) { return n ? s / double(n) : 0.0; };
    m.e_mae = mean(e_abs, ne), m.e_rmse = std::sqrt(mean(e_sq, ne));
    m.f_mae = mean(f_abs, nf), m.f_rmse = std::sqrt(mean(f_sq, nf));
    m.s_mae = mean(s_abs, ns), m.s_rmse = std::sqrt(mean(s_sq, ns));
    m.loss = mean(loss_sum, loss_n);
    m.structures = structures;
    return m;
  }
};

/// The normalisers of a batch's loss terms: the summed weights of its energy, force-component and
/// stress terms (each term's loss is divided by its kind's total, so that batches of any size
/// and make-up weigh alike).
struct LossNormalisers {
  double energy = 0, forces = 0, stress = 0;

  LossNormalisers(const Dataset& d, const std::vector<std::size_t>& idx) {
    for (std::size_t i : idx) {
      const Sample& s = d.samples[i];
      if (s.energy) energy += s.weight;
      if (!s.forces.empty()) forces += s.weight * 3.0 * double(s.size());
      if (s.stress) stress += s.weight * 9.0;
    }
  }
};

/// ∂L/∂(this structure's outputs): per eV of energy, per eV/Å of each force component (empty
/// without a force term), per eV/Å³ of each stress component.
struct OutputDerivatives {
  double energy = 0;
  std::vector<std::array<double, 3>> forces;
  Eigen::Matrix3d stress = Eigen::Matrix3d::Zero();
};

/// Structure `s`'s part of the batch loss for prediction `p`, and its derivatives `dL`.
inline double structure_loss(const Sample& s, const Prediction& p, const LossNormalisers& norm, const Loss& loss,
                             const LossWeights& w, OutputDerivatives& dL) {
  const double gpa = units::eV_per_A3_in_GPa;
  const double n = double(s.size());
  double L = 0;
  if (s.energy && norm.energy > 0 && w.energy != 0) {
    const double r = (p.energy - *s.energy) / n;
    L += w.energy * s.weight * loss.value(r) / norm.energy;
    dL.energy = w.energy * s.weight * loss.derivative(r) / (norm.energy * n);
  }
  if (!s.forces.empty() && norm.forces > 0 && w.forces != 0) {
    dL.forces.assign(s.size(), {0.0, 0.0, 0.0});
    for (std::size_t i = 0; i < s.size(); ++i)
      for (std::size_t c = 0; c < 3; ++c) {
        const double r = p.forces[i][c] - s.forces[i][c];
        L += w.forces * s.weight * loss.value(r) / norm.forces;
        dL.forces[i][c] = w.forces * s.weight * loss.derivative(r) / norm.forces;
      }
  }
  if (s.stress && norm.stress > 0 && w.stress != 0)
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) {
        const double r = (p.stress(a, b) - (*s.stress)(a, b)) * gpa;
        L += w.stress * s.weight * loss.value(r) / norm.stress;
        dL.stress(a, b) = w.stress * s.weight * loss.derivative(r) * gpa / norm.stress;
      }
  return L;
}

/// Loss (loss.hpp) of the structures `idx` of `d`; with `grad` (flat, same length as the
/// parameters) also adds dL/dθ. Predictions are added to `acc` when given. The structures are
/// predicted and differentiated one per model of `models` (thread_models.hpp: bitwise the same
/// result at every thread count).
template <class Model>
double loss_and_gradient(ThreadModels<Model>& models, const Dataset& d, const std::vector<std::size_t>& idx,
                         const Loss& loss, const LossWeights& w, std::vector<double>* grad,
                         MetricsAccumulator* acc = nullptr) {
  std::vector<Prediction> pred(idx.size());
  models.for_each(idx.size(), [&](Model& m, std::size_t k) { pred[k] = m.predict(d.samples[idx[k]]); });
  const LossNormalisers norm(d, idx);
  std::vector<OutputDerivatives> dL(idx.size());
  double L = 0;
  for (std::size_t k = 0; k < idx.size(); ++k) {
    const Sample& s = d.samples[idx[k]];
    if (acc) acc->add(s, pred[k]);
    L += structure_loss(s, pred[k], norm, loss, w, dL[k]);
  }
  if (grad)
    models.for_each_gradient(idx.size(), *grad, [&](Model& m, std::size_t k, std::vector<double>& g) {
      m.accumulate_gradient(d.samples[idx[k]], dL[k].energy, dL[k].forces, dL[k].stress, g);
    });
  if (acc) acc->loss_sum += L * double(idx.size()), acc->loss_n += idx.size();
  return L;
}

/// loss_and_gradient with `model` alone (its own threads inside each structure).
template <class Model>
double loss_and_gradient(Model& model, const Dataset& d, const std::vector<std::size_t>& idx, const Loss& loss,
                         const LossWeights& w, std::vector<double>* grad, MetricsAccumulator* acc = nullptr) {
  ThreadModels<Model> alone(model, 1);
  return loss_and_gradient(alone, d, idx, loss, w, grad, acc);
}

/// Metrics of a whole dataset (the loss of each structure as a batch of its own), the structures
/// predicted one per model of `models`.
template <class Model>
Metrics evaluate_metrics(ThreadModels<Model>& models, const Dataset& d, const Loss& loss, const LossWeights& w) {
  std::vector<Prediction> pred(d.size());
  models.for_each(d.size(), [&](Model& m, std::size_t i) { pred[i] = m.predict(d.samples[i]); });
  MetricsAccumulator acc;
  for (std::size_t i = 0; i < d.size(); ++i) {
    const Sample& s = d.samples[i];
    OutputDerivatives unused;
    acc.add(s, pred[i]);
    acc.loss_sum += structure_loss(s, pred[i], LossNormalisers(d, {i}), loss, w, unused);
    ++acc.loss_n;
  }
  return acc.result();
}

/// evaluate_metrics with one model per host thread (copies of `model`).
template <class Model>
Metrics evaluate_metrics(Model& model, const Dataset& d, const Loss& loss, const LossWeights& w) {
  ThreadModels<Model> models(model);
  return evaluate_metrics(models, d, loss, w);
}

/// Refits the element reference energies by linear least squares on `d`: the change Δref that
/// best explains the energy residuals, E_label − E_model ≈ Σ_t n_t Δref_t (minimum-norm Δref
/// when the compositions do not determine it, e.g. one fixed stoichiometry). Element types
/// absent from `d` are left unchanged. Returns the RMS energy residual per atom after the refit.
/// The energies are predicted one structure per model of `models`, and every model gets the
/// refitted parameters.
template <class Model>
double refit_atomref(ThreadModels<Model>& models, const Dataset& d) {
  Model& model = models[0];
  const auto& info = model.parameters();
  const ParameterInfo* ar = nullptr;
  for (const auto& p : info)
    if (p.name == Model::atomref_name) ar = &p;
  if (!ar) throw ValueError("refit_atomref: the model has no element reference energies");
  const std::size_t nt = ar->size;
  std::vector<std::size_t> rows;
  for (std::size_t i = 0; i < d.size(); ++i)
    if (d.samples[i].energy) rows.push_back(i);
  if (rows.empty()) throw ValueError("refit_atomref: no structure has an energy label");
  Eigen::MatrixXd A = Eigen::MatrixXd::Zero(Eigen::Index(rows.size()), Eigen::Index(nt));
  Eigen::VectorXd y(Eigen::Index(rows.size()));
  models.for_each(rows.size(), [&](Model& m, std::size_t r) {
    const Sample& s = d.samples[rows[r]];
    y[Eigen::Index(r)] = *s.energy - m.predict(s).energy;
  });
  for (std::size_t r = 0; r < rows.size(); ++r)
    for (int t : model.types_of(d.samples[rows[r]])) A(Eigen::Index(r), t) += 1.0;
  std::vector<Eigen::Index> used;
  for (Eigen::Index t = 0; t < A.cols(); ++t)
    if (A.col(t).any()) used.push_back(t);
  Eigen::MatrixXd Au(A.rows(), Eigen::Index(used.size()));
  for (std::size_t j = 0; j < used.size(); ++j) Au.col(Eigen::Index(j)) = A.col(used[j]);
  const Eigen::VectorXd delta = Au.completeOrthogonalDecomposition().solve(y);
  auto p = model.get_parameters();
  for (std::size_t j = 0; j < used.size(); ++j) p[ar->offset + std::size_t(used[j])] += delta[Eigen::Index(j)];
  models.set_parameters(p);
  const Eigen::VectorXd res = y - Au * delta;
  double s = 0;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const double pa = res[Eigen::Index(r)] / double(d.samples[rows[r]].size());
    s += pa * pa;
  }
  return std::sqrt(s / double(rows.size()));
}

/// refit_atomref with one model per host thread (copies of `model`).
template <class Model>
double refit_atomref(Model& model, const Dataset& d) {
  ThreadModels<Model> models(model);
  return refit_atomref(models, d);
}

struct TrainOptions {
  int epochs = 10;
  std::size_t batch_size = 8;
  Loss loss;
  LossWeights weights;
  nn::AdamOptions adam;
  nn::LRSchedule::Kind schedule = nn::LRSchedule::Kind::cosine;
  double lr_min = 0.0;
  int step_size = 10;
  double step_gamma = 0.5;
  double clip_norm = 0.0;                ///< ≤ 0: no clipping
  std::vector<std::string> freeze;       ///< regex (ECMAScript, searched) on parameter names
  std::vector<std::string> train_only;   ///< if non-empty: everything not matching is frozen
  bool refit_atomref = false;
  int patience = 0;                      ///< early stopping: epochs without validation improvement (0 = off)
  bool restore_best = true;              ///< with a validation set: end with the best epoch's parameters
  std::uint64_t seed = 0;
  int threads = 0;                       ///< structures differentiated at once, one per thread (0: all host threads)
  bool progress = true;                  ///< progress bar on stderr
  std::string log_csv, log_json;         ///< per-epoch logs (empty: none)
};

struct EpochRecord {
  int epoch = 0;
  double lr = 0, seconds = 0, grad_norm = 0;
  Metrics train, valid;
};

struct TrainResult {
  Metrics initial_train, initial_valid, final_train, final_valid;
  std::vector<EpochRecord> history;
  int best_epoch = -1;
  bool stopped_early = false;
  double seconds_per_epoch = 0;
  double atomref_rms_after_refit = std::numeric_limits<double>::quiet_NaN();
  std::size_t trainable = 0, frozen = 0;
};

/// Mask over the flat parameters (1 = trainable) from freeze / train_only patterns.
template <class Model>
std::vector<char> trainable_mask(const Model& model, const TrainOptions& o, std::size_t* n_trainable = nullptr) {
  std::vector<char> mask(model.num_parameters(), 1);
  std::vector<std::regex> fr, only;
  try {
    for (const auto& p : o.freeze) fr.emplace_back(p);
    for (const auto& p : o.train_only) only.emplace_back(p);
  } catch (const std::regex_error& e) {
    throw ValueError(std::string("bad freeze/train-only pattern: ") + e.what());
  }
  std::size_t nt = 0;
  for (const auto& p : model.parameters()) {
    bool train = only.empty();
    for (const auto& r : only) train = train || std::regex_search(p.name, r);
    for (const auto& r : fr)
      if (std::regex_search(p.name, r)) train = false;
    std::fill(mask.begin() + std::ptrdiff_t(p.offset), mask.begin() + std::ptrdiff_t(p.offset + p.size), char(train));
    if (train) nt += p.size;
  }
  if (n_trainable) *n_trainable = nt;
  return mask;
}

template <class Model>
class Trainer {
 public:
  Trainer(Model& model, TrainOptions opt) : model_(model), opt_(std::move(opt)) {}

  /// Optional callback after every epoch (e.g. for custom logging).
  std::function<void(const EpochRecord&)> on_epoch;

  TrainResult fit(const Dataset& train, const Dataset& valid) {
    if (train.empty()) throw ValueError("Trainer: empty training set");
    TrainResult res;
    const std::vector<char> mask = trainable_mask(model_, opt_, &res.trainable);
    res.frozen = model_.num_parameters() - res.trainable;
    ThreadModels<Model> models(model_, opt_.threads);
    if (opt_.refit_atomref) res.atomref_rms_after_refit = refit_atomref(models, train);
    res.initial_train = evaluate_metrics(models, train, opt_.loss, opt_.weights);
    if (!valid.empty()) res.initial_valid = evaluate_metrics(models, valid, opt_.loss, opt_.weights);
    nn::LRSchedule sched;
    sched.kind = opt_.schedule;
    sched.lr0 = opt_.adam.lr;
    sched.lr_min = opt_.lr_min;
    sched.total_epochs = opt_.epochs;
    sched.step_size = opt_.step_size;
    sched.gamma = opt_.step_gamma;
    nn::Adam adam(model_.num_parameters(), opt_.adam);
    std::mt19937_64 rng(opt_.seed);
    std::vector<double> theta = model_.get_parameters(), grad(theta.size());
    std::vector<double> best = theta;
    double best_loss = valid.empty() ? 0 : res.initial_valid.loss;
    int since_best = 0;
    res.best_epoch = 0;
    std::ofstream csv;
    if (!opt_.log_csv.empty()) {
      csv.open(opt_.log_csv);
      if (!csv) throw IOError("cannot write '" + opt_.log_csv + "'");
      csv << "epoch,lr,seconds,grad_norm,train_loss,train_e_mae,train_f_mae,train_s_mae,val_loss,val_e_mae,"
             "val_e_rmse,val_f_mae,val_f_rmse,val_s_mae,val_s_rmse\n";
      log_csv_row(csv, 0, 0, 0, 0, res.initial_train, res.initial_valid);
    }
    double total_seconds = 0;
    for (int ep = 1; ep <= opt_.epochs; ++ep) {
      const auto t0 = std::chrono::steady_clock::now();
      const double lr = sched.at(ep - 1);
      adam.set_lr(lr);
      const auto batches = make_batches(train.size(), opt_.batch_size, true, rng);
      MetricsAccumulator acc;
      double gnorm = 0;
      for (std::size_t b = 0; b < batches.size(); ++b) {
        std::fill(grad.begin(), grad.end(), 0.0);
        loss_and_gradient(models, train, batches[b], opt_.loss, opt_.weights, &grad, &acc);
        gnorm = nn::clip_grad_norm(grad, opt_.clip_norm, mask);
        adam.step(theta, grad, mask);
        models.set_parameters(theta);
        if (opt_.progress) progress(ep, b + 1, batches.size(), acc.result().loss);
      }
      EpochRecord rec;
      rec.epoch = ep;
      rec.lr = lr;
      rec.grad_norm = gnorm;
      rec.train = acc.result();
      if (!valid.empty()) rec.valid = evaluate_metrics(models, valid, opt_.loss, opt_.weights);
      rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      total_seconds += rec.seconds;
      res.history.push_back(rec);
      if (opt_.progress)
        std::fprintf(stderr, "\repoch %d/%d  loss %.4g  val: E %.4g eV/atom  F %.4g eV/A  S %.4g eV/A^3  (%.1f s)\n", ep,
                     opt_.epochs, rec.train.loss, rec.valid.e_mae, rec.valid.f_mae, rec.valid.s_mae, rec.seconds);
      if (csv) log_csv_row(csv, ep, lr, rec.seconds, gnorm, rec.train, rec.valid);
      if (on_epoch) on_epoch(rec);
      if (!valid.empty()) {
        if (rec.valid.loss < best_loss) {
          best_loss = rec.valid.loss, best = theta, res.best_epoch = ep, since_best = 0;
        } else if (opt_.patience > 0 && ++since_best >= opt_.patience) {
          res.stopped_early = true;
          break;
        }
      }
    }
    if (!valid.empty() && opt_.restore_best && res.best_epoch != int(res.history.size())) models.set_parameters(best);
    if (valid.empty()) res.best_epoch = int(res.history.size());
    res.seconds_per_epoch = res.history.empty() ? 0 : total_seconds / double(res.history.size());
    res.final_train = evaluate_metrics(models, train, opt_.loss, opt_.weights);
    if (!valid.empty()) res.final_valid = evaluate_metrics(models, valid, opt_.loss, opt_.weights);
    if (!opt_.log_json.empty()) write_json(opt_.log_json, res);
    return res;
  }

  static nlohmann::json to_json(const TrainResult& r) {
    nlohmann::json h = nlohmann::json::array();
    for (const auto& e : r.history)
      h.push_back({{"epoch", e.epoch}, {"lr", e.lr}, {"seconds", e.seconds}, {"grad_norm", e.grad_norm},
                   {"train", e.train.to_json()}, {"valid", e.valid.to_json()}});
    return {{"initial_train", r.initial_train.to_json()}, {"initial_valid", r.initial_valid.to_json()},
            {"final_train", r.final_train.to_json()},     {"final_valid", r.final_valid.to_json()},
            {"best_epoch", r.best_epoch},                 {"stopped_early", r.stopped_early},
            {"seconds_per_epoch", r.seconds_per_epoch},   {"trainable_parameters", r.trainable},
            {"frozen_parameters", r.frozen},              {"history", h}};
  }

 private:
  static void log_csv_row(std::ofstream& csv, int ep, double lr, double sec, double gn, const Metrics& t, const Metrics& v) {
    csv << ep << ',' << lr << ',' << sec << ',' << gn << ',' << t.loss << ',' << t.e_mae << ',' << t.f_mae << ','
        << t.s_mae << ',' << v.loss << ',' << v.e_mae << ',' << v.e_rmse << ',' << v.f_mae << ',' << v.f_rmse << ','
        << v.s_mae << ',' << v.s_rmse << '\n';
    csv.flush();
  }
  static void write_json(const std::string& path, const TrainResult& r) {
    std::ofstream out(path);
    if (!out) throw IOError("cannot write '" + path + "'");
    out << to_json(r).dump(2) << '\n';
  }
  static void progress(int ep, std::size_t done, std::size_t total, double loss) {
    const int width = 30;
    const int filled = int(double(width) * double(done) / double(total));
    std::fprintf(stderr, "\repoch %d [%.*s%*s] %zu/%zu  loss %.4g", ep, filled, "##############################",
                 width - filled, "", done, total, loss);
    std::fflush(stderr);
  }

  Model& model_;
  TrainOptions opt_;
};

}  // namespace train
NERNST_NAMESPACE_END
