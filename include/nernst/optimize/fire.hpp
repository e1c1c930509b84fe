#pragma once
/// \file
/// \brief Optimizer<FIRE>: structure relaxation by the Fast Inertial Relaxation Engine
/// (Bitzek et al., PRL 97, 170201 (2006)) with exactly ASE's step rule and default parameters,
/// on atomic positions alone or on positions + lattice through a CellFilter.
///
/// ```
/// Potential<LennardJones> lj({0.0104, 3.40, 8.5});
/// Optimizer<FIRE> opt;                                  // dt 0.1, maxstep 0.2 Å, ... (ASE)
/// RelaxOptions ro;  ro.fmax = 0.01;  ro.cell = CellFilter{};   // positions + cell, p = 0
/// RelaxResult r = opt.run(sys, lj, ro);
/// ```
/// The step is ASE 3.22 `ase.optimize.FIRE.step` (no downhill check), unit masses:
///   v ← (1−a)v + a |v| f/|f| when f·v > 0 (after Nmin such steps dt ← min(finc·dt, dtmax),
///   a ← fa·a), else v ← 0, a ← astart, dt ← fdec·dt; then v ← v + dt f, Δr = dt v scaled down to
///   |Δr| ≤ maxstep (norm over all generalised coordinates), r ← r + Δr.
/// The cell filter is ASE's `UnitCellFilter`: generalised coordinates are the positions in the
/// undeformed frame F⁻¹r plus cell_factor·F (F the deformation gradient from the initial cell,
/// cell_factor = N by default); generalised forces are fF and the virial
/// W = −V(σ + p I) F⁻ᵀ / cell_factor (σ the stress with ASE's sign, p the target hydrostatic
/// pressure), optionally reduced to its trace (`hydrostatic_strain`) or masked. Convergence is
/// ASE's: the largest generalised-force row norm below `fmax`, and, when `stress_tol` > 0,
/// additionally max|σ_ij + p δ_ij| below `stress_tol` (eV/Å³). Because the generalised forces
/// equal ASE's, runs reproduce ASE's trajectories step for step on the same potential
/// (tests/optimize/test_fire_ase.cpp).
///
/// The optimizer works on host copies of the (small) coordinate arrays; the cost of a step is
/// one potential evaluation.

#include <nernst/core/error.hpp>
#include <nernst/core/system.hpp>
#include <nernst/core/units.hpp>
#include <nernst/potential/potential.hpp>

#include <Eigen/Dense>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

NERNST_NAMESPACE_BEGIN

/// Policy tag of the FIRE optimizer; its members are ASE's parameters and defaults.
struct FIRE {
  double dt = 0.1;        ///< initial time step (ASE units: Å √(amu/eV) with unit masses)
  double maxstep = 0.2;   ///< largest move of the whole generalised coordinate vector per step, Å
  double dtmax = 1.0;     ///< largest time step
  int Nmin = 5;           ///< uphill-free steps before dt grows
  double finc = 1.1;      ///< dt growth factor
  double fdec = 0.5;      ///< dt reduction factor after an uphill step
  double astart = 0.1;    ///< initial mixing parameter
  double fa = 0.99;       ///< mixing decay
};

/// Positions and lattice relaxed together (ASE UnitCellFilter).
struct CellFilter {
  double pressure = 0.0;            ///< target hydrostatic pressure, eV/Å³ (use units::GPa_to_eV_per_A3)
  bool hydrostatic_strain = false;  ///< only isotropic cell changes
  std::optional<double> cell_factor;  ///< default: number of atoms
  std::array<double, 6> mask{{1, 1, 1, 1, 1, 1}};  ///< Voigt xx yy zz yz xz xy; 0 freezes a strain component
};

struct RelaxOptions {
  double fmax = 0.01;              ///< eV/Å, ASE criterion on the generalised forces
  double stress_tol = 0.0;         ///< eV/Å³; > 0 also requires max|σ + pI| below this (cell relaxations)
  long max_steps = 2000;
  std::optional<CellFilter> cell;  ///< unset: positions only (fixed cell)
};

/// One line of the optimisation log (what the callback receives).
struct RelaxStep {
  long step = 0;
  double energy = 0;    ///< eV (potential energy, without pV)
  double enthalpy = 0;  ///< eV, E + pV
  double fmax = 0;      ///< largest generalised-force row norm (eV/Å)
  double smax = 0;      ///< max|σ + pI| (eV/Å³), 0 without a cell filter
  double volume = 0;    ///< Å³
};

struct RelaxResult {
  bool converged = false;
  long steps = 0;            ///< optimizer steps taken (ASE's nsteps)
  long evaluations = 0;      ///< potential calls
  double energy = 0;         ///< eV at the final geometry
  double enthalpy = 0;       ///< eV, E + pV
  double fmax = 0;           ///< eV/Å
  double smax = 0;           ///< eV/Å³
  Eigen::Matrix3d stress = Eigen::Matrix3d::Zero();  ///< eV/Å³, ASE sign
  double volume = 0;         ///< Å³
};

