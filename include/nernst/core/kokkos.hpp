#pragma once
/// \file
/// \brief Kokkos include plus a thin compatibility layer over Kokkos 3.4 (Debian) and 4.x.
///
/// Kokkos 3.4 keeps its math functions in Kokkos::Experimental; 4.x moved them to Kokkos::.
/// Kernels call nernst::math::sqrt etc. and never spell either namespace. Other scalar types
/// (e.g. a dual number) add their own overloads to nernst::math.

#include <nernst/core/macros.hpp>

#include <Kokkos_Core.hpp>

#include <cstdlib>
#include <type_traits>

#if KOKKOS_VERSION >= 40000
#define NERNST_KOKKOS_MATH_NS Kokkos
#else
#define NERNST_KOKKOS_MATH_NS Kokkos::Experimental
#endif

NERNST_NAMESPACE_BEGIN
namespace math {

#define NERNST_MATH_UNARY(name)                                                                   \
  KOKKOS_INLINE_FUNCTION double name(double x) { return NERNST_KOKKOS_MATH_NS::name(x); }        \
  KOKKOS_INLINE_FUNCTION float name(float x) { return NERNST_KOKKOS_MATH_NS::name(x); }
NERNST_MATH_UNARY(sqrt)
NERNST_MATH_UNARY(cbrt)
NERNST_MATH_UNARY(exp)
NERNST_MATH_UNARY(expm1)
NERNST_MATH_UNARY(log)
NERNST_MATH_UNARY(log1p)
NERNST_MATH_UNARY(sin)
NERNST_MATH_UNARY(cos)
NERNST_MATH_UNARY(tan)
NERNST_MATH_UNARY(acos)
NERNST_MATH_UNARY(asin)
NERNST_MATH_UNARY(atan)
NERNST_MATH_UNARY(tanh)
NERNST_MATH_UNARY(erf)
NERNST_MATH_UNARY(erfc)
NERNST_MATH_UNARY(fabs)
NERNST_MATH_UNARY(floor)
NERNST_MATH_UNARY(ceil)
NERNST_MATH_UNARY(nearbyint)
#undef NERNST_MATH_UNARY

KOKKOS_INLINE_FUNCTION double pow(double x, double y) { return NERNST_KOKKOS_MATH_NS::pow(x, y); }
KOKKOS_INLINE_FUNCTION float pow(float x, float y) { return NERNST_KOKKOS_MATH_NS::pow(x, y); }
KOKKOS_INLINE_FUNCTION double atan2(double y, double x) { return NERNST_KOKKOS_MATH_NS::atan2(y, x); }
KOKKOS_INLINE_FUNCTION float atan2(float y, float x) { return NERNST_KOKKOS_MATH_NS::atan2(y, x); }

template <class T>
KOKKOS_INLINE_FUNCTION constexpr T min(T a, T b) { return b < a ? b : a; }
template <class T>
KOKKOS_INLINE_FUNCTION constexpr T max(T a, T b) { return a < b ? b : a; }

}  // namespace math

/// Default spaces, following Cabana/ArborX: containers take a memory space, algorithms an
/// execution space instance.
using DefaultExecutionSpace = Kokkos::DefaultExecutionSpace;
using DefaultMemorySpace = Kokkos::DefaultExecutionSpace::memory_space;
using HostSpace = Kokkos::HostSpace;

/// Whether kernels of ExecutionSpace run on host threads (OpenMP, Threads, Serial): the graph-network
/// kernels then take their host paths (Eigen GEMM tiles, row loops), on a device their device paths.
template <class ExecutionSpace>
inline constexpr bool runs_on_host_v = std::is_same_v<typename ExecutionSpace::memory_space, Kokkos::HostSpace>;

/// The (row, column) index space of a rows × cols array as a Kokkos policy: kernels over every
/// element of a batch of rows take operator()(int row, int col), and no index is split by a
/// division (one per element, the largest cost of a light element-wise kernel on a CPU).
template <class ExecutionSpace>
Kokkos::MDRangePolicy<ExecutionSpace, Kokkos::Rank<2>, Kokkos::IndexType<int>> matrix_policy(
    const ExecutionSpace& space, const int rows, const int cols) {
  return Kokkos::MDRangePolicy<ExecutionSpace, Kokkos::Rank<2>, Kokkos::IndexType<int>>(space, {0, 0}, {rows, cols});
}

/// Readable check that data living in MemorySpace can be touched by ExecutionSpace kernels.
template <class ExecutionSpace, class MemorySpace>
inline constexpr bool is_accessible_v =
    Kokkos::SpaceAccessibility<ExecutionSpace, MemorySpace>::accessible;

/// Kokkos lifetime for drivers and tests. Libraries never call Kokkos::initialize themselves
/// (they may be embedded in a host code that owns Kokkos); this guard only initialises when
/// nobody else has.
class KokkosSession {
 public:
  KokkosSession() : KokkosSession(0, nullptr) {}
  KokkosSession(int argc, char* argv[]) {
    if (!Kokkos::is_initialized()) {
      // Kokkos' OpenMP back end warns on every start that OMP_PROC_BIND is unset: noise in every
      // driver run and test log. A user who wants its warnings sets KOKKOS_DISABLE_WARNINGS=0.
#if !defined(_WIN32)
      ::setenv("KOKKOS_DISABLE_WARNINGS", "1", /*overwrite=*/0);
#endif
      Kokkos::initialize(argc, argv);
      owner_ = true;
    }
  }
  KokkosSession(const KokkosSession&) = delete;
  KokkosSession& operator=(const KokkosSession&) = delete;
  ~KokkosSession() {
    if (owner_ && Kokkos::is_initialized()) Kokkos::finalize();
  }

 private:
  bool owner_ = false;
};

NERNST_NAMESPACE_END
