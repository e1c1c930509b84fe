#pragma once
/// \file
/// \brief `RowChunks`: the rows of a batch (edges, triplets, atoms) split into contiguous chunks,
/// one per host thread, run concurrently on Kokkos' default host execution space.
///
/// Why contiguous chunks and not a `parallel_for` over single rows: the graph networks' work is
/// dense layers, and a dense layer over a chunk of rows is one GEMM (Eigen, on the thread that
/// owns the chunk) with the chunk's activations staying in that core's cache. Each chunk keeps
/// its own workspace (caches, scratch), writes only its own rows, and adds what it contributes to
/// shared rows (atoms receiving messages from many edges) into a private partial sum; the
/// partials are then added in chunk order (`add_partials`). No floating-point atomics anywhere:
/// a result is bitwise identical from run to run at a given thread count, and with one chunk it
/// is exactly the serial code's (chunk 0 always accumulates into the destination itself).
///
/// The chunk count is fixed by the thread count (and a minimum chunk size), not by scheduling,
/// so which rows a chunk sums never depends on timing. Kokkos' Serial back end (Debian's Kokkos)
/// and an uninitialised Kokkos (e.g. a host code that uses the evaluators directly) run the
/// chunks one after another on the calling thread.

#include <nernst/core/error.hpp>
#include <nernst/core/kokkos.hpp>
#include <nernst/core/macros.hpp>

#include <Eigen/Core>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include <algorithm>
#include <array>
#include <exception>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace nn {

namespace detail {
inline int& host_thread_limit() {
  static int limit = 0;
  return limit;
}
}  // namespace detail

/// Caps the host threads the graph networks split their rows over (0: all of them). For the
/// driver's `--threads` and for benchmarks that compare thread counts in one run; set it between
/// evaluations, not during one.
inline void set_host_thread_limit(int n) { detail::host_thread_limit() = std::max(0, n); }

/// Threads the row chunks use: the host execution space's concurrency (1 when Kokkos is not
/// initialised), capped by set_host_thread_limit().
inline int host_threads() {
  if (!Kokkos::is_initialized()) return 1;
#if defined(_OPENMP)
  // Inside an OpenMP region (e.g. workflow::on_one_thread, a forked worker) Kokkos runs kernels
  // serially: one chunk, the serial code's exact sums.
  if (omp_get_level() > 0) return 1;
#endif
  const int all = std::max(1, static_cast<int>(Kokkos::DefaultHostExecutionSpace().concurrency()));
  const int limit = detail::host_thread_limit();
  return limit > 0 ? std::min(limit, all) : all;
}

class RowChunks {
 public:
  /// `rows` rows as at most `parts` contiguous chunks of at least `min_rows` rows each (one chunk
  /// when there are too few rows to be worth a thread).
  void split(Eigen::Index rows, int parts, Eigen::Index min_rows = 256) {
    const Eigen::Index n = chunk_count(rows, parts, min_rows);
    bounds_.assign(static_cast<std::size_t>(n) + 1, 0);
    for (Eigen::Index c = 0; c <= n; ++c) bounds_[static_cast<std::size_t>(c)] = rows * c / n;
  }

  /// As split(), with every boundary moved forward to where the non-decreasing `key` changes, so
  /// that rows with the same key (e.g. triplets summed onto the same edge) share one chunk.
  void split_on_key(const int* key, Eigen::Index rows, int parts, Eigen::Index min_rows = 256) {
    split(rows, parts, min_rows);
    for (std::size_t c = 1; c + 1 < bounds_.size(); ++c) {
      Eigen::Index b = std::max(bounds_[c], bounds_[c - 1]);
      while (b > 0 && b < rows && key[b] == key[b - 1]) ++b;
      bounds_[c] = b;
    }
  }

  int size() const { return bounds_.empty() ? 0 : static_cast<int>(bounds_.size()) - 1; }
  Eigen::Index begin(int c) const { return bounds_[static_cast<std::size_t>(c)]; }
  Eigen::Index end(int c) const { return bounds_[static_cast<std::size_t>(c) + 1]; }

