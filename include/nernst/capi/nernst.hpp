#pragma once
/// \file
/// \brief Header-only C++ wrapper over the C API (nernst/capi/nernst.h): RAII handle, exceptions
/// instead of status codes, std::vector in and out.
///
/// ```
/// nernst::capi::Potential pot("models/M3GNet-MP-2021.2.8-PES");
/// auto r = pot.compute(numbers, positions, cell);   // r.energy (eV), r.forces (eV/Å), r.stress
/// ```
///
/// Unlike the rest of nernst this needs no Kokkos/Eigen headers (only nernst/core/macros.hpp): it only talks to the shared
/// library `nernst_capi`, whose C ABI is the stable one. Errors throw `nernst::capi::Error`,
/// which carries the C status code.

#include <nernst/capi/nernst.h>
#include <nernst/core/macros.hpp>

#include <array>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace capi {

/// A failed C API call: the message and the status code.
class Error : public std::runtime_error {
 public:
  Error(nernst_status status, const std::string& msg)
      : std::runtime_error(std::string(nernst_status_string(status)) + ": " + msg), status_(status) {}
  nernst_status status() const noexcept { return status_; }

 private:
  nernst_status status_;
};

/// One evaluation's outputs (units as in nernst.h).
struct Result {
  double energy = 0.0;                  ///< eV
  std::vector<double> forces;           ///< 3n, eV/Å
  std::array<double, 6> stress{};       ///< eV/Å³, ASE sign, xx yy zz yz xz xy (periodic only)
  std::array<double, 9> virial{};       ///< eV, W = −V σ = Σ r ⊗ f, row-major
  std::vector<double> atom_energies;    ///< eV (n, or n_owned for compute_local)
};

/// Owning handle of a C API potential.
class Potential {
 public:
  /// See nernst_potential_create for `spec` and `options`.
  explicit Potential(const std::string& spec, const std::string& options = "") {
    const nernst_status st = nernst_potential_create(spec.c_str(), options.c_str(), &h_);
    if (st != NERNST_OK) throw Error(st, nernst_create_error());
  }
  Potential(Potential&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  Potential& operator=(Potential&& o) noexcept {
    if (this != &o) {
      nernst_potential_destroy(h_);
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  Potential(const Potential&) = delete;
  Potential& operator=(const Potential&) = delete;
  ~Potential() { nernst_potential_destroy(h_); }

  nernst_potential* get() const noexcept { return h_; }
  std::string kind() const { return nernst_potential_kind(h_); }
  double cutoff() const { return nernst_potential_cutoff(h_); }
  double ghost_cutoff() const { return nernst_potential_ghost_cutoff(h_); }
  double energy_offset() const { return nernst_potential_energy_offset(h_); }
  bool supports_element(int z) const { return nernst_potential_supports_element(h_, z) != 0; }

  /// Periodic cell (rows a, b, c); energy, forces, stress, virial and per-atom energies.
  Result compute(const std::vector<int>& numbers, const std::vector<double>& positions,
                 const std::array<double, 9>& cell, bool atom_energies = false) {
    const int n = checked_n(numbers, positions);
    Result r;
    r.forces.resize(positions.size());
    if (atom_energies) r.atom_energies.resize(numbers.size());
    check(nernst_compute(h_, n, numbers.data(), positions.data(), cell.data(), nullptr, &r.energy, r.forces.data(),
                         r.stress.data(), r.virial.data(), atom_energies ? r.atom_energies.data() : nullptr));
    return r;
  }

  /// As compute(), on a host neighbour list (edge_shift holds 3 ints per edge).
  Result compute(const std::vector<int>& numbers, const std::vector<double>& positions,
                 const std::array<double, 9>& cell, const std::vector<int>& edge_i, const std::vector<int>& edge_j,
                 const std::vector<int>& edge_shift) {
    const int n = checked_n(numbers, positions);
    if (edge_j.size() != edge_i.size() || edge_shift.size() != 3 * edge_i.size())
      throw Error(NERNST_ERROR_INVALID_ARGUMENT, "edge arrays differ in length");
    Result r;
    r.forces.resize(positions.size());
    check(nernst_compute_neighbors(h_, n, numbers.data(), positions.data(), cell.data(), static_cast<int>(edge_i.size()),
                                   edge_i.data(), edge_j.data(), edge_shift.data(), &r.energy, r.forces.data(),
                                   r.stress.data(), r.virial.data(), nullptr));
    return r;
  }

  /// Open boundaries: the first n_owned atoms are owned, the rest ghosts (see nernst_compute_local).
  /// `stress` is left zero.
  Result compute_local(const std::vector<int>& numbers, const std::vector<double>& positions, int n_owned) {
    const int n = checked_n(numbers, positions);
    Result r;
    r.forces.resize(positions.size());
    r.atom_energies.resize(static_cast<std::size_t>(n_owned < 0 ? 0 : n_owned));
    check(nernst_compute_local(h_, n, n_owned, numbers.data(), positions.data(), &r.energy, r.forces.data(),
                               r.virial.data(), r.atom_energies.data()));
    return r;
  }

 private:
  static int checked_n(const std::vector<int>& numbers, const std::vector<double>& positions) {
    if (positions.size() != 3 * numbers.size())
      throw Error(NERNST_ERROR_INVALID_ARGUMENT, "positions must hold 3 values per atom");
    return static_cast<int>(numbers.size());
  }
  void check(nernst_status st) const {
    if (st != NERNST_OK) throw Error(st, nernst_potential_last_error(h_));
  }

  nernst_potential* h_ = nullptr;
};

}  // namespace capi
NERNST_NAMESPACE_END
