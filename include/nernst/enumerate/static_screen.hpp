#pragma once
/// \file
/// \brief The static screen: an energy of every ordering a stream hands over, keeping only the
/// K lowest per atom (a bounded heap) and counters, checkpointed every few seconds (or every N
/// orderings) through screen_state.hpp so that a kill loses at most the last interval, with a
/// progress line (done/total, rate, ETA) on a stream.
///
/// A *stream* is a callable `stream(visit)` that calls `visit(std::uint64_t ordering, const
/// Label* labels, std::size_t n_labels)` for its orderings in increasing running number: the enumerator of one
/// supercell (enumeration_stream) or a pre-selected list (candidate_stream, e.g. the Ewald
/// pre-filter's K). On a restart the stream runs again from the start (the enumeration is
/// deterministic and cheap next to a model energy) and the orderings below the checkpoint's
/// position are passed over without an energy. Ties in energy keep the earlier ordering, so
/// the result equals a stable sort of all energies by (energy per atom, running number).

#include <nernst/enumerate/enumerator.hpp>
#include <nernst/enumerate/ewald_ranker.hpp>
#include <nernst/enumerate/screen_state.hpp>

#include <chrono>
#include <cstdio>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace enumerate {

/// What an energy callable returns for one ordering.
struct StaticEnergy {
  double energy = 0;  ///< eV
  int atoms = 0;
};

struct ScreenOptions {
  std::size_t keep = 20;                 ///< K: entries kept (best first)
  std::filesystem::path state_file;      ///< empty: no checkpoints, no resume
  std::string inputs;                    ///< fingerprint of the inputs (screen_state.hpp)
  double checkpoint_seconds = 10;        ///< checkpoint at least this often ...
  std::uint64_t checkpoint_every = 0;    ///< ... and every N energies (0: by time only)
  std::ostream* progress = nullptr;      ///< progress lines (stderr in the driver)
  double progress_seconds = 5;
  /// Called after every energy with the number computed by this run: tests throw from it to
  /// simulate a kill at that point.
  std::function<void(std::uint64_t)> after_energy;
};

struct ScreenResult {
  std::vector<ScreenEntry> best;  ///< by increasing energy per atom (ties: earlier ordering)
  ScreenCounters counters;
  std::uint64_t resumed_from = 0;  ///< stream position of the checkpoint this run started from
  std::uint64_t evaluated_this_run = 0;
  double seconds_this_run = 0;
};

/// The orderings of one supercell, in enumeration order (the running number is OrbitInfo::index).
inline auto enumeration_stream(const Enumerator<HNF>& e, const IMat3& hnf) {
  return [&e, hnf](auto&& visit) {
    e.run_supercell(hnf, [&](const Derivative& d) { visit(d.info.index, d.labels, d.active->size()); });
  };
}

/// A fixed list of orderings (sorted by running number here).
struct Candidate {
  std::uint64_t ordering = 0;
  std::vector<Label> labels;
};
inline auto candidate_stream(std::vector<Candidate> list) {
  std::sort(list.begin(), list.end(), [](const Candidate& a, const Candidate& b) { return a.ordering < b.ordering; });
  return [list = std::move(list)](auto&& visit) {
    for (const auto& c : list) visit(c.ordering, c.labels.data(), c.labels.size());
  };
}

/// The cheap pre-filter: the K orderings of lowest Ewald energy per atom (EwaldRanker), in one
/// pass over the enumeration.
inline std::vector<Candidate> ewald_prefilter(const Enumerator<HNF>& e, const IMat3& hnf, const EwaldRanker& ewald,
                                              std::size_t k) {
  TopK<Candidate> top(k);
  e.run_supercell(hnf, [&](const Derivative& d) {
    const double key = ewald.energy(d.labels) / ewald.atoms(d.labels);
    if (top.admits(key)) top.push(key, Candidate{d.info.index, std::vector<Label>(d.labels, d.labels + d.active->size())});
  });
  std::vector<Candidate> out;
  for (auto& [key, c] : top.sorted()) out.push_back(std::move(c));
  return out;
}

namespace detail {

/// The bounded heap, checkpoints and progress of one screen run.
class ScreenRun {
 public:
  ScreenRun(const ScreenOptions& o, std::uint64_t candidates, std::uint64_t orderings) : o_(o), top_(o.keep) {
    if (o.keep < 1) throw ValueError("static screen: keep at least one ordering (K >= 1)");
    if (!o.state_file.empty()) {
      if (auto s = load_screen_state(o.state_file, o.inputs)) {
        state_ = std::move(*s);
        // Reinserted in running-number order, so that ties (TopK keeps the earlier insertion)
        // resolve as in an uninterrupted run.
        auto by_ordering = state_.best;
        std::sort(by_ordering.begin(), by_ordering.end(), [](const ScreenEntry& a, const ScreenEntry& b) { return a.ordering < b.ordering; });
        for (const auto& e : by_ordering) push(e);
      }
    }
    state_.inputs = o.inputs;
    state_.counters.candidates = candidates;
    state_.counters.orderings = orderings;
    resumed_from_ = state_.next;
    t_last_checkpoint_ = t_last_progress_ = t0_ = clock::now();
  }

  bool complete() const { return state_.complete; }
  bool wants(std::uint64_t ordering) const { return ordering >= state_.next; }

