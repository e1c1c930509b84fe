#pragma once
/// \file
/// \brief What the graph-network potentials with Kokkos kernels (Potential<GraphNet<M3GNet>>,
/// Potential<GraphNet<CHGNet>>) share around their kernel: one process-wide lock for kernel
/// evaluations (kernel_launch_mutex), the kernel built on first use (LazyKernel), and the shape
/// of their compute_batch (compute_each, evaluate_batch_with).

#include <nernst/core/macros.hpp>
#include <nernst/core/system.hpp>
#include <nernst/potential/graphnet/compute_result.hpp>
#include <nernst/potential/potential.hpp>

#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {

/// The one lock that every graph-network kernel evaluation in the process holds (LazyKernel::run),
/// whatever the potential or its kernel: copies of a potential on several host threads
/// (BatchModelRanker, one copy per thread) would otherwise launch into the same execution space
/// instance (and its team scratch) at once. A function-local static of an inline non-template
/// function: one mutex per process (a static inside a member function template would be one per
/// instantiation, i.e. per lambda type, and exclude nothing else).
inline std::mutex& kernel_launch_mutex() {
  static std::mutex launch;
  return launch;
}

/// A potential's kernel, built on first use: its views need a running Kokkos, which a host-only
/// user (kernels off) may not have. `make` builds it; it is copied with the LazyKernel, so it must
/// hold what it needs by value (e.g. a shared_ptr to the read-only model), never the object that
/// holds the LazyKernel. Copying a LazyKernel copies the kernel too, as copying an
/// std::optional<Kernel> does: the kernels share their weights (views, read only) and give a copy
/// fresh per-evaluation arrays (FreshOnCopy), so copies evaluate independently.
template <class Kernel>
class LazyKernel {
 public:
  explicit LazyKernel(std::function<Kernel()> make) : make_(std::move(make)) {}

  /// Runs f(kernel), building the kernel first if needed, under kernel_launch_mutex(): one kernel
  /// evaluation at a time in the process. The host work around it (graph construction) still runs
  /// concurrently.
  template <class F>
  void run(F&& f) {
    if (!kernel_) kernel_.emplace(make_());
    const std::lock_guard<std::mutex> lock(kernel_launch_mutex());
    f(*kernel_);
  }

 private:
  std::function<Kernel()> make_;
  std::optional<Kernel> kernel_;
};

/// compute_batch without the kernels: result k is pot.compute(*systems[k], req), one after another.
template <class Pot, class MemorySpace>
std::vector<ComputeResult> compute_each(Pot& pot, const std::vector<System<MemorySpace>*>& systems,
                                        const ComputeRequest& req) {
  std::vector<ComputeResult> results;
  results.reserve(systems.size());
  for (System<MemorySpace>* sys : systems) results.push_back(pot.compute(*sys, req));
  return results;
}

/// compute_batch with the kernels: all Systems in one Kernel::evaluate_batch (one block-diagonal
/// graph). `fill(system k, batch[k])` puts System k's host data into the potential's entry
/// batch[k] (positions, types, graphs; `batch` is resized to one entry per System and kept between
/// calls, reusing its capacity) and returns the Kernel::Structure that refers to it. The outputs
/// go to `out` (one per System); result k is made from out[k] as compute() makes its result,
/// with `per_atom_energy` the output's per-atom energies (forces into systems[k]->f).
template <class Kernel, class Entry, class MemorySpace, class Output, class Fill>
std::vector<ComputeResult> evaluate_batch_with(LazyKernel<Kernel>& kernel, std::vector<Entry>& batch,
                                               const std::vector<System<MemorySpace>*>& systems,
                                               const ComputeRequest& req, std::vector<Output>& out,
                                               std::vector<double> Output::*per_atom_energy, Fill&& fill) {
  batch.resize(systems.size());
  std::vector<typename Kernel::Structure> structures;
  structures.reserve(systems.size());
  for (std::size_t k = 0; k < systems.size(); ++k) structures.push_back(fill(*systems[k], batch[k]));
  out.assign(systems.size(), Output());
  kernel.run([&](Kernel& kern) {
    kern.evaluate_batch(typename Kernel::execution_space(), structures.data(), structures.data() + structures.size(),
                        req.forces || req.stress, out.data());
  });
  std::vector<ComputeResult> results;
  results.reserve(systems.size());
  for (std::size_t k = 0; k < systems.size(); ++k)
    results.push_back(make_compute_result(*systems[k], req, out[k].energy, out[k].*per_atom_energy, out[k].forces,
                                          out[k].virial));
  return results;
}

}  // namespace graphnet
NERNST_NAMESPACE_END
