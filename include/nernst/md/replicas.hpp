#pragma once
/// \file
/// \brief Replicas<Ensemble, Potential>: K independent MD simulations advanced in lockstep, with
/// one batched force evaluation per step.
///
/// ```
/// using E = md::Ensemble<md::NVT, md::NoseHoover>;
/// using P = Potential<GraphNet<M3GNet>, float>;
/// const P model(M3GNet::load(model_dir));
/// md::Replicas<E, P> set;
/// for (double T : {600.0, 700.0, 800.0}) {
///   md::SimulationOptions o{1.0};
///   o.checkpoint = "T" + std::to_string(int(T)) + ".ckpt";
///   auto& sim = set.add(System<>::from_structure(s), model, E({T, 100.0}), o, "T" + std::to_string(int(T)));
///   // (each replica gets its own System and its own copy of the model)
///   sim.add_observer(std::make_shared<md::ThermoLog<>>("T" + std::to_string(int(T)) + ".csv", 100));
/// }
/// set.run(10000);
/// ```
///
/// Why: one 60-atom graph split over threads gains little (its chunks are small, the serial
/// remainder weighs; docs/threads.md), while the pipeline runs several such simulations
/// (temperatures, orderings). Here each step evaluates the K replicas' forces in ONE call of a
/// batch evaluator; on the host (HostBatch) each replica's evaluation runs whole on one host
/// thread, as enumerate::BatchModelRanker ranks orderings. Everything else of a step (the
/// ensemble's halves, guards, observers, checkpoints) is Simulation's own step-level API.
///
/// Every replica is bitwise the simulation run alone on one thread (inside
/// on_one_thread): its integrator kernels run in a one-thread OpenMP region (Kokkos runs
/// them serially) and its force evaluation on one thread (the graph networks' serial code).
///
/// Errors: a replica that throws (a guard, a non-finite force, a degenerate cell) stops the set
/// with md::ReplicaError naming it, after its Simulation wrote `<checkpoint>.final` as run() does.
/// The other replicas end their run at the last completed step (end-of-run checkpoint, observers
/// finished), so each resumes from its own checkpoint (restore_checkpoints) bit-identically.

#include <nernst/core/one_thread.hpp>
#include <nernst/md/simulation.hpp>
#include <nernst/potential/batch_evaluation.hpp>

#include <algorithm>
#include <exception>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace md {

/// A replica of a Replicas set stopped; what() names it ("replica <k> '<name>'") and says why.
class ReplicaError : public SimulationError {
 public:
  ReplicaError(const std::string& m, std::size_t replica) : SimulationError(m), replica_(replica) {}
  /// Index of the (first) replica that failed.
  std::size_t replica() const { return replica_; }

 private:
  std::size_t replica_;
};

/// The batch evaluators (what Replicas calls once per step) live in potential/batch_evaluation.hpp;
/// md keeps their names.
using nernst::ForceJob;
using nernst::GraphBatch;
using nernst::HostBatch;

/// K independent simulations (each its own System, potential, ensemble state, options: seed,
/// checkpoint file; observers via operator[]) advanced in lockstep with one batched force
/// evaluation per step (`Batch`: the batch evaluation concept of potential/batch_evaluation.hpp).
template <class Ens, class Pot, class Batch = HostBatch>
class Replicas {
 public:
  using memory_space = typename Pot::memory_space;
  using Sim = Simulation<Ens, Pot>;

  explicit Replicas(Batch batch = {}) : batch_(std::move(batch)) {}

  /// Adds a replica that owns `sys` and `pot` (a copy of a graph network is independent; a pair
  /// potential's copies share their neighbour-list views, so give each replica its own object).
  /// Copies of a System share their arrays: each replica needs a System of its own (rejected
  /// otherwise). Errors name it "replica <k>", followed by `name` when given.
  Sim& add(System<memory_space> sys, Pot pot, Ens ens, SimulationOptions opt = {}, std::string name = "") {
    for (const auto& r : replicas_)
      if (r->system.x.data() == sys.x.data())
        throw ValueError("Replicas: " + r->label + " already uses this System's arrays (copy it deeply)");
    auto r = std::make_unique<Replica>(std::move(sys), std::move(pot));
    r->label = "replica " + std::to_string(replicas_.size()) + (name.empty() ? "" : " '" + name + "'");
    r->sim = std::make_unique<Sim>(r->system, r->potential, std::move(ens), std::move(opt));
    replicas_.push_back(std::move(r));
    return *replicas_.back()->sim;
  }

  std::size_t size() const { return replicas_.size(); }
  Sim& operator[](std::size_t k) { return *replicas_.at(k)->sim; }
  System<memory_space>& system(std::size_t k) { return replicas_.at(k)->system; }
  /// "replica <k>" and its name: how errors call it.
  const std::string& label(std::size_t k) const { return replicas_.at(k)->label; }

