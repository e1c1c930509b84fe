#pragma once
/// \file
/// \brief Isothermal–isobaric ensembles: the MTK Nosé–Hoover barostat (iso / aniso / triclinic)
/// and the Berendsen barostat.

#include <nernst/md/ensemble.hpp>
#include <nernst/md/nvt.hpp>

NERNST_NAMESPACE_BEGIN
namespace md {

/// MTK NpT (Martyna, Tobias, Klein 1994; Tuckerman et al., J. Phys. A 39, 5629 (2006)),
/// LAMMPS `fix npt temp T T tdamp iso|aniso|tri P P pdamp` (tchain = pchain = 3, mtk yes,
/// dilation about the origin).
///
/// The cell obeys ḣ = ν h (rows transform as a ← e^{ν t} a) with ν = p_g/W a symmetric
/// strain rate, restricted to ν ∝ I (iso), diagonal (aniso) or any symmetric (tri).
/// ṗ_g = Proj[V (P_int − P₀ I) + (2 E_kin/N_f) I], particles ṗ = F − (ν + tr(ν)/N_f) p.
/// W = (N + 1) kT τ_p² as in LAMMPS. The particle and the barostat momenta each have a
/// Nosé–Hoover chain. Trotter splitting (each stage solved exactly):
/// Cb(dt/2) Cp(dt/2) B(dt/2) V(dt/2) X(dt) [force] V(dt/2) B(dt/2) Cp(dt/2) Cb(dt/2).
/// Conserved: E_pot + E_kin + W Σν²/2 + P₀V + both chain energies.
template <>
class Ensemble<NpT, NoseHoover> {
 public:
  static constexpr bool needs_stress = true;
  static constexpr const char* name = "npt-nh";
  struct Parameters {
    double temperature = 300;  ///< K
    double pressure = 1.0;     ///< bar
    double tdamp = 100;        ///< fs
    double pdamp = 1000;       ///< fs
    Coupling coupling = Coupling::Isotropic;
    int tchain = 3;
    int pchain = 3;
  };
  explicit Ensemble(Parameters p) : p_(p) {
    if (!(p.pdamp > 0) || !(p.tdamp > 0)) throw ValueError("NpT damping times must be positive (fs)");
  }
  void set_temperature(double T) {
    p_.temperature = T;
    if (chain_.length() > 0) {
      chain_.set_temperature(T);
      bchain_.set_temperature(T);
      W_ = (natoms_ + 1) * units::kB * T * p_.pdamp * p_.pdamp;
    }
  }
  void set_pressure(double P_bar) { p_.pressure = P_bar; }
  template <class MS>
  void setup(MDState<MS>& s) {
    if (chain_.length() == 0) init(s.ndof, s.sys->size());
  }
  template <class MS>
  void before_force(MDState<MS>& s) {
    auto& sys = *s.sys;
    const double h = 0.5 * s.dt;
    barostat_thermostat(s.dt);
    detail::scale_velocities(sys, chain_.half_step(2.0 * s.kinetic_energy(), s.dt));
    barostat_kick(s, h);
    velocity_stage(s, h);
    // positions and cell: x ← e^{ν dt} x + ∫e^{ν t} dt · v ; a_k ← e^{ν dt} a_k
    const Eigen::Matrix3d E = detail::sym_expm(nu_, s.dt);
    detail::linear_position_update(sys, E, detail::sym_expm_integral(nu_, 1.0, s.dt));
    sys.cell = Lattice(sys.cell.matrix() * E.transpose());
    detail::wrap(sys);
  }
  template <class MS>
  void after_force(MDState<MS>& s) {
    const double h = 0.5 * s.dt;
    velocity_stage(s, h);
    barostat_kick(s, h);
    detail::scale_velocities(*s.sys, chain_.half_step(2.0 * s.kinetic_energy(), s.dt));
    barostat_thermostat(s.dt);
  }
  template <class MS>
  double extended_energy(const MDState<MS>& s) const {
    return 0.5 * W_ * nu_.squaredNorm() + p_.pressure / units::eV_per_A3_in_bar * s.volume() + chain_.energy() +
           bchain_.energy();
  }
  std::vector<double> state() const {
    std::vector<double> v(nu_.data(), nu_.data() + 9);
    chain_.append_state(v);
    bchain_.append_state(v);
    return v;
  }
  template <class MS>
  void set_state(const std::vector<double>& v, const MDState<MS>& s) {
    init(s.ndof, s.sys->size());
    if (v.size() < 9) throw ValueError("checkpoint: NpT state too short");
    for (int k = 0; k < 9; ++k) nu_.data()[k] = v[static_cast<std::size_t>(k)];
    bchain_.read_state(v, chain_.read_state(v, 9));
  }
  /// Strain rate ν (1/fs) of the cell.
  const Eigen::Matrix3d& strain_rate() const { return nu_; }
  const Parameters& parameters() const { return p_; }

