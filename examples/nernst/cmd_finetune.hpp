#pragma once
// `nernst finetune --model PATH --train DATA [--valid DATA] [--epochs N] [--lr X] [--weights e,f,s]
//  [--freeze PATTERN...] [--refit-atomref] --out PATH [--summary-json FILE]`: fine-tunes an M3GNet
// or TensorNet model directory, a CHGNet .pth.tar checkpoint or a MACE .model file on labelled
// structures (extxyz with ASE energy/forces/stress, or vasprun.xml) and writes the same format
// (matgl directory model.json + state.pt, CHGNet .pth.tar, MACE .model) that `nernst eval
// --model` and matgl/CHGNet/mace-torch load.

#include <CLI/CLI.hpp>

#include <nernst/core/error.hpp>
#include <nernst/potential/graphnet/chgnet.hpp>
#include <nernst/potential/graphnet/mace.hpp>
#include <nernst/potential/graphnet/m3gnet.hpp>
#include <nernst/potential/graphnet/tensornet.hpp>
#include <nernst/train/mace_trainable.hpp>
#include <nernst/train/trainer.hpp>

#include "model_choice.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace nernst::cli {

namespace detail_finetune {

/// Loads the trainable model `c` names and returns `fit(model)`; the rigid-ion potential has no
/// learned parameters and is refused.
template <class Fit>
train::TrainResult fit_model(const ModelChoice& c, graphnet::ThreeBodyMode mode, Fit&& fit) {
  switch (c.kind) {
    case ModelKind::chgnet: {
      train::CHGNetTrainable model(CHGNet::load(c.path));
      return fit(model);
    }
    case ModelKind::tensornet: {
      train::TensorNetTrainable model(TensorNet::load(c.path));
      return fit(model);
    }
    case ModelKind::m3gnet: {
      train::M3GNetTrainable model(M3GNet::load(c.path), mode);
      return fit(model);
    }
    case ModelKind::mace: {
      train::MACETrainable model(MACE::load(c.path));
      return fit(model);
    }
    default:
      throw NotSupported("finetune: " + c.name + " cannot be fine-tuned (use an M3GNet, TensorNet, CHGNet or MACE model)");
  }
}

/// Refuses, before any data is read, a model fit_model cannot train.
inline void require_trainable(const ModelChoice& c) {
  if (c.kind == ModelKind::rigid_ion)
    throw NotSupported("finetune: " + c.name + " has no learned parameters (use an M3GNet, TensorNet, CHGNet or MACE model)");
}

/// Refuses, before any training, an output path the architecture cannot write (MACE: a .model).
inline void require_output(const ModelChoice& c, const std::string& out) {
  if (c.kind == ModelKind::mace && std::filesystem::path(out).extension() != ".model")
    throw ValueError("finetune: a MACE model is written as a mace .model file; --out '" + out + "' must end in .model");
}

inline const char* architecture_name(ModelKind k) {
  switch (k) {
    case ModelKind::chgnet: return "CHGNet";
    case ModelKind::tensornet: return "TensorNet";
    case ModelKind::m3gnet: return "M3GNet";
    case ModelKind::mace: return "MACE";
    default: return "rigid-ion";
  }
}

}  // namespace detail_finetune

