#pragma once
/// \file
/// \brief ModelRanker: the static energy of an ordering with any potential (the graph networks
/// M3GNet/CHGNet/TensorNet, or a cheap pair potential in tests), on the ideal (unrelaxed)
/// positions of the enumerated supercell. This is the ranking energy of `nernst enumerate
/// --rank model`: unlike the Ewald energy of formal point charges it sees the model's own
/// chemistry, so an ordering that only relaxes well (the LYC P-3c1 ground state) is not
/// discarded before the model ever sees it.
///
/// Each call builds the structure (Enumerator::to_structure), a System and calls
/// `compute` without forces or stress (the graph networks then skip their backward pass). On
/// several host threads a graph network ranks batches of orderings, one ordering per thread at a
/// time (BatchModelRanker); otherwise the potential's own threading (row_chunks.hpp) splits each.

#include <nernst/enumerate/enumerator.hpp>
#include <nernst/enumerate/static_screen.hpp>
#include <nernst/nn/row_chunks.hpp>
#include <nernst/potential/potential.hpp>

#include <algorithm>
#include <exception>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

NERNST_NAMESPACE_BEGIN
namespace enumerate {

template <class Pot>
class ModelRanker {
 public:
  using memory_space = typename Pot::memory_space;

  /// `ag`: the supercell (Enumerator<HNF>::active_group); both must outlive the ranker.
  ModelRanker(const Enumerator<HNF>& e, const Enumerator<HNF>::ActiveGroup& ag, Pot& pot) : e_(e), ag_(ag), pot_(pot) {
    NERNST_STATIC_ASSERT_POTENTIAL(Pot);
  }

  /// The ordered supercell of a labeling (vacancies omitted).
  Structure structure(const Label* labels) const {
    Derivative d;
    d.index = ag_.group.n;
    d.group = &ag_.group;
    d.active = &ag_.active;
    d.labels = labels;
    return e_.to_structure(d);
  }

  /// Static (unrelaxed) energy of a labeling.
  StaticEnergy energy(const Label* labels) {
    const Structure s = structure(labels);
    auto sys = System<memory_space>::from_structure(s);
    ComputeRequest req;
    req.forces = false;
    const ComputeResult r = pot_.compute(sys, req);
    return {r.energy, static_cast<int>(s.size())};
  }
  StaticEnergy operator()(const Label* labels) { return energy(labels); }

 private:
  const Enumerator<HNF>& e_;
  const Enumerator<HNF>::ActiveGroup& ag_;
  Pot& pot_;
};

namespace detail {

/// Runs task(c) for c = 0 .. n-1, each on its own OpenMP thread (one after another without
/// OpenMP), and rethrows the first task's exception. Deliberately not a Kokkos kernel: a task
/// builds Systems, and allocating a Kokkos view fences the host execution space, which inside a
/// Kokkos parallel region waits for that region forever. Inside a plain OpenMP region Kokkos runs
/// such work serially on the calling thread (as in a forked worker, workflow::on_one_thread), and
/// the graph networks see one host thread (nn::host_threads).
template <class Task>
void run_on_host_threads(int n, const Task& task) {
  std::vector<std::exception_ptr> failed(static_cast<std::size_t>(std::max(n, 0)));
  const auto one = [&](int c) {
    try {
      task(c);
    } catch (...) {
      failed[static_cast<std::size_t>(c)] = std::current_exception();
    }
  };
#if defined(_OPENMP)
  if (n > 1) {
#pragma omp parallel for num_threads(n) schedule(static, 1)
    for (int c = 0; c < n; ++c) one(c);
  } else {
    for (int c = 0; c < n; ++c) one(c);
  }
#else
  for (int c = 0; c < n; ++c) one(c);
#endif
  for (const auto& f : failed)
    if (f) std::rethrow_exception(f);
}

}  // namespace detail

/// Static energies of many orderings at once: one copy of the potential per host thread, each
/// evaluating a contiguous share of the batch (detail::run_on_host_threads). Inside a chunk a graph network
/// runs its serial code (one thread), so every energy is bitwise the one-thread energy of that
/// ordering, whatever the thread count; with small cells this keeps every core busy where
/// splitting one 60-atom graph over threads cannot (docs/threads.md). Needs a potential whose
/// copies share nothing (has_independent_copies).
template <class Pot>
class BatchModelRanker {
  static_assert(has_independent_copies<Pot>::value,
                "BatchModelRanker: copies of this potential share state (Kokkos views); rank one ordering at a time");

 public:
  BatchModelRanker(const Enumerator<HNF>& e, const Enumerator<HNF>::ActiveGroup& ag, const Pot& pot, int threads)
      : e_(e), ag_(ag), pots_(static_cast<std::size_t>(std::max(1, threads)), pot), threads_(std::max(1, threads)) {}

  /// Orderings per batch: a few per thread (each thread takes a contiguous share), so that one
  /// parallel region serves several orderings while a kill still loses at most one batch.
  std::size_t preferred_batch() const { return 4 * static_cast<std::size_t>(threads_); }

  std::vector<StaticEnergy> operator()(const OrderingBatch& batch) {
    std::vector<StaticEnergy> out(batch.size());
    const std::size_t n = batch.size(), parts = std::min<std::size_t>(static_cast<std::size_t>(threads_), n);
    detail::run_on_host_threads(static_cast<int>(parts), [&](int c) {
      ModelRanker<Pot> ranker(e_, ag_, pots_[static_cast<std::size_t>(c)]);
      const std::size_t r0 = n * static_cast<std::size_t>(c) / parts, r1 = n * static_cast<std::size_t>(c + 1) / parts;
      for (std::size_t r = r0; r < r1; ++r) out[r] = ranker.energy(batch.labels[r].data());
    });
    return out;
  }

