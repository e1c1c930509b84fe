#pragma once
/// \file
/// \brief TensorNet as a trainable model (MatglTrainable, matgl_trainable.hpp): the same
/// interface and method as M3GNetTrainable. TensorNetEvaluator<Dual<double>> carries the loss's
/// geometry tangent through the edge geometry (distances, directions, radial basis, cosine
/// cutoff) and the network, and its parameter reverse pass in Dual gives dL/dθ of energy, force
/// and stress losses (docs/training.md). The parameters are every tensor
/// visit_tensornet_parameters walks (embedding, interaction layers, output norm, linear, gated
/// readout) plus the element reference energies; data_mean and data_std stay fixed.

#include <nernst/potential/graphnet/tensornet.hpp>
#include <nernst/potential/graphnet/tensornet_evaluator.hpp>
#include <nernst/potential/graphnet/tensornet_model.hpp>
#include <nernst/train/matgl_trainable.hpp>

NERNST_NAMESPACE_BEGIN
namespace train {

/// TensorNet's pieces for MatglTrainable.
struct TensorNetArch {
  using Model = graphnet::TensorNetModel;
  template <class S>
  using Weights = graphnet::TensorNetWeights<S>;
  template <class S>
  using Evaluator = graphnet::TensorNetEvaluator<S>;
  using Output = graphnet::TensorNetOutput;
  static constexpr const char* name = "TensorNet";

  template <class S, class F>
  static void visit(Weights<S>& w, F&& f) { graphnet::visit_tensornet_parameters(w, f); }
  static void sync(Weights<double>& w) { graphnet::sync_tensornet_weights(w); }
  template <class S>
  static Weights<S> zero_gradients(const Weights<double>& w) { return graphnet::zero_tensornet_gradients<S>(w); }
  static void prepare(Evaluator<nn::Dual<double>>&) {}  // needs no training mode
};

/// `TensorNetTrainable m(TensorNet::load(dir))`.
using TensorNetTrainable = MatglTrainable<TensorNetArch>;

}  // namespace train
NERNST_NAMESPACE_END
