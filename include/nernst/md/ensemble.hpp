#pragma once
/// \file
/// \brief Ensemble<...>: compile-time MD ensemble policies and the concept they model.
///
/// ```
/// Ensemble<NVE>                     velocity Verlet
/// Ensemble<NVT, NoseHoover>         Nosé–Hoover chain (Martyna–Klein–Tuckerman), LAMMPS `fix nvt`
/// Ensemble<NVT, Berendsen>          velocity Verlet + Berendsen rescaling, LAMMPS `fix temp/berendsen`
/// Ensemble<NVT, Langevin>           BAOAB Langevin (Leimkuhler–Matthews)
/// Ensemble<NpT, NoseHoover>         MTK barostat (iso / aniso / triclinic) + NH chains, LAMMPS `fix npt`
/// Ensemble<NpT, Berendsen>          NH-chain thermostat + Berendsen barostat, LAMMPS `fix nvt` + `fix press/berendsen`
/// ```
///
/// **Ensemble concept** (what the integrator, `Simulation`, calls):
/// ```
/// static constexpr bool needs_stress;                 // the step needs σ from every force call
/// static constexpr const char* name;                  // stored in checkpoints
/// void set_temperature(double T);                      // target T (K), for ramps; no-op in NVE
/// template <class MS> void setup(MDState<MS>&);        // once, after the first force evaluation
/// template <class MS> void before_force(MDState<MS>& s);
/// template <class MS> void after_force(MDState<MS>& s);
///     // one time step s.dt is before_force · (force evaluation: s.last and s.sys->f, with the
///     // stress when needs_stress) · after_force. Split in two so that a driver can evaluate the
///     // forces of several simulations at once between the halves (md::Replicas).
/// template <class MS> double extended_energy(const MDState<MS>&) const;
///     // conserved quantity = E_pot + E_kin + extended_energy (thermostat/barostat/heat bath)
/// std::vector<double> state() const;                  // thermostat/barostat state, checkpoints
/// template <class MS> void set_state(const std::vector<double>&, const MDState<MS>&);
/// ```
/// A new thermostat is one new specialisation; the integrator never changes.

#include <nernst/md/state.hpp>

#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace md {

// Ensemble tags.
struct NVE {};
struct NVT {};
struct NpT {};
// Thermostat / barostat policies.
struct NoseHoover {};
struct Berendsen {};
struct Langevin {};

/// Cell degrees of freedom of a barostat.
enum class Coupling {
  Isotropic,    ///< one strain rate for all axes (shape kept)
  Anisotropic,  ///< the three Cartesian axes independently (orthogonal cells)
  Triclinic     ///< fully flexible cell: symmetric strain-rate tensor (6 DOF)
};

inline const char* coupling_name(Coupling c) {
  return c == Coupling::Isotropic ? "iso" : (c == Coupling::Anisotropic ? "aniso" : "tri");
}

template <class E, class Policy = void>
class Ensemble;

