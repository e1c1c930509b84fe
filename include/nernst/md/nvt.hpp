#pragma once
/// \file
/// \brief Canonical ensembles: Nosé–Hoover chain, Berendsen rescaling, BAOAB Langevin.

#include <nernst/md/ensemble.hpp>
#include <nernst/md/velocities.hpp>

NERNST_NAMESPACE_BEGIN
namespace md {

/// Nosé–Hoover chain NVT (LAMMPS `fix nvt temp T T tdamp`, tchain 3). Step:
/// chain(dt/2) · kick(dt/2) · drift(dt) · force · kick(dt/2) · chain(dt/2).
/// Conserved: E_pot + E_kin + chain energy.
template <>
class Ensemble<NVT, NoseHoover> {
 public:
  static constexpr bool needs_stress = false;
  static constexpr const char* name = "nvt-nh";
  struct Parameters {
    double temperature = 300;  ///< K
    double tdamp = 100;        ///< fs
    int chain = 3;
  };
  explicit Ensemble(Parameters p) : p_(p) {}
  void set_temperature(double T) {
    p_.temperature = T;
    if (chain_.length() > 0) chain_.set_temperature(T);
  }
  template <class MS>
  void setup(MDState<MS>& s) {
    if (chain_.length() == 0) chain_ = NHChain(p_.chain, s.ndof, p_.temperature, p_.tdamp);
  }
  template <class MS>
  void before_force(MDState<MS>& s) {
    thermostat(s);
    detail::verlet_before_force(s);
  }
  template <class MS>
  void after_force(MDState<MS>& s) {
    detail::verlet_after_force(s);
    thermostat(s);
  }
  template <class MS>
  double extended_energy(const MDState<MS>&) const { return chain_.energy(); }
  std::vector<double> state() const {
    std::vector<double> v;
    chain_.append_state(v);
    return v;
  }
  template <class MS>
  void set_state(const std::vector<double>& v, const MDState<MS>& s) {
    chain_ = NHChain(p_.chain, s.ndof, p_.temperature, p_.tdamp);
    chain_.read_state(v, 0);
  }
  const Parameters& parameters() const { return p_; }

 private:
  template <class MS>
  void thermostat(MDState<MS>& s) {
    const double sc = chain_.half_step(2.0 * s.kinetic_energy(), s.dt);
    detail::scale_velocities(*s.sys, sc);
  }
  Parameters p_;
  NHChain chain_;
};

/// Berendsen weak coupling (LAMMPS `fix nve` + `fix temp/berendsen T T tdamp`): after each
/// velocity-Verlet step v ← λ v, λ² = 1 + (dt/τ)(T₀/T − 1). Not canonical (suppresses kinetic
/// energy fluctuations). Conserved: E_pot + E_kin − (energy the rescaling added).
template <>
class Ensemble<NVT, Berendsen> : public detail::BathExchange {
 public:
  static constexpr bool needs_stress = false;
  static constexpr const char* name = "nvt-berendsen";
  struct Parameters {
    double temperature = 300;  ///< K
    double tdamp = 100;        ///< fs
  };
  explicit Ensemble(Parameters p) : p_(p) {
    if (!(p.tdamp > 0)) throw ValueError("Berendsen damping time must be positive (fs)");
  }
  void set_temperature(double T) { p_.temperature = T; }
  template <class MS>
  void setup(MDState<MS>&) {}
  template <class MS>
  void before_force(MDState<MS>& s) { detail::verlet_before_force(s); }
  template <class MS>
  void after_force(MDState<MS>& s) {
    detail::verlet_after_force(s);
    const double ke = s.kinetic_energy();
    const double T = s.temperature();
    if (T > 0) {
      const double l2 = std::max(0.0, 1.0 + s.dt / p_.tdamp * (p_.temperature / T - 1.0));
      detail::scale_velocities(*s.sys, std::sqrt(l2));
      exchanged_ += ke * (l2 - 1.0);
    }
  }
 private:
  Parameters p_;
};

/// BAOAB Langevin dynamics (Leimkuhler & Matthews 2013): kick(dt/2) · drift(dt/2) ·
/// O: v ← c v + √((1−c²) kT/m) ξ, c = exp(−dt/τ) · drift(dt/2) · force · kick(dt/2).
/// ξ is a counter-based normal variate of (seed, step, atom, axis): restarts are bit-identical.
/// With `zero_momentum` the net momentum the noise adds is removed (LAMMPS `zero yes`).
/// Conserved (shadow) quantity: E_pot + E_kin − (heat exchanged with the bath).
template <>
class Ensemble<NVT, Langevin> : public detail::BathExchange {
 public:
  static constexpr bool needs_stress = false;
  static constexpr const char* name = "nvt-langevin";
  struct Parameters {
    double temperature = 300;  ///< K
    double tdamp = 100;        ///< fs (friction γ = 1/tdamp)
    bool zero_momentum = true;
  };
  explicit Ensemble(Parameters p) : p_(p) {
    if (!(p.tdamp > 0)) throw ValueError("Langevin damping time must be positive (fs)");
  }
  void set_temperature(double T) { p_.temperature = T; }
  template <class MS>
  void setup(MDState<MS>&) {}
  template <class MS>
  void before_force(MDState<MS>& s) {
    auto& sys = *s.sys;
    detail::kick(sys, 0.5 * s.dt);
    detail::drift(sys, 0.5 * s.dt);
    const double ke0 = s.kinetic_energy();
    const double c = std::exp(-s.dt / p_.tdamp);
    const double sq = std::sqrt((1.0 - c * c) * units::kB * p_.temperature * units::force_to_accel);
    const std::uint64_t seed = s.seed, step = static_cast<std::uint64_t>(s.step + 1);
    detail::langevin_velocity_step(sys, c, sq, seed, step);
    if (p_.zero_momentum && sys.size() > 1) remove_com_momentum(sys);
    exchanged_ += s.kinetic_energy() - ke0;
    detail::drift(sys, 0.5 * s.dt);
  }
  template <class MS>
  void after_force(MDState<MS>& s) { detail::kick(*s.sys, 0.5 * s.dt); }
 private:
  Parameters p_;
};

}  // namespace md
NERNST_NAMESPACE_END
