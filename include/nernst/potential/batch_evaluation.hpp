#pragma once
/// \file
/// \brief Batch evaluation: the force evaluations of many independent Systems in one call —
/// `HostBatch` (one System per host thread) or `GraphBatch` (one compute_batch: one block-diagonal
/// graph, how small cells fill a GPU).
///
/// Who uses it: md::Replicas (K simulations in lockstep, one batch per MD step) and
/// relax_together (optimize/relax_together.hpp: many FIRE relaxations in lockstep, one batch per
/// optimizer step). Both rest on the guarantee below: every job's result is bitwise what the
/// potential gives that System alone on one thread, so each replica or relaxation equals its run
/// alone however many share a call.

#include <nernst/core/error.hpp>
#include <nernst/core/one_thread.hpp>
#include <nernst/core/system.hpp>
#include <nernst/nn/row_chunks.hpp>
#include <nernst/potential/potential.hpp>

#include <algorithm>
#include <exception>
#include <memory>
#include <type_traits>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

NERNST_NAMESPACE_BEGIN

/// One force evaluation of a batch: `potential->compute(*system, request)`, its result, or what
/// it threw.
template <class Pot>
struct ForceJob {
  Pot* potential = nullptr;
  System<typename Pot::memory_space>* system = nullptr;
  ComputeRequest request;
  ComputeResult result;
  std::exception_ptr error;
};

namespace detail {

/// Evaluates one job, keeping what it throws in the job.
template <class Pot>
void run_job(ForceJob<Pot>& j) {
  try {
    j.result = j.potential->compute(*j.system, j.request);
  } catch (...) {
    j.error = std::current_exception();
  }
}

}  // namespace detail

/// **Batch evaluation concept** (what md::Replicas calls once per MD step with one job per replica,
/// and relax_together once per FIRE step with one job per active relaxation):
/// ```
/// template <class Pot> void operator()(std::vector<ForceJob<Pot>>& jobs) const;
/// ```
/// fills every job's result (the potential writes the forces into job.system->f) or its error.
/// Each result must be bitwise what `compute` gives for that job alone on one thread: the callers'
/// guarantee (each replica or relaxation equals its run alone) rests on it.
///
/// HostBatch, the host's: one job per host thread at a time (plain OpenMP threads, not a Kokkos
/// kernel: an evaluation allocates Views, and a View allocation inside a Kokkos dispatch waits
/// for that dispatch forever; see enumerate::BatchModelRanker). Inside the OpenMP region Kokkos
/// runs a job's kernels serially and a graph network its serial code. Jobs run concurrently only
/// when copies of the potential share nothing (has_independent_copies: the graph networks);
/// otherwise, and for potentials on a device memory space, one after another. A device batch
/// evaluator would instead merge the jobs into one block-diagonal graph in this same call.
struct HostBatch {
  int threads = 0;  ///< host threads; 0: nn::host_threads() (OMP_NUM_THREADS, set_host_thread_limit)

  template <class Pot>
  void operator()(std::vector<ForceJob<Pot>>& jobs) const {
    using ES = typename Pot::memory_space::execution_space;
    const int n = static_cast<int>(jobs.size());
    if constexpr (!std::is_same_v<ES, Kokkos::DefaultHostExecutionSpace>) {
      for (auto& j : jobs) detail::run_job(j);  // device kernels: launched from this thread
    } else if constexpr (!has_independent_copies<Pot>::value) {
      on_one_thread([&] {
        for (auto& j : jobs) detail::run_job(j);
      });
    } else {
      const int t = std::max(1, std::min(threads > 0 ? threads : nn::host_threads(), n));
      run_concurrently(jobs, t);
    }
  }

 private:
  template <class Pot>
  static void run_concurrently(std::vector<ForceJob<Pot>>& jobs, int t) {
    const int n = static_cast<int>(jobs.size());
#if defined(_OPENMP)
    // One region even with t = 1: its thread runs the jobs serially, as on_one_thread does.
#pragma omp parallel for num_threads(t) schedule(static, 1)
    for (int k = 0; k < n; ++k) detail::run_job(jobs[static_cast<std::size_t>(k)]);
#else
    (void)t;
    for (int k = 0; k < n; ++k) detail::run_job(jobs[static_cast<std::size_t>(k)]);
#endif
  }
};

/// The jobs one after another on the calling thread, each with every thread of the back end (as
/// `compute` alone): a single job's evaluation (run_resumable_protocol), and the evaluator of
/// potentials whose copies share arrays, where HostBatch would run them on one thread.
struct InlineBatch {
  template <class Pot>
  void operator()(std::vector<ForceJob<Pot>>& jobs) const {
    for (auto& j : jobs) detail::run_job(j);
  }
};

/// The device's batch evaluator: every step's K force evaluations are ONE call of a potential's
/// compute_batch (potential.hpp's batch evaluation; M3GNet's kernels: one block-diagonal graph of
/// the K Systems), which is how small cells fill a GPU. `potential` evaluates every job — when it
/// is empty, the first job's own potential does (md::Replicas: replica 0's, so that no potential
/// is made for the batch alone) — so the jobs must run the same model (their own potential
/// objects otherwise serve only a call that fails: the jobs are then evaluated one by one with
/// them, so that the error names its job). On a device
/// each job gets bitwise its own evaluation (the concept's guarantee holds); on host threads with
/// the graph networks' kernels, the same to rounding (use HostBatch there: it is the host's default).
template <class Pot>
struct GraphBatch {
  static_assert(has_batch_compute<Pot>::value, "GraphBatch: the potential has no compute_batch");
  std::shared_ptr<Pot> potential;

  void operator()(std::vector<ForceJob<Pot>>& jobs) const {
    if (jobs.empty()) return;
    Pot* const evaluator = potential ? potential.get() : jobs.front().potential;
    if (!evaluator) throw ValueError("GraphBatch: no potential");
    std::vector<System<typename Pot::memory_space>*> systems;
    bool same_request = true;
    for (const auto& j : jobs) {
      systems.push_back(j.system);
      same_request = same_request && j.request.forces == jobs[0].request.forces &&
                     j.request.stress == jobs[0].request.stress &&
                     j.request.per_atom_energy == jobs[0].request.per_atom_energy;
    }
    if (!same_request) throw ValueError("GraphBatch: jobs with different requests cannot share an evaluation");
    try {
      auto results = evaluator->compute_batch(systems, jobs[0].request);
      for (std::size_t k = 0; k < jobs.size(); ++k) jobs[k].result = std::move(results[k]);
    } catch (...) {
      for (auto& j : jobs) detail::run_job(j);  // find which job fails, each with its own potential
    }
  }
};


NERNST_NAMESPACE_END
