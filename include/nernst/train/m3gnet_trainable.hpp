#pragma once
/// \file
/// \brief M3GNet as a trainable model (MatglTrainable, matgl_trainable.hpp): the evaluator
/// instantiated with Dual<double> gives exact parameter gradients of energy, force and stress
/// losses by forward-over-reverse (docs/training.md).

#include <nernst/potential/graphnet/m3gnet.hpp>
#include <nernst/potential/graphnet/m3gnet_evaluator.hpp>
#include <nernst/potential/graphnet/m3gnet_model.hpp>
#include <nernst/train/matgl_trainable.hpp>

NERNST_NAMESPACE_BEGIN
namespace train {

/// M3GNet's pieces for MatglTrainable (the Dual evaluator keeps each block's inputs: training).
struct M3GNetArch {
  using Model = graphnet::M3GNetModel;
  template <class S>
  using Weights = graphnet::M3GNetWeights<S>;
  template <class S>
  using Evaluator = graphnet::M3GNetEvaluator<S>;
  using Output = graphnet::M3GNetOutput;
  static constexpr const char* name = "M3GNet";

  template <class S, class F>
  static void visit(Weights<S>& w, F&& f) { graphnet::visit_m3gnet_parameters(w, f); }
  static void sync(Weights<double>& w) { graphnet::sync_m3gnet_weights(w); }
  template <class S>
  static Weights<S> zero_gradients(const Weights<double>& w) { return graphnet::zero_m3gnet_gradients<S>(w); }
  static void prepare(Evaluator<nn::Dual<double>>& dual) { dual.set_training(true); }
};

/// `M3GNetTrainable m(M3GNet::load(dir), ThreeBodyMode::matgl)`.
using M3GNetTrainable = MatglTrainable<M3GNetArch>;

}  // namespace train
NERNST_NAMESPACE_END