/// One FIRE relaxation driven step by step: the state Optimizer<FIRE>::run loops over, and what
/// relax_together (optimize/relax_together.hpp) advances for many structures with one batched
/// evaluation per step. A step is
///
///   prepare()        the current positions (and cell) into the System
///   <evaluate>       the caller's: pot.compute(system(), request()), alone or in a batch
///   take(result)     energy, forces, stress → generalised forces; true when finished
///                    (converged, or max_steps reached): result() is then final
///   advance()        ASE's FIRE step: new velocities, generalised coordinates, positions, cell
///
/// The System is referenced, not owned: it must outlive the relaxation and not move.
template <class MemorySpace>
class FireRelaxation {
 public:
  FireRelaxation(System<MemorySpace>& sys, const FIRE& p, const RelaxOptions& o,
                 std::function<void(const RelaxStep&)> callback = {})
      : sys_(sys), p_(p), o_(o), callback_(std::move(callback)), n_(sys.size()), cell_(o.cell.has_value()),
        H0_(sys.cell.matrix()), dt_(p.dt), a_(p.astart) {
    if (!(o.fmax > 0)) throw ValueError("relax: fmax must be positive (eV/Å)");
    if (o.max_steps < 0) throw ValueError("relax: max_steps must be >= 0");
    cf_ = cell_ ? (o.cell->cell_factor ? *o.cell->cell_factor : static_cast<double>(n_)) : 1.0;
    pressure_ = cell_ ? o.cell->pressure : 0.0;
    if (cell_ && !(cf_ > 0)) throw ValueError("relax: cell_factor must be positive");
    if (cell_) {
      const auto& m = o.cell->mask;
      mask_ << m[0], m[5], m[4], m[5], m[1], m[3], m[4], m[3], m[2];
    }
    hx_ = Kokkos::create_mirror_view_and_copy(HostSpace(), sys.x);
    pos_.resize(static_cast<Eigen::Index>(n_), 3);
    for (std::size_t i = 0; i < n_; ++i)
      for (int d = 0; d < 3; ++d) pos_(static_cast<Eigen::Index>(i), d) = hx_(i, d);
    req_.forces = true;
    req_.stress = cell_ || o.stress_tol > 0;
  }

  System<MemorySpace>& system() { return sys_; }
  /// What every evaluation must compute: forces, and the stress with a cell filter or stress_tol.
  const ComputeRequest& request() const { return req_; }
  /// The result so far; final once take() returned true.
  const RelaxResult& result() const { return res_; }

  /// Writes the current positions into the System (the cell is already there).
  void prepare() {
    for (std::size_t i = 0; i < n_; ++i)
      for (int d = 0; d < 3; ++d) hx_(i, d) = pos_(static_cast<Eigen::Index>(i), d);
    Kokkos::deep_copy(sys_.x, hx_);
  }

  /// Takes the evaluation of the prepared System (its forces in system().f); true when the
  /// relaxation has finished (converged, or the step limit reached).
  bool take(const ComputeResult& r) {
    ++res_.evaluations;
    generalised_forces(r);
    const double fm = std::sqrt(gf_.rowwise().squaredNorm().maxCoeff());
    const double sm = cell_ || o_.stress_tol > 0 ? (sigma_ + pressure_ * Eigen::Matrix3d::Identity()).cwiseAbs().maxCoeff() : 0.0;
    const double V = sys_.cell.volume();
    if (callback_) callback_(RelaxStep{step_, energy_, energy_ + pressure_ * V, fm, sm, V});
    res_.steps = step_;
    res_.energy = energy_;
    res_.enthalpy = energy_ + pressure_ * V;
    res_.fmax = fm;
    res_.smax = sm;
    res_.stress = sigma_;
    res_.volume = V;
    if (fm < o_.fmax && (o_.stress_tol <= 0 || sm < o_.stress_tol)) {
      res_.converged = true;
      return true;
    }
    return step_ >= o_.max_steps;
  }

  /// ASE 3.22 `FIRE.step` from the last taken generalised forces.
  void advance() {
    if (v_.size() == 0) {  // the first step (ASE: v is None)
      v_ = Eigen::MatrixXd::Zero(gf_.rows(), 3);
    } else {
      const double vf = (gf_.array() * v_.array()).sum();
      if (vf > 0.0) {
        v_ = (1.0 - a_) * v_ + a_ * gf_ / gf_.norm() * v_.norm();
        if (nsteps_up_ > p_.Nmin) {
          dt_ = std::min(dt_ * p_.finc, p_.dtmax);
          a_ *= p_.fa;
        }
        ++nsteps_up_;
      } else {
        v_.setZero();
        a_ = p_.astart;
        dt_ *= p_.fdec;
        nsteps_up_ = 0;
      }
    }
    v_ += dt_ * gf_;
    Eigen::MatrixXd dr = dt_ * v_;
    const double normdr = dr.norm();
    if (normdr > p_.maxstep) dr *= p_.maxstep / normdr;
    set_generalised(generalised() + dr);
    ++step_;
  }

