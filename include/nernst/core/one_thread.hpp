#pragma once
/// \file
/// \brief `on_one_thread(f)`: runs f() on the calling thread alone, with one-thread arithmetic.
///
/// Inside a one-thread OpenMP region Kokkos' OpenMP back end sees itself nested and runs every
/// kernel serially, and the graph networks use one row chunk (nn::host_threads). This is what a
/// forked pipeline worker runs in, what each replica of md::Replicas runs in, and how to get
/// either's exact result in the parent: with threads, sums are split differently and agree only
/// to rounding. Without OpenMP it is just f().

#include <nernst/core/macros.hpp>

#include <exception>

NERNST_NAMESPACE_BEGIN

/// Runs f() in a one-thread OpenMP region on the calling thread; rethrows what f() throws.
template <class F>
void on_one_thread(F&& f) {
#if defined(_OPENMP)
  std::exception_ptr failed;
#pragma omp parallel num_threads(1)
  {
    try {
      f();
    } catch (...) {
      failed = std::current_exception();
    }
  }
  if (failed) std::rethrow_exception(failed);
#else
  f();
#endif
}

NERNST_NAMESPACE_END
