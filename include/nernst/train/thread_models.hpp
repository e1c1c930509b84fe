#pragma once
/// \file
/// \brief ThreadModels: one copy of a trainable model per host thread, so that the structures of
/// a fine-tuning batch are predicted and differentiated together, one structure per thread.
///
/// Why copies: a trainable model keeps its evaluators' buffers and the forward pass's saved
/// activations, which its reverse pass reads, so one object differentiates one structure at a
/// time. Why one structure per thread rather than each structure over all threads: the parameter
/// gradients run on one chunk (each parameter sum has one writer, docs/threads.md), so a
/// structure's gradient uses one thread whatever the thread count; whole structures per thread
/// is the batch's parallelism.
///
/// Determinism: with more than one copy every structure runs the serial code (each copy works
/// inside a plain OpenMP region, where Kokkos and the graph networks run one chunk), and
/// for_each_gradient gives each structure a gradient of its own, added to the batch's in
/// structure order. A batch's loss and gradient are therefore bitwise the same from run to run
/// and at every thread count (the one-model pool calls the model directly; with one thread that
/// is the serial code too).
///
/// The copies are made once (the model's copy constructor: the copies share the graph cache,
/// trainable.hpp) and kept in step by set_parameters. Copy 0 is the caller's model itself.

#include <nernst/nn/row_chunks.hpp>

#include <algorithm>
#include <cstddef>
#include <exception>
#include <memory>
#include <type_traits>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

NERNST_NAMESPACE_BEGIN
namespace train {

template <class Model>
class ThreadModels {
 public:
  /// `threads` copies of `model` (model itself the first); 0: nn::host_threads(). A model that
  /// cannot be copied gets a pool of one.
  explicit ThreadModels(Model& model, int threads = 0) : model_(&model) {
    const int t = threads > 0 ? threads : nn::host_threads();
    if constexpr (std::is_copy_constructible_v<Model>)
      for (int k = 1; k < t; ++k) copies_.push_back(std::make_unique<Model>(model));
  }

  /// Models in the pool (threads working at once).
  std::size_t size() const { return copies_.size() + 1; }

  /// Model k of the pool: 0 is the caller's.
  Model& operator[](std::size_t k) { return k == 0 ? *model_ : *copies_[k - 1]; }

  /// Sets the parameters of every model of the pool (the trainer's step).
  void set_parameters(const std::vector<double>& p) {
    for (std::size_t k = 0; k < size(); ++k) (*this)[k].set_parameters(p);
  }

  /// f(model, i) for every i in [0, n), each by one model of the pool (i in any order, several at
  /// once); rethrows the error of the lowest i that failed, after all have run.
  ///
  /// Item i goes to model i % t (t = min(size(), n)): the models work in one OpenMP region, thread
  /// k taking the items k, k + t, ... with model k. A pool of one calls its model on this thread
  /// (with the model's own threads); a larger pool always runs in a region, even for one item, so
  /// that every item runs the serial code whatever the batch.
  template <class F>
  void for_each(std::size_t n, F&& f) {
    std::vector<std::exception_ptr> errors(n);
    auto item = [&](Model& m, std::size_t i) {
      try {
        f(m, i);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    };
    const std::size_t t = std::max<std::size_t>(1, std::min(size(), n));
    if (size() == 1) {
      for (std::size_t i = 0; i < n; ++i) item((*this)[0], i);
    } else {
#if defined(_OPENMP)
#pragma omp parallel num_threads(static_cast<int>(t))
      {
        const auto k = static_cast<std::size_t>(omp_get_thread_num());
        // A region may get fewer threads than asked (OMP_THREAD_LIMIT, nesting): a thread then
        // also takes the items of the threads it lacks, with their models.
        const auto got = static_cast<std::size_t>(omp_get_num_threads());
        for (std::size_t w = k; w < t; w += got)
          for (std::size_t i = w; i < n; i += t) item((*this)[w], i);
      }
#else
      for (std::size_t i = 0; i < n; ++i) item((*this)[i % t], i);
#endif
    }
    for (auto& e : errors)
      if (e) std::rethrow_exception(e);
  }

  /// Gradients of n structures summed into `grad` (length `params`) in the order 0..n-1:
  /// f(model, i, g) adds structure i's gradient to g, which starts at zero. The structures run in
  /// waves of size() (one gradient buffer per model: memory size() × params, not n × params), and
  /// each wave's buffers are added to `grad` in structure order. A failing structure's error is
  /// rethrown after its wave.
  template <class F>
  void for_each_gradient(std::size_t n, std::vector<double>& grad, F&& f) {
    buffers_.resize(size());
    for (std::size_t first = 0; first < n; first += size()) {
      const std::size_t m = std::min(size(), n - first);
      for (std::size_t k = 0; k < m; ++k) buffers_[k].assign(grad.size(), 0.0);
      for_each(m, [&](Model& model, std::size_t k) { f(model, first + k, buffers_[k]); });
      add_in_order(m, grad);
    }
  }

 private:
  // grad += buffers_[0] + ... in that order, element by element (split over threads by element:
  // each element's sum keeps its order).
  void add_in_order(std::size_t m, std::vector<double>& grad) {
    const auto p = static_cast<std::ptrdiff_t>(grad.size());
    double* g = grad.data();
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) num_threads(static_cast<int>(size())) if (size() > 1 && p > 65536)
#endif
    for (std::ptrdiff_t j = 0; j < p; ++j)
      for (std::size_t k = 0; k < m; ++k) g[j] += buffers_[k][static_cast<std::size_t>(j)];
  }

  Model* model_;
  std::vector<std::unique_ptr<Model>> copies_;
  std::vector<std::vector<double>> buffers_;
};

}  // namespace train
NERNST_NAMESPACE_END
