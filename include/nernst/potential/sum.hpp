#pragma once
/// \file
/// \brief Potential<Sum<P1, P2>>: the sum of two potentials (energies, forces, stresses and
/// per-atom energies add), e.g. `Sum<Ewald, Buckingham>` for a rigid-ion model.

#include <nernst/potential/potential.hpp>

#include <algorithm>
#include <string>
#include <utility>

NERNST_NAMESPACE_BEGIN

/// Policy: the sum of the potentials of policies P1 and P2.
template <class P1, class P2>
struct Sum {};

template <class P1, class P2, class Scalar, class MemorySpace>
class Potential<Sum<P1, P2>, Scalar, MemorySpace> {
 public:
  using memory_space = MemorySpace;
  using first_type = Potential<P1, Scalar, MemorySpace>;
  using second_type = Potential<P2, Scalar, MemorySpace>;

  Potential(first_type a, second_type b) : a_(std::move(a)), b_(std::move(b)) {}

  first_type& first() { return a_; }
  second_type& second() { return b_; }
  const first_type& first() const { return a_; }
  const second_type& second() const { return b_; }

  double cutoff() const { return std::max(a_.cutoff(), b_.cutoff()); }

  ComputeResult compute(System<MemorySpace>& sys, const ComputeRequest& req) {
    ComputeResult ra = a_.compute(sys, req);
    typename System<MemorySpace>::vec_view fa;
    if (req.forces) {
      fa = typename System<MemorySpace>::vec_view(Kokkos::view_alloc(std::string("nernst::Sum::f"), Kokkos::WithoutInitializing),
                                                  sys.size());
      Kokkos::deep_copy(fa, sys.f);
    }
    const ComputeResult rb = b_.compute(sys, req);
    if (req.forces) {
      auto f = sys.f;
      Kokkos::parallel_for(
          "nernst::Sum::add_forces",
          Kokkos::RangePolicy<typename MemorySpace::execution_space>(0, static_cast<int>(sys.size())),
          KOKKOS_LAMBDA(const int i) {
            for (int d = 0; d < 3; ++d) f(i, d) += fa(i, d);
          });
    }
    ra.energy += rb.energy;
    if (req.stress) {
      ra.stress += rb.stress;
      ra.has_stress = ra.has_stress && rb.has_stress;
    }
    if (req.per_atom_energy)
      for (std::size_t i = 0; i < ra.per_atom_energy.size() && i < rb.per_atom_energy.size(); ++i)
        ra.per_atom_energy[i] += rb.per_atom_energy[i];
    return ra;
  }

 private:
  first_type a_;
  second_type b_;
};

NERNST_NAMESPACE_END