/// A Nosé–Hoover chain acting on a set of kinetic degrees of freedom (particles or barostat).
/// Masses as LAMMPS fix nh: Q_1 = N_f kT τ², Q_k = kT τ² (τ = damping time, fs).
/// Integrated with the MTK Trotter scheme (Martyna et al., Mol. Phys. 87, 1117 (1996)).
class NHChain {
 public:
  NHChain() = default;
  NHChain(int length, double dof, double T, double tau) : dof_(dof), tau_(tau), xi_(length, 0.0), vxi_(length, 0.0) {
    if (length < 1) throw ValueError("Nose-Hoover chain length must be >= 1");
    if (!(tau > 0)) throw ValueError("thermostat damping time must be positive (fs)");
    set_temperature(T);
  }
  void set_temperature(double T) {
    if (!(T > 0)) throw ValueError("Nose-Hoover target temperature must be positive (K)");
    kT_ = units::kB * T;
    Q_.assign(xi_.size(), kT_ * tau_ * tau_);
    Q_[0] *= dof_;
  }
  /// Advances the chain by dt/2 given twice the kinetic energy of its degrees of freedom;
  /// returns the factor by which their velocities must be scaled.
  double half_step(double ke2, double dt) {
    const int M = static_cast<int>(xi_.size());
    const double d = 0.5 * dt;
    auto G = [&](int k) {
      return k == 0 ? (ke2 - dof_ * kT_) / Q_[0] : (Q_[k - 1] * vxi_[k - 1] * vxi_[k - 1] - kT_) / Q_[k];
    };
    vxi_[M - 1] += G(M - 1) * d / 2;
    for (int k = M - 2; k >= 0; --k) {
      const double a = std::exp(-vxi_[k + 1] * d / 4);
      vxi_[k] = vxi_[k] * a * a + G(k) * d / 2 * a;
    }
    const double scale = std::exp(-vxi_[0] * d);
    ke2 *= scale * scale;
    for (int k = 0; k < M; ++k) xi_[k] += vxi_[k] * d;
    for (int k = 0; k < M - 1; ++k) {
      const double a = std::exp(-vxi_[k + 1] * d / 4);
      vxi_[k] = vxi_[k] * a * a + G(k) * d / 2 * a;
    }
    vxi_[M - 1] += G(M - 1) * d / 2;
    return scale;
  }
  /// Σ Q v²/2 + N_f kT ξ_1 + kT Σ_{k>1} ξ_k (eV).
  double energy() const {
    double e = 0;
    for (std::size_t k = 0; k < xi_.size(); ++k)
      e += 0.5 * Q_[k] * vxi_[k] * vxi_[k] + (k == 0 ? dof_ : 1.0) * kT_ * xi_[k];
    return e;
  }
  void append_state(std::vector<double>& s) const {
    s.insert(s.end(), xi_.begin(), xi_.end());
    s.insert(s.end(), vxi_.begin(), vxi_.end());
  }
  std::size_t read_state(const std::vector<double>& s, std::size_t at) {
    if (s.size() < at + 2 * xi_.size()) throw ValueError("checkpoint: thermostat state too short");
    for (auto& x : xi_) x = s[at++];
    for (auto& x : vxi_) x = s[at++];
    return at;
  }
  int length() const { return static_cast<int>(xi_.size()); }

 private:
  double dof_ = 1, tau_ = 100, kT_ = 0;
  std::vector<double> xi_, vxi_, Q_;
};

namespace detail {
/// State of a thermostat that only books the energy it exchanged with its bath (Berendsen,
/// Langevin): extended energy = −exchanged, checkpointed as one number.
class BathExchange {
 public:
  template <class MS>
  double extended_energy(const MDState<MS>&) const { return -exchanged_; }
  std::vector<double> state() const { return {exchanged_}; }
  template <class MS>
  void set_state(const std::vector<double>& v, const MDState<MS>&) {
    if (v.size() != 1) throw ValueError("checkpoint: the thermostat state has the wrong size (expected 1 value)");
    exchanged_ = v[0];
  }

 protected:
  double exchanged_ = 0;  ///< eV added to the system by the bath
};
}  // namespace detail

// ---------------------------------------------------------------------------------------------

/// Microcanonical velocity Verlet. Conserved: E_pot + E_kin.
template <>
class Ensemble<NVE, void> {
 public:
  static constexpr bool needs_stress = false;
  static constexpr const char* name = "nve";
  void set_temperature(double) {}
  template <class MS>
  void setup(MDState<MS>&) {}
  template <class MS>
  void before_force(MDState<MS>& s) { detail::verlet_before_force(s); }
  template <class MS>
  void after_force(MDState<MS>& s) { detail::verlet_after_force(s); }
  template <class MS>
  double extended_energy(const MDState<MS>&) const { return 0.0; }
  std::vector<double> state() const { return {}; }
  template <class MS>
  void set_state(const std::vector<double>&, const MDState<MS>&) {}
};

}  // namespace md
NERNST_NAMESPACE_END