  /// Runs f(c, begin, end) for every chunk c, concurrently on the host threads, and returns when
  /// all are done. An exception thrown by f is rethrown here (the first chunk's, in chunk order).
  template <class F>
  void run(const F& f) const {
    const int n = size();
    if (n == 1) {
      f(0, begin(0), end(0));
      return;
    }
    if (n == 0) return;
    // One slot per chunk for an exception, on the stack up to kInlineChunks (no heap allocation
    // per parallel region: an evaluation runs ~30 of them).
    std::array<std::exception_ptr, kInlineChunks> inline_failed;
    std::vector<std::exception_ptr> heap_failed;
    if (n > kInlineChunks) heap_failed.resize(static_cast<std::size_t>(n));
    std::exception_ptr* failed = n > kInlineChunks ? heap_failed.data() : inline_failed.data();
    auto chunk = [&](const int c) {
      try {
        f(c, begin(c), end(c));
      } catch (...) {
        failed[c] = std::current_exception();
      }
    };
    if (Kokkos::is_initialized()) {
      using Space = Kokkos::DefaultHostExecutionSpace;
      Kokkos::parallel_for("nernst::nn::RowChunks", Kokkos::RangePolicy<Space, Kokkos::Schedule<Kokkos::Static>>(0, n),
                           chunk);
      Space().fence();
    } else {
      for (int c = 0; c < n; ++c) chunk(c);
    }
    for (int c = 0; c < n; ++c)
      if (failed[c]) std::rethrow_exception(failed[c]);
  }

 private:
  static constexpr int kInlineChunks = 64;

  static Eigen::Index chunk_count(Eigen::Index rows, int parts, Eigen::Index min_rows) {
    const Eigen::Index by_size = std::max<Eigen::Index>(1, rows / std::max<Eigen::Index>(1, min_rows));
    return std::max<Eigen::Index>(1, std::min<Eigen::Index>(std::max(1, parts), by_size));
  }

  std::vector<Eigen::Index> bounds_;
};

/// Private partial sums of the chunks other than chunk 0 (which accumulates into the destination
/// itself): `parts[c - 1]` for chunk c ≥ 1, each sized rows x cols and zeroed. Call outside run().
template <class Mat>
void zero_partials(std::vector<Mat>& parts, const RowChunks& chunks, Eigen::Index rows, Eigen::Index cols) {
  const auto n = static_cast<std::size_t>(std::max(0, chunks.size() - 1));
  if (parts.size() < n) parts.resize(n);
  for (std::size_t c = 0; c < n; ++c) {
    if (parts[c].rows() < rows || parts[c].cols() != cols) parts[c].resize(rows, cols);
    parts[c].topRows(rows).setZero();
  }
}

/// The accumulator of chunk c: the destination for chunk 0, its private partial otherwise.
template <class Mat, class Dest>
Eigen::Ref<Mat> partial_of(int c, Dest&& dest, std::vector<Mat>& parts, Eigen::Index rows) {
  if (c == 0) return dest;
  return parts[static_cast<std::size_t>(c - 1)].topRows(rows);
}

/// dest += parts[0] + parts[1] + ... (in chunk order), rows split over `rows_chunks`.
template <class Mat, class Dest>
void add_partials(Dest&& dest, const std::vector<Mat>& parts, const RowChunks& chunks, const RowChunks& rows_chunks) {
  const auto n = static_cast<std::size_t>(std::max(0, chunks.size() - 1));
  if (n == 0) return;
  rows_chunks.run([&](int, Eigen::Index r0, Eigen::Index r1) {
    for (std::size_t c = 0; c < n; ++c) dest.middleRows(r0, r1 - r0) += parts[c].middleRows(r0, r1 - r0);
  });
}

}  // namespace nn
NERNST_NAMESPACE_END
