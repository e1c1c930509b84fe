#pragma once
/// \file
/// \brief The Potential<Policy> front: the vocabulary every energy model is used through.
///
/// `Potential<Policy, Scalar, MemorySpace>` is specialised once per policy
/// (`Potential<LennardJones>`, `Potential<GraphNet<M3GNet>>`, ...). Every specialisation models
/// the **potential concept**:
///
/// ```
/// using memory_space = MemorySpace;
/// double cutoff() const;                                  // interaction range, Å
/// ComputeResult compute(System<MemorySpace>& sys,          // fills sys.f (eV/Å) when
///                       const ComputeRequest& req);       //   req.forces; returns E (eV) and,
///                                                         //   when req.stress, the stress
/// ```
///
/// Stress is σ = (1/V) ∂E/∂ε in eV/Å³ with ASE's sign (positive = tensile) as a symmetric 3x3;
/// use `voigt()` for ASE's order xx yy zz yz xz xy. A potential that cannot produce a stress
/// throws NotSupported when asked for one. MD, relaxation and the C API only ever call
/// `compute`, so a new model is one new specialisation, nothing else.

#include <nernst/core/error.hpp>
#include <nernst/core/system.hpp>

#include <array>
#include <type_traits>
#include <utility>

NERNST_NAMESPACE_BEGIN

struct ComputeRequest {
  bool forces = true;
  bool stress = false;
  bool per_atom_energy = false;
};

struct ComputeResult {
  double energy = 0.0;                                      ///< eV
  Eigen::Matrix3d stress = Eigen::Matrix3d::Zero();          ///< eV/Å³, ASE sign
  bool has_stress = false;
  std::vector<double> per_atom_energy;                      ///< eV, when requested

  /// Voigt order xx yy zz yz xz xy (ASE).
  std::array<double, 6> voigt() const {
    return {stress(0, 0), stress(1, 1), stress(2, 2), stress(1, 2), stress(0, 2), stress(0, 1)};
  }
};

/// Primary template; each policy header provides a specialisation.
template <class Policy, class Scalar = double, class MemorySpace = DefaultMemorySpace>
class Potential;

/// Whether copies of a potential share no mutable state, so that copies may evaluate different
/// structures on different host threads at once (ranking many orderings, enumerate/model_ranker.hpp).
/// False by default: a potential holding Kokkos views (pair potentials, Ewald) copies them
/// shallowly. The graph networks, whose state is host containers, say true (graphnet.hpp).
template <class Pot>
struct has_independent_copies : std::false_type {};

namespace detail {
template <class P, class = void>
struct is_potential : std::false_type {};
template <class P>
struct is_potential<P, std::void_t<decltype(std::declval<const P&>().cutoff()),
                                   decltype(std::declval<P&>().compute(
                                       std::declval<System<typename P::memory_space>&>(),
                                       std::declval<const ComputeRequest&>()))>>
    : std::is_same<decltype(std::declval<P&>().compute(std::declval<System<typename P::memory_space>&>(),
                                                       std::declval<const ComputeRequest&>())),
                   ComputeResult> {};
}  // namespace detail

/// True when P models the potential concept above.
template <class P>
inline constexpr bool is_potential_v = detail::is_potential<P>::value;

/// **Batch evaluation** (optional, on top of the concept): a potential that can evaluate many
/// Systems in one call has
/// ```
/// std::vector<ComputeResult> compute_batch(const std::vector<System<memory_space>*>&, const ComputeRequest&);
/// bool batched() const;  // whether compute_batch merges the Systems into one evaluation
/// ```
/// where result k is what compute(*systems[k], request) gives (forces into systems[k]->f). Users
/// of many independent structures (enumerate::GraphBatchModelRanker, md::GraphBatch) use it when
/// batched() says so: on a GPU one evaluation of many small cells fills the device where one cell
/// cannot. Potential<GraphNet<M3GNet>> has it (its kernels: one block-diagonal graph).
template <class P, class = void>
struct has_batch_compute : std::false_type {};
template <class P>
struct has_batch_compute<P, std::void_t<decltype(std::declval<P&>().compute_batch(
                                            std::declval<const std::vector<System<typename P::memory_space>*>&>(),
                                            std::declval<const ComputeRequest&>())),
                                        decltype(std::declval<const P&>().batched())>> : std::true_type {};

/// Use in templates that take a potential, for a readable error instead of a template backtrace.
#define NERNST_STATIC_ASSERT_POTENTIAL(P)                                                     \
  static_assert(::nernst::is_potential_v<P>,                                                  \
                "nernst: " #P " does not model the potential concept: it needs "              \
                "`memory_space`, `double cutoff() const` and "                                \
                "`ComputeResult compute(System<memory_space>&, const ComputeRequest&)` "      \
                "(see nernst/potential/potential.hpp)")

NERNST_NAMESPACE_END