inline void add_finetune_command(CLI::App& app) {
  struct Opts {
    std::string model, out, summary, loss = "mse", schedule = "cosine", three_body = "matgl", weights = "1,1,0.1";
    std::vector<std::string> train, valid, freeze, train_only;
    double lr = 1e-3, lr_min = 0, wd = 0, clip = 0, delta = 0.1, val_fraction = 0.1, gamma = 0.5;
    int epochs = 10, patience = 0, step_size = 10;
    std::size_t batch = 4;
    std::uint64_t seed = 0;
    bool refit = false, adamw = false, quiet = false, float64 = false;
    std::string log_csv, log_json;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("finetune", "Fine-tune an M3GNet, TensorNet, CHGNet or MACE potential on labelled structures");
  sub->add_option("--model", o->model,
                  "matgl M3GNet or TensorNet model directory (model.json + state.pt), CHGNet .pth.tar file, MACE .model file, or 'default'")
      ->required();
  sub->add_option("--train", o->train, "training data: extxyz (ASE energy/forces/stress) or vasprun.xml")->required();
  sub->add_option("--valid", o->valid, "validation data (default: --val-fraction of --train)");
  sub->add_option("--val-fraction", o->val_fraction, "validation share split off --train when --valid is absent");
  sub->add_option("--out", o->out, "output: model directory (M3GNet, TensorNet), .pth.tar file (CHGNet) or .model file (MACE)")->required();
  sub->add_option("--epochs", o->epochs, "epochs");
  sub->add_option("--batch-size", o->batch, "structures per optimiser step");
  sub->add_option("--lr", o->lr, "initial learning rate");
  sub->add_option("--lr-min", o->lr_min, "cosine schedule floor");
  sub->add_option("--schedule", o->schedule, "constant | cosine | step");
  sub->add_option("--step-size", o->step_size, "step schedule: epochs per decay");
  sub->add_option("--gamma", o->gamma, "step schedule: decay factor");
  sub->add_option("--weights", o->weights, "loss weights energy,forces,stress (stress in GPa)");
  sub->add_option("--loss", o->loss, "mse | huber");
  sub->add_option("--huber-delta", o->delta, "Huber delta");
  sub->add_option("--weight-decay", o->wd, "weight decay (L2 for Adam, decoupled with --adamw)");
  sub->add_flag("--adamw", o->adamw, "AdamW (decoupled weight decay)");
  sub->add_option("--clip", o->clip, "clip the gradient norm (0: off)");
  sub->add_option("--freeze", o->freeze, "freeze parameters whose state_dict name matches (regex)");
  sub->add_option("--train-only", o->train_only, "train only parameters matching (regex)");
  sub->add_flag("--refit-atomref", o->refit, "refit element reference energies by least squares first");
  sub->add_option("--patience", o->patience, "early stopping patience in epochs (0: off)");
  sub->add_option("--seed", o->seed, "seed for the split and the batch order");
  sub->add_option("--three-body", o->three_body, "matgl | smooth (M3GNet only)");
  sub->add_option("--log-csv", o->log_csv, "per-epoch metrics as CSV");
  sub->add_option("--log-json", o->log_json, "per-epoch metrics as JSON");
  sub->add_option("--summary-json", o->summary, "summary (initial/final validation MAE, seconds per epoch)");
  sub->add_flag("--float64", o->float64, "store the fine-tuned tensors in float64 (default: the source dtype; MACE .model files keep their storages' dtype)");
  sub->add_flag("--quiet", o->quiet, "no progress bar");
  sub->callback([o]() {
    train::TrainOptions t;
    {
      std::vector<double> w;
      std::stringstream ss(o->weights);
      std::string item;
      while (std::getline(ss, item, ',')) w.push_back(std::stod(item));
      if (w.size() != 3) throw ValueError("--weights needs three numbers e,f,s");
      t.weights = {w[0], w[1], w[2]};
    }
    t.epochs = o->epochs;
    t.batch_size = o->batch;
    t.loss = train::Loss::parse(o->loss, o->delta);
    t.adam.lr = o->lr;
    t.adam.weight_decay = o->wd;
    t.adam.decoupled = o->adamw;
    t.schedule = nn::LRSchedule::parse(o->schedule);
    t.lr_min = o->lr_min;
    t.step_size = o->step_size;
    t.step_gamma = o->gamma;
    t.clip_norm = o->clip;
    t.freeze = o->freeze;
    t.train_only = o->train_only;
    t.refit_atomref = o->refit;
    t.patience = o->patience;
    t.seed = o->seed;
    t.progress = !o->quiet;
    t.log_csv = o->log_csv;
    t.log_json = o->log_json;
    const auto mode = o->three_body == "smooth" ? graphnet::ThreeBodyMode::smooth : graphnet::ThreeBodyMode::matgl;
    if (o->three_body != "smooth" && o->three_body != "matgl") throw ValueError("--three-body must be matgl or smooth");
    const ModelChoice choice = resolve_model(o->model);  // before reading the data: a bad --model fails fast
    detail_finetune::require_trainable(choice);
    detail_finetune::require_output(choice, o->out);

    train::Dataset all, valid;
    for (const auto& f : o->train) all.append(train::Dataset::read(f));
    for (const auto& f : o->valid) valid.append(train::Dataset::read(f));
    train::Dataset trainset = all;
    if (o->valid.empty() && o->val_fraction > 0) {
      auto s = train::split(all, o->val_fraction, 0.0, o->seed);
      trainset = std::move(s.train);
      valid = std::move(s.valid);
    }
    auto fit = [&](auto& model) {
      train::Trainer<std::decay_t<decltype(model)>> trainer(model, t);
      auto r = trainer.fit(trainset, valid);
      model.save(o->out, o->float64);
      return r;
    };
    const train::TrainResult res = detail_finetune::fit_model(choice, mode, fit);
    nlohmann::json j;
    auto efs = [](const train::Metrics& m) { return nlohmann::json{{"e", m.e_mae}, {"f", m.f_mae}, {"s", m.s_mae}}; };
    j["initial_val_mae"] = efs(res.initial_valid);
    j["final_val_mae"] = efs(res.final_valid);
    j["initial_train_mae"] = efs(res.initial_train);
    j["final_train_mae"] = efs(res.final_train);
    j["units"] = {{"e", "eV/atom"}, {"f", "eV/A"}, {"s", "eV/A^3"}};
    j["seconds_per_epoch"] = res.seconds_per_epoch;
    j["epochs_run"] = res.history.size();
    j["best_epoch"] = res.best_epoch;
    j["stopped_early"] = res.stopped_early;
    j["n_train"] = trainset.size();
    j["n_valid"] = valid.size();
    j["trainable_parameters"] = res.trainable;
    j["frozen_parameters"] = res.frozen;
    j["out"] = o->out;
    j["architecture"] = detail_finetune::architecture_name(choice.kind);
    if (o->refit) j["atomref_refit_rms_eV_per_atom"] = res.atomref_rms_after_refit;
    const std::string text = j.dump(2);
    if (!o->summary.empty()) {
      std::ofstream out(o->summary);
      if (!out) throw IOError("cannot write '" + o->summary + "'");
      out << text << '\n';
    }
    std::cout << text << std::endl;
  });
}

}  // namespace nernst::cli