 private:
  int cell_dof() const { return p_.coupling == Coupling::Isotropic ? 1 : (p_.coupling == Coupling::Anisotropic ? 3 : 6); }
  void init(int ndof, std::size_t natoms) {
    ndof_ = ndof;
    natoms_ = static_cast<double>(natoms);
    chain_ = NHChain(p_.tchain, ndof, p_.temperature, p_.tdamp);
    bchain_ = NHChain(p_.pchain, cell_dof(), p_.temperature, p_.pdamp);
    W_ = (natoms_ + 1) * units::kB * p_.temperature * p_.pdamp * p_.pdamp;
    nu_.setZero();
  }
  void barostat_thermostat(double dt) {
    const double sc = bchain_.half_step(W_ * nu_.squaredNorm(), dt);
    nu_ *= sc;
  }
  template <class MS>
  void barostat_kick(MDState<MS>& s, double h) {
    const Eigen::Matrix3d K = s.kinetic_tensor();
    const double V = s.volume();
    const Eigen::Matrix3d P = K / V - s.last.stress;
    Eigen::Matrix3d G = V * (P - p_.pressure / units::eV_per_A3_in_bar * Eigen::Matrix3d::Identity()) +
                        (K.trace() / ndof_) * Eigen::Matrix3d::Identity();
    G = 0.5 * (G + G.transpose());
    if (p_.coupling == Coupling::Isotropic) G = (G.trace() / 3.0) * Eigen::Matrix3d::Identity();
    else if (p_.coupling == Coupling::Anisotropic) G = Eigen::Matrix3d(G.diagonal().asDiagonal());
    nu_ += h * G / W_;
  }
  template <class MS>
  void velocity_stage(MDState<MS>& s, double h) {
    const Eigen::Matrix3d A = nu_ + (nu_.trace() / ndof_) * Eigen::Matrix3d::Identity();
    detail::linear_velocity_update(*s.sys, detail::sym_expm(A, -h), detail::sym_expm_integral(A, -1.0, h));
  }

  Parameters p_;
  NHChain chain_, bchain_;
  Eigen::Matrix3d nu_ = Eigen::Matrix3d::Zero();
  double W_ = 0, natoms_ = 0;
  int ndof_ = 1;
};

/// Berendsen barostat with a Nosé–Hoover chain thermostat (the LAMMPS reference runs use
/// `fix nvt` + `fix press/berendsen iso P P pdamp modulus B`). After each NVT step the cell and
/// positions are scaled about the origin by μ = [1 − (dt/τ_p)(P₀ − P)/B]^{1/3} (per axis for
/// aniso). As in LAMMPS, the forces of the step are kept for the next half kick (error
/// O((μ−1)·F)). Not an exact NpT ensemble (volume fluctuations are suppressed).
/// Conserved (first order): E_pot + E_kin + chain energy − work done by the rescaling.
template <>
class Ensemble<NpT, Berendsen> {
 public:
  static constexpr bool needs_stress = true;
  static constexpr const char* name = "npt-berendsen";
  struct Parameters {
    double temperature = 300;  ///< K
    double pressure = 1.0;     ///< bar
    double tdamp = 100;        ///< fs
    double pdamp = 1000;       ///< fs
    double modulus = 1e4;      ///< bulk modulus estimate B, bar (LAMMPS default 10 GPa... here 1e4 bar)
    Coupling coupling = Coupling::Isotropic;  ///< Isotropic or Anisotropic
    int tchain = 3;
  };
  explicit Ensemble(Parameters p) : p_(p), nvt_({p.temperature, p.tdamp, p.tchain}) {
    if (!(p.pdamp > 0) || !(p.modulus > 0)) throw ValueError("Berendsen barostat: pdamp and modulus must be positive");
    if (p.coupling == Coupling::Triclinic) throw NotSupported("Berendsen barostat: only iso and aniso coupling");
  }
  void set_temperature(double T) {
    p_.temperature = T;
    nvt_.set_temperature(T);
  }
  void set_pressure(double P_bar) { p_.pressure = P_bar; }
  template <class MS>
  void setup(MDState<MS>& s) { nvt_.setup(s); }
  template <class MS>
  void before_force(MDState<MS>& s) { nvt_.before_force(s); }
  template <class MS>
  void after_force(MDState<MS>& s) {
    nvt_.after_force(s);
    auto& sys = *s.sys;
    const Eigen::Matrix3d P = s.pressure_tensor() * units::eV_per_A3_in_bar;
    Eigen::Vector3d mu;
    for (int k = 0; k < 3; ++k) {
      const double pk = p_.coupling == Coupling::Isotropic ? P.trace() / 3.0 : P(k, k);
      mu[k] = std::cbrt(1.0 - s.dt / p_.pdamp * (p_.pressure - pk) / p_.modulus);
    }
    const Eigen::Matrix3d M = mu.asDiagonal();
    // first-order energy change of the scaling: dE_pot = V Σ σ_ab ε_ab
    work_ += s.volume() * (s.last.stress.diagonal().dot(mu - Eigen::Vector3d::Ones()));
    detail::linear_position_update(sys, M, Eigen::Matrix3d::Zero());
    sys.cell = Lattice(sys.cell.matrix() * M);
    detail::wrap(sys);
  }
  template <class MS>
  double extended_energy(const MDState<MS>& s) const { return nvt_.extended_energy(s) - work_; }
  std::vector<double> state() const {
    auto v = nvt_.state();
    v.push_back(work_);
    return v;
  }
  template <class MS>
  void set_state(const std::vector<double>& v, const MDState<MS>& s) {
    if (v.empty()) throw ValueError("checkpoint: Berendsen NpT state too short");
    nvt_.set_state(std::vector<double>(v.begin(), v.end() - 1), s);
    work_ = v.back();
  }

 private:
  Parameters p_;
  Ensemble<NVT, NoseHoover> nvt_;
  double work_ = 0;
};

}  // namespace md
NERNST_NAMESPACE_END
