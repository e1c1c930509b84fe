#pragma once
/// \file
/// \brief Turns a graph-network evaluation (host arrays) into the Potential concept's result:
/// forces copied into System::f, stress = virial / |V| (eV/Å³, ASE sign), per-atom energies.

#include <nernst/core/error.hpp>
#include <nernst/core/system.hpp>
#include <nernst/potential/potential.hpp>

#include <array>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {

/// Copies the System's positions to host `x` (Å) and calls per_atom(i, t) with each atom's type
/// index t, after checking that t names an entry of System::species (`model` names the caller
/// in the error).
template <class MemorySpace, class F>
void load_host_atoms(const System<MemorySpace>& sys, const char* model, std::vector<std::array<double, 3>>& x,
                     F&& per_atom) {
  auto hx = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), sys.x);
  auto ht = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), sys.type);
  const std::size_t n = sys.size();
  x.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    for (int k = 0; k < 3; ++k) x[i][static_cast<std::size_t>(k)] = hx(i, k);
    const int t = ht(i);
    if (t < 0 || static_cast<std::size_t>(t) >= sys.species.size())
      throw ValueError(std::string(model) + ": atom " + std::to_string(i) + " has type " + std::to_string(t) +
                       " outside System::species");
    per_atom(i, static_cast<std::size_t>(t));
  }
}

template <class MemorySpace>
ComputeResult make_compute_result(System<MemorySpace>& sys, const ComputeRequest& req, double energy,
                                  const std::vector<double>& atom_energy,
                                  const std::vector<std::array<double, 3>>& forces, const Eigen::Matrix3d& virial) {
  ComputeResult r;
  r.energy = energy;
  if (req.per_atom_energy) r.per_atom_energy = atom_energy;
  if (req.forces) {
    auto hf = Kokkos::create_mirror_view(sys.f);
    for (std::size_t i = 0; i < sys.size(); ++i)
      for (int k = 0; k < 3; ++k) hf(i, k) = forces[i][static_cast<std::size_t>(k)];
    Kokkos::deep_copy(sys.f, hf);
  }
  if (req.stress) {
    // |V|, as the potential concept defines it. CHGNet divides by the signed a1·(a2×a3), which
    // flips the sign of its stress for left-handed cells; identical for right-handed ones.
    r.stress = virial / sys.cell.volume();
    r.has_stress = true;
  }
  return r;
}

}  // namespace graphnet
NERNST_NAMESPACE_END
