#pragma once
/// \file
/// \brief relax_together: many independent FIRE relaxations advanced in lockstep, one batched
/// force evaluation per optimizer step.
///
/// ```
/// // the 20 best orderings, 2 at a time on 2 host threads (HostBatch), each saved when it ends
/// relax_together(model, 20, 2, HostBatch{}, ro,
///                [&](std::size_t k) { return System<>::from_structure(ordering[k]); },
///                [&](std::size_t k, System<>& sys, const RelaxResult& r) { save(k, sys, r); });
/// ```
///
/// Why: the pipeline's top-K relaxations and the model ranking's best N are independent
/// relaxations of small cells, where one graph split over threads gains little (docs/threads.md).
/// Here `slots` relaxations are active at once; every optimizer step evaluates all of them in ONE
/// call of a batch evaluator (potential/batch_evaluation.hpp: HostBatch, one relaxation per host
/// thread; GraphBatch, one compute_batch — one block-diagonal graph on a GPU). Relaxations end at
/// different steps: a finished relaxation's slot takes the next structure at once, so the batch
/// stays full until the queue is empty.
///
/// Every relaxation is bitwise Optimizer<FIRE>::run of its structure alone on one thread (inside
/// on_one_thread) with HostBatch (and with GraphBatch on a device), whatever the slots and the
/// order in which relaxations end: its evaluations are the serial code's (the batch concept's
/// guarantee) and its FIRE arithmetic is its own. A potential whose copies share arrays
/// (has_independent_copies false: the pair potentials' neighbour lists) gets one slot: its
/// relaxations run one after another, as before.
///
/// Errors: a relaxation that throws (non-finite forces, a degenerate cell, a structure the model
/// refuses) is set aside and its slot goes on with the next structure; when all have ended,
/// ValueError names every failed one ("relaxation <k>: why"). `finished` has been called for all
/// the others by then, so their results are kept.

#include <nernst/core/error.hpp>
#include <nernst/core/one_thread.hpp>
#include <nernst/optimize/fire.hpp>
#include <nernst/potential/batch_evaluation.hpp>

#include <algorithm>
#include <cstddef>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

NERNST_NAMESPACE_BEGIN

namespace detail {

/// One slot of relax_together: its own copy of the potential (kept from one structure to the
/// next: its work arrays stay allocated) and the active relaxation — structure `task`, its System
/// (the relaxation refers to it, so the relaxation is held by unique_ptr and never moves).
template <class Pot>
struct RelaxSlot {
  struct Active {
    Active(std::size_t k, System<typename Pot::memory_space> s, const FIRE& fire, const RelaxOptions& o)
        : task(k), system(std::move(s)), relaxation(system, fire, o) {}
    std::size_t task;
    System<typename Pot::memory_space> system;
    FireRelaxation<typename Pot::memory_space> relaxation;
  };
  explicit RelaxSlot(const Pot& p) : potential(p) {}
  Pot potential;
  std::unique_ptr<Active> active;  // empty: no structure left for this slot
};

/// The message of an exception_ptr.
inline std::string what_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "unknown error";
  }
}

}  // namespace detail

/// Relaxes structures 0 … count−1 with FIRE (`fire`, `o`), `slots` at a time in lockstep, one
/// `batch` call per step (see the file comment). `make_system(k)` gives structure k's System
/// when a slot opens for it; `finished(k, system, result)` is called as relaxation k ends (in the
/// order they end, on the calling thread), with the System as last evaluated. Each slot holds
/// its own copy of `pot` for all its structures (HostBatch runs copies on different threads;
/// GraphBatch evaluates with its own potential and uses them only to name a failing relaxation).
template <class Pot, class Batch, class MakeSystem, class Finished>
void relax_together(const Pot& pot, std::size_t count, std::size_t slots, const Batch& batch, const RelaxOptions& o,
                    MakeSystem&& make_system, Finished&& finished, const FIRE& fire = {}) {
  NERNST_STATIC_ASSERT_POTENTIAL(Pot);
  if (slots == 0) throw ValueError("relax_together: need at least one slot");
  if (slots > 1 && !has_independent_copies<Pot>::value)
    throw ValueError("relax_together: copies of this potential share their arrays (a pair potential's neighbour list); "
                     "relax with one slot");
  (void)Optimizer<FIRE>(fire);  // validates the FIRE parameters
  using Slot = detail::RelaxSlot<Pot>;
  std::vector<Slot> slot;  // never reallocated: the jobs point at its potentials
  slot.reserve(std::min(slots, count));
  while (slot.size() < std::min(slots, count)) slot.emplace_back(pot);
  std::vector<std::pair<std::size_t, std::string>> failed;
  std::size_t next = 0;
  // Gives slot i the next structure that starts (one whose System or options are refused fails
  // at once), or empties it when none is left.
  const auto refill = [&](std::size_t i) {
    slot[i].active.reset();
    while (next < count) {
      const std::size_t k = next++;
      try {
        slot[i].active = std::make_unique<typename Slot::Active>(k, make_system(k), fire, o);
        return;
      } catch (const std::exception& e) {
        failed.emplace_back(k, e.what());
      }
    }
  };
  for (std::size_t i = 0; i < slot.size(); ++i) refill(i);

  for (;;) {
    std::vector<std::size_t> live;
    std::vector<ForceJob<Pot>> jobs;
    for (std::size_t i = 0; i < slot.size(); ++i) {
      if (!slot[i].active) continue;
      typename Slot::Active& a = *slot[i].active;
      a.relaxation.prepare();
      live.push_back(i);
      jobs.push_back({&slot[i].potential, &a.system, a.relaxation.request(), {}, nullptr});
    }
    if (live.empty()) break;
    batch(jobs);
    // The FIRE steps on this thread alone (as the relaxation alone in on_one_thread).
    on_one_thread([&] {
      for (std::size_t j = 0; j < live.size(); ++j) {
        const std::size_t i = live[j];
        typename Slot::Active& a = *slot[i].active;
        try {
          if (jobs[j].error) std::rethrow_exception(jobs[j].error);
          if (!a.relaxation.take(jobs[j].result)) {
            a.relaxation.advance();
            continue;
          }
          finished(a.task, a.system, a.relaxation.result());
        } catch (...) {
          failed.emplace_back(a.task, detail::what_of(std::current_exception()));
        }
        refill(i);
      }
    });
  }
  if (failed.empty()) return;
  std::sort(failed.begin(), failed.end());
  std::string msg = "relax_together: " + std::to_string(failed.size()) + " of " + std::to_string(count) + " relaxations failed";
  for (const auto& [k, why] : failed) msg += "; relaxation " + std::to_string(k) + ": " + why;
  throw ValueError(msg);
}

NERNST_NAMESPACE_END