  void record(std::uint64_t ordering, const Label* labels, std::size_t n, const StaticEnergy& se) {
    if (se.atoms < 1 || !std::isfinite(se.energy))
      throw ValueError("static screen: ordering " + std::to_string(ordering) + " has energy " + std::to_string(se.energy) +
                       " eV over " + std::to_string(se.atoms) + " atoms");
    const double key = se.energy / se.atoms;
    if (top_.admits(key)) push(ScreenEntry{key, se.energy, se.atoms, ordering, std::vector<Label>(labels, labels + n)});
    state_.next = ordering + 1;
    ++state_.counters.evaluated;
    ++this_run_;
    const auto now = clock::now();
    if (seconds(t_last_checkpoint_, now) >= o_.checkpoint_seconds ||
        (o_.checkpoint_every > 0 && this_run_ % o_.checkpoint_every == 0))
      checkpoint(false, now);
    if (o_.progress && seconds(t_last_progress_, now) >= o_.progress_seconds) progress(now);
    if (o_.after_energy) o_.after_energy(this_run_);
  }

  ScreenResult finish() {
    const auto now = clock::now();
    checkpoint(true, now);
    if (o_.progress) progress(now);
    ScreenResult r;
    r.best = state_.best;
    r.counters = state_.counters;
    r.resumed_from = resumed_from_;
    r.evaluated_this_run = this_run_;
    r.seconds_this_run = seconds(t0_, now);
    return r;
  }

 private:
  using clock = std::chrono::steady_clock;
  static double seconds(clock::time_point a, clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

  void push(const ScreenEntry& e) { top_.push(e.energy_per_atom, e); }

  void checkpoint(bool complete, clock::time_point now) {
    state_.counters.seconds += seconds(t_last_checkpoint_, now);
    t_last_checkpoint_ = now;
    state_.complete = complete;
    state_.best.clear();
    for (auto& [key, e] : top_.sorted()) state_.best.push_back(std::move(e));
    if (!o_.state_file.empty()) save_screen_state(o_.state_file, state_);
  }

  void progress(clock::time_point now) {
    t_last_progress_ = now;
    const double dt = seconds(t0_, now);
    const double rate = dt > 0 ? static_cast<double>(this_run_) / dt : 0;
    const std::uint64_t total = state_.counters.candidates, done = state_.counters.evaluated;
    const double left = total > done ? static_cast<double>(total - done) : 0;
    char b[200];
    std::snprintf(b, sizeof b, "screen: %llu/%llu orderings (%.1f %%), %.2f /s, ETA %s, best %.6f eV/atom\n",
                  static_cast<unsigned long long>(done), static_cast<unsigned long long>(total),
                  total ? 100.0 * static_cast<double>(done) / static_cast<double>(total) : 100.0, rate,
                  rate > 0 ? workflow::ProgressLog::fmt_time(left / rate).c_str() : "--:--:--",
                  top_.size() ? top_.sorted().front().first : 0.0);
    *o_.progress << b << std::flush;
  }

  const ScreenOptions& o_;
  TopK<ScreenEntry> top_;
  ScreenState state_;
  std::uint64_t resumed_from_ = 0, this_run_ = 0;
  clock::time_point t0_, t_last_checkpoint_, t_last_progress_;
};

}  // namespace detail

/// Runs (or resumes) a static screen: `energy(const Label*) -> StaticEnergy` on every ordering
/// of `stream` not done before; `candidates`/`orderings` are for the counters and the ETA.
template <class Stream, class Energy>
ScreenResult run_static_screen(Stream&& stream, Energy&& energy, std::uint64_t candidates, std::uint64_t orderings,
                               const ScreenOptions& o) {
  detail::ScreenRun run(o, candidates, orderings);
  if (!run.complete()) {
    stream([&](std::uint64_t ordering, const Label* l, std::size_t n) {
      if (run.wants(ordering)) run.record(ordering, l, n, energy(l));
    });
  }
  return run.finish();
}

/// Orderings handed to a batch energy: `labels[k]` of ordering `orderings[k]`.
struct OrderingBatch {
  std::vector<std::uint64_t> orderings;
  std::vector<std::vector<Label>> labels;
  std::size_t size() const { return orderings.size(); }
  void clear() {
    orderings.clear();
    labels.clear();
  }
};

/// As run_static_screen, with the energies of `batch` orderings at a time from
/// `energies(const OrderingBatch&) -> std::vector<StaticEnergy>` (e.g. on several threads at
/// once). The energies are recorded in stream order, so the result, the checkpoints and a resumed
/// run are those of the one-at-a-time screen with the same energies; a kill loses at most the
/// batch being computed.
template <class Stream, class BatchEnergy>
ScreenResult run_static_screen_batched(Stream&& stream, BatchEnergy&& energies, std::size_t batch, std::uint64_t candidates,
                                       std::uint64_t orderings, const ScreenOptions& o) {
  if (batch < 1) throw ValueError("static screen: a batch holds at least one ordering");
  detail::ScreenRun run(o, candidates, orderings);
  OrderingBatch pending;
  const auto flush = [&]() {
    if (pending.size() == 0) return;
    const std::vector<StaticEnergy> e = energies(pending);
    if (e.size() != pending.size()) throw ValueError("static screen: a batch energy returned the wrong number of energies");
    for (std::size_t k = 0; k < e.size(); ++k) run.record(pending.orderings[k], pending.labels[k].data(), pending.labels[k].size(), e[k]);
    pending.clear();
  };
  if (!run.complete()) {
    stream([&](std::uint64_t ordering, const Label* l, std::size_t n) {
      if (!run.wants(ordering)) return;
      pending.orderings.push_back(ordering);
      pending.labels.emplace_back(l, l + n);
      if (pending.size() == batch) flush();
    });
    flush();
  }
  return run.finish();
}

}  // namespace enumerate
NERNST_NAMESPACE_END