 private:
  const Enumerator<HNF>& e_;
  const Enumerator<HNF>::ActiveGroup& ag_;
  std::vector<Pot> pots_;
  int threads_;
};

/// Static energies of many orderings in one evaluation: the batch's structures go to the
/// potential's compute_batch together (potential.hpp's batch evaluation; M3GNet's kernels: one
/// block-diagonal graph). The screen on a GPU: a 60-atom cell alone leaves the device nearly idle,
/// a few hundred of them fill it. Energies are each ordering's own (bitwise on a device).
template <class Pot>
class GraphBatchModelRanker {
  static_assert(has_batch_compute<Pot>::value, "GraphBatchModelRanker: the potential has no compute_batch");

 public:
  using memory_space = typename Pot::memory_space;

  GraphBatchModelRanker(const Enumerator<HNF>& e, const Enumerator<HNF>::ActiveGroup& ag, Pot& pot)
      : ranker_(e, ag, pot), pot_(pot) {}

  /// Orderings per evaluation: 256 cells of a few dozen atoms, ~10⁴ atoms, where one H100 is busy.
  static constexpr std::size_t preferred_batch() { return 256; }

  std::vector<StaticEnergy> operator()(const OrderingBatch& batch) {
    std::vector<System<memory_space>> systems;
    std::vector<System<memory_space>*> pointers;
    std::vector<StaticEnergy> out(batch.size());
    systems.reserve(batch.size());
    for (std::size_t r = 0; r < batch.size(); ++r) {
      const Structure s = ranker_.structure(batch.labels[r].data());
      systems.push_back(System<memory_space>::from_structure(s));
      out[r].atoms = static_cast<int>(s.size());
    }
    for (auto& s : systems) pointers.push_back(&s);
    ComputeRequest req;
    req.forces = false;
    const auto results = pot_.compute_batch(pointers, req);
    for (std::size_t r = 0; r < batch.size(); ++r) out[r].energy = results[r].energy;
    return out;
  }

 private:
  ModelRanker<Pot> ranker_;
  Pot& pot_;
};

/// The screen by the model over one supercell: every ordering, or only the `prefilter_ewald`
/// lowest by Ewald energy (the cheap pre-filter; 0 = none, the default).
struct ModelScreenOptions {
  std::size_t prefilter_ewald = 0;
  std::vector<double> label_charges;  ///< per label, for the pre-filter (OrderingModel::label_charges)
  EwaldParameters ewald;
  ScreenOptions screen;
  /// Orderings per batch: evaluated together on the host threads (BatchModelRanker), or in one
  /// evaluation by a potential whose compute_batch merges them (GraphBatchModelRanker: M3GNet or
  /// CHGNet with their kernels, the default on a GPU). 0 picks one when there are several threads or such a
  /// potential, 1 ranks one at a time (the potential's own threading splits each structure).
  std::size_t batch = 0;
};

namespace detail {
/// The static screen of one stream of orderings: in one evaluation per batch when the potential
/// merges batches (batched()), else batched over host threads (one potential copy per thread) when
/// the potential's copies are independent and there is more than one thread, else one ordering at
/// a time. A function, not a generic lambda: nvcc 11 instantiates a discarded `if constexpr`
/// branch inside a generic lambda.
template <class Pot, class Stream>
ScreenResult screen_stream(Stream&& stream, const Enumerator<HNF>& e, const Enumerator<HNF>::ActiveGroup& ag, Pot& pot,
                           std::uint64_t candidates, std::uint64_t orderings, const ModelScreenOptions& o) {
  if constexpr (has_batch_compute<Pot>::value) {
    if (o.batch != 1 && pot.batched()) {
      GraphBatchModelRanker<Pot> merged(e, ag, pot);
      const std::size_t b = o.batch > 1 ? o.batch : merged.preferred_batch();
      return run_static_screen_batched(stream, merged, b, candidates, orderings, o.screen);
    }
  }
  if constexpr (has_independent_copies<Pot>::value) {
    const int threads = nn::host_threads();
    if (o.batch != 1 && (o.batch > 1 || threads > 1)) {
      BatchModelRanker<Pot> batched(e, ag, pot, threads);
      const std::size_t b = o.batch > 1 ? o.batch : batched.preferred_batch();
      return run_static_screen_batched(stream, batched, b, candidates, orderings, o.screen);
    }
  }
  ModelRanker<Pot> ranker(e, ag, pot);
  return run_static_screen(stream, ranker, candidates, orderings, o.screen);
}
}  // namespace detail

/// Streams the orderings of supercell `hnf` through ModelRanker into run_static_screen;
/// `orderings`: how many the supercell has (the Burnside count), for the counters and the ETA.
template <class Pot>
ScreenResult model_screen(const Enumerator<HNF>& e, const IMat3& hnf, Pot& pot, std::uint64_t orderings,
                          const ModelScreenOptions& o) {
  const auto ag = e.active_group(hnf);
  if (o.prefilter_ewald == 0) return detail::screen_stream(enumeration_stream(e, hnf), e, ag, pot, orderings, orderings, o);
  const EwaldRanker ewald(e, ag.group, ag.active, o.label_charges, o.ewald);
  auto list = ewald_prefilter(e, hnf, ewald, o.prefilter_ewald);
  const std::uint64_t k = list.size();
  return detail::screen_stream(candidate_stream(std::move(list)), e, ag, pot, k, orderings, o);
}

}  // namespace enumerate
NERNST_NAMESPACE_END