 private:
  /// Energy, stress and the generalised forces (ASE UnitCellFilter) of an evaluation.
  void generalised_forces(const ComputeResult& r) {
    energy_ = r.energy;
    if (!std::isfinite(energy_)) throw ValueError("relax: the potential returned a non-finite energy");
    if (req_.stress) {
      if (!r.has_stress) throw NotSupported("relax: the potential did not return a stress");
      sigma_ = r.stress;
    }
    auto hf = Kokkos::create_mirror_view_and_copy(HostSpace(), sys_.f);
    Eigen::MatrixXd f(static_cast<Eigen::Index>(n_), 3);
    for (std::size_t i = 0; i < n_; ++i)
      for (int d = 0; d < 3; ++d) f(static_cast<Eigen::Index>(i), d) = hf(i, d);
    if (!f.allFinite()) throw ValueError("relax: the potential returned non-finite forces");
    if (!cell_) {
      gf_ = f;
      return;
    }
    gf_.resize(static_cast<Eigen::Index>(n_ + 3), 3);
    const double V = sys_.cell.volume();
    Eigen::Matrix3d virial = -V * (sigma_ + pressure_ * Eigen::Matrix3d::Identity());
    gf_.topRows(static_cast<Eigen::Index>(n_)) = f * F_;
    virial = F_.transpose().partialPivLu().solve(virial.transpose()).transpose();  // virial F⁻ᵀ
    if (o_.cell->hydrostatic_strain) virial = Eigen::Matrix3d::Identity() * (virial.trace() / 3.0);
    virial = virial.cwiseProduct(mask_);
    gf_.bottomRows(3) = virial / cf_;
  }

  /// The generalised coordinates: positions (undeformed frame) and cell_factor·F.
  Eigen::MatrixXd generalised() const {
    if (!cell_) return pos_;
    Eigen::MatrixXd g(static_cast<Eigen::Index>(n_ + 3), 3);
    g.topRows(static_cast<Eigen::Index>(n_)) = F_.partialPivLu().solve(pos_.transpose()).transpose();
    g.bottomRows(3) = cf_ * F_;
    return g;
  }

  void set_generalised(const Eigen::MatrixXd& g) {
    if (!cell_) {
      pos_ = g;
      return;
    }
    F_ = g.bottomRows(3) / cf_;
    const Eigen::Matrix3d H = H0_ * F_.transpose();
    sys_.cell = Lattice(H);  // throws ValueError for a degenerate cell
    pos_ = g.topRows(static_cast<Eigen::Index>(n_)) * F_.transpose();
  }

  System<MemorySpace>& sys_;
  FIRE p_;
  RelaxOptions o_;
  std::function<void(const RelaxStep&)> callback_;
  std::size_t n_;
  bool cell_;
  Eigen::Matrix3d H0_;  // rows a, b, c of the initial cell
  double cf_ = 1.0, pressure_ = 0.0;
  Eigen::Matrix3d mask_ = Eigen::Matrix3d::Ones();
  using HostPositions = decltype(Kokkos::create_mirror_view_and_copy(HostSpace(), std::declval<typename System<MemorySpace>::vec_view>()));
  HostPositions hx_;  // host copy of the positions
  Eigen::MatrixXd pos_;                               // current Cartesian positions (rows)
  Eigen::Matrix3d F_ = Eigen::Matrix3d::Identity();  // deformation gradient: H = H0 Fᵀ
  ComputeRequest req_;
  RelaxResult res_;
  Eigen::MatrixXd gf_;  // generalised forces
  Eigen::Matrix3d sigma_ = Eigen::Matrix3d::Zero();
  double energy_ = 0;
  double dt_, a_;
  int nsteps_up_ = 0;
  long step_ = 0;
  Eigen::MatrixXd v_;  // empty until the first step
};

template <class Policy>
class Optimizer;

/// FIRE, see the file comment.
template <>
class Optimizer<FIRE> {
 public:
  explicit Optimizer(FIRE p = {}) : p_(p) {
    if (!(p.dt > 0) || !(p.maxstep > 0) || !(p.dtmax > 0) || !(p.finc >= 1) || !(p.fdec > 0 && p.fdec <= 1) ||
        !(p.astart >= 0 && p.astart <= 1) || !(p.fa > 0 && p.fa <= 1) || p.Nmin < 0)
      throw ValueError("FIRE: need dt, maxstep, dtmax > 0, finc >= 1, 0 < fdec <= 1, 0 <= astart <= 1, 0 < fa <= 1");
  }
  const FIRE& parameters() const { return p_; }

  /// Relaxes `sys` in place with `pot`. `callback` (optional) sees every step before it is
  /// taken, including the final converged state. The System is left as last evaluated (its
  /// forces and the result's energy belong to its positions).
  template <class Pot>
  RelaxResult run(System<typename Pot::memory_space>& sys, Pot& pot, const RelaxOptions& o = {},
                  const std::function<void(const RelaxStep&)>& callback = {}) const {
    NERNST_STATIC_ASSERT_POTENTIAL(Pot);
    FireRelaxation<typename Pot::memory_space> r(sys, p_, o, callback);
    for (;;) {
      r.prepare();
      if (r.take(pot.compute(sys, r.request()))) return r.result();
      r.advance();
    }
  }

 private:
  FIRE p_;
};

NERNST_NAMESPACE_END