  /// Restores every replica whose checkpoint (SimulationOptions::checkpoint) exists; returns how
  /// many were restored. The next run() continues each bit-identically.
  std::size_t restore_checkpoints() {
    std::size_t restored = 0;
    for (auto& r : replicas_) {
      const std::string& path = r->sim->options().checkpoint;
      if (path.empty() || !checkpoint_exists(path)) continue;
      r->sim->restore(path);
      ++restored;
    }
    return restored;
  }

  /// Advances every replica by `nsteps` steps, one batched force evaluation per step. Throws
  /// ReplicaError naming the replica(s) that failed (see the file comment).
  void run(long nsteps) {
    if (nsteps < 0) throw ValueError("number of MD steps must be >= 0");
    failures_.assign(replicas_.size(), std::string());
    for (auto& r : replicas_) r->sim->start_run(nsteps);
    initial_forces();
    for (long k = 0; k < nsteps && !any_failed(); ++k) step();
    finish();
  }

 private:
  struct Replica {
    Replica(System<memory_space> s, Pot p) : system(std::move(s)), potential(std::move(p)) {}
    System<memory_space> system;
    Pot potential;
    std::unique_ptr<Sim> sim;  // refers to system and potential: Replica never moves (unique_ptr)
    std::string label;
  };

  /// The first force evaluation of replicas that were neither run nor restored.
  void initial_forces() {
    std::vector<std::size_t> fresh;
    for (std::size_t k = 0; k < replicas_.size(); ++k)
      if (replicas_[k]->sim->needs_initial_forces()) fresh.push_back(k);
    if (fresh.empty()) return;
    auto jobs = make_jobs(fresh, [](Sim& s) { return s.initial_request(); });
    batch_(jobs);
    on_each(fresh, [&](std::size_t i, Sim& s) {
      if (jobs[i].error) std::rethrow_exception(jobs[i].error);
      s.initialize(jobs[i].result);
    });
  }

  /// One step of every replica: the ensembles' first halves, one batch evaluation, the second halves.
  void step() {
    std::vector<ComputeRequest> req(replicas_.size());
    on_each(healthy(), [&](std::size_t, Sim& s, std::size_t k) { req[k] = s.begin_step(); });
    const auto ok = healthy();
    auto jobs = make_jobs(ok, [&](Sim&, std::size_t k) { return req[k]; });
    batch_(jobs);
    on_each(ok, [&](std::size_t i, Sim& s) {
      if (jobs[i].error) s.abort_step(jobs[i].error);
      s.end_step(jobs[i].result);
    });
  }

  /// Ends the run of every replica that did not fail; then reports the ones that did.
  void finish() {
    on_each(healthy(), [](std::size_t, Sim& s) { s.finish_run(); });
    std::string msg;
    std::size_t first = replicas_.size();
    for (std::size_t k = 0; k < replicas_.size(); ++k) {
      if (failures_[k].empty()) continue;
      if (first == replicas_.size()) first = k;
      msg += (msg.empty() ? "" : "; ") + replicas_[k]->label + ": " + failures_[k];
    }
    if (first < replicas_.size()) throw ReplicaError(msg, first);
  }

  std::vector<std::size_t> healthy() const {
    std::vector<std::size_t> h;
    for (std::size_t k = 0; k < replicas_.size(); ++k)
      if (failures_[k].empty()) h.push_back(k);
    return h;
  }
  bool any_failed() const { return healthy().size() != replicas_.size(); }

  /// One job per listed replica; `request(sim, k)` (or `request(sim)`) says what to compute.
  template <class R>
  std::vector<ForceJob<Pot>> make_jobs(const std::vector<std::size_t>& ks, R&& request) {
    std::vector<ForceJob<Pot>> jobs(ks.size());
    for (std::size_t i = 0; i < ks.size(); ++i) {
      Replica& r = *replicas_[ks[i]];
      jobs[i].potential = &r.potential;
      jobs[i].system = &r.system;
      if constexpr (std::is_invocable_v<R&, Sim&, std::size_t>) jobs[i].request = request(*r.sim, ks[i]);
      else jobs[i].request = request(*r.sim);
    }
    return jobs;
  }

  /// Runs f(i, sim of ks[i]) (or f(i, sim, ks[i])) for every listed replica, on this thread alone
  /// (the integrator kernels' one-thread arithmetic); a replica that throws is marked failed with
  /// the message, and the others go on.
  template <class F>
  void on_each(const std::vector<std::size_t>& ks, F&& f) {
    on_one_thread([&] {
      for (std::size_t i = 0; i < ks.size(); ++i) {
        const std::size_t k = ks[i];
        try {
          if constexpr (std::is_invocable_v<F&, std::size_t, Sim&, std::size_t>) f(i, *replicas_[k]->sim, k);
          else f(i, *replicas_[k]->sim);
        } catch (const std::exception& e) {
          failures_[k] = e.what();
        }
      }
    });
  }

  Batch batch_;
  std::vector<std::unique_ptr<Replica>> replicas_;
  std::vector<std::string> failures_;
};

}  // namespace md
NERNST_NAMESPACE_END
