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
  /// taken, including the final converged state.
  template <class Pot>
  RelaxResult run(System<typename Pot::memory_space>& sys, Pot& pot, const RelaxOptions& o = {},
                  const std::function<void(const RelaxStep&)>& callback = {}) const {
    NERNST_STATIC_ASSERT_POTENTIAL(Pot);
    if (!(o.fmax > 0)) throw ValueError("relax: fmax must be positive (eV/Å)");
    if (o.max_steps < 0) throw ValueError("relax: max_steps must be >= 0");
    const std::size_t n = sys.size();
    const bool cell = o.cell.has_value();
    const std::size_t rows = n + (cell ? 3 : 0);
    const Eigen::Matrix3d H0 = sys.cell.matrix();  // rows a, b, c
    const double cf = cell ? (o.cell->cell_factor ? *o.cell->cell_factor : static_cast<double>(n)) : 1.0;
    const double p = cell ? o.cell->pressure : 0.0;
    if (cell && !(cf > 0)) throw ValueError("relax: cell_factor must be positive");
    Eigen::Matrix3d mask = Eigen::Matrix3d::Ones();
    if (cell) {
      const auto& m = o.cell->mask;
      mask << m[0], m[5], m[4], m[5], m[1], m[3], m[4], m[3], m[2];
    }

    auto hx = Kokkos::create_mirror_view_and_copy(HostSpace(), sys.x);
    Eigen::MatrixXd pos(static_cast<Eigen::Index>(n), 3);  // current Cartesian positions (rows)
    for (std::size_t i = 0; i < n; ++i)
      for (int d = 0; d < 3; ++d) pos(static_cast<Eigen::Index>(i), d) = hx(i, d);
    Eigen::Matrix3d F = Eigen::Matrix3d::Identity();  // deformation gradient: H = H0 Fᵀ

    RelaxResult res;
    ComputeRequest req;
    req.forces = true;
    req.stress = cell || o.stress_tol > 0;
    Eigen::MatrixXd gf(static_cast<Eigen::Index>(rows), 3);  // generalised forces
    Eigen::Matrix3d sigma = Eigen::Matrix3d::Zero();
    double energy = 0;

    auto evaluate = [&]() {
      for (std::size_t i = 0; i < n; ++i)
        for (int d = 0; d < 3; ++d) hx(i, d) = pos(static_cast<Eigen::Index>(i), d);
      Kokkos::deep_copy(sys.x, hx);
      const ComputeResult r = pot.compute(sys, req);
      ++res.evaluations;
      energy = r.energy;
      if (!std::isfinite(energy)) throw ValueError("relax: the potential returned a non-finite energy");
      if (req.stress) {
        if (!r.has_stress) throw NotSupported("relax: the potential did not return a stress");
        sigma = r.stress;
      }
      auto hf = Kokkos::create_mirror_view_and_copy(HostSpace(), sys.f);
      Eigen::MatrixXd f(static_cast<Eigen::Index>(n), 3);
      for (std::size_t i = 0; i < n; ++i)
        for (int d = 0; d < 3; ++d) f(static_cast<Eigen::Index>(i), d) = hf(i, d);
      if (!f.allFinite()) throw ValueError("relax: the potential returned non-finite forces");
      if (!cell) {
        gf = f;
        return;
      }
      const double V = sys.cell.volume();
      Eigen::Matrix3d virial = -V * (sigma + p * Eigen::Matrix3d::Identity());
      gf.topRows(static_cast<Eigen::Index>(n)) = f * F;
      virial = F.transpose().partialPivLu().solve(virial.transpose()).transpose();  // virial F⁻ᵀ
      if (o.cell->hydrostatic_strain) virial = Eigen::Matrix3d::Identity() * (virial.trace() / 3.0);
      virial = virial.cwiseProduct(mask);
      gf.bottomRows(3) = virial / cf;
    };
    auto set_generalised = [&](const Eigen::MatrixXd& g) {
      if (!cell) {
        pos = g;
        return;
      }
      F = g.bottomRows(3) / cf;
      const Eigen::Matrix3d H = H0 * F.transpose();
      sys.cell = Lattice(H);  // throws ValueError for a degenerate cell
      pos = g.topRows(static_cast<Eigen::Index>(n)) * F.transpose();
    };
    auto generalised = [&]() {
      if (!cell) return Eigen::MatrixXd(pos);
      Eigen::MatrixXd g(static_cast<Eigen::Index>(rows), 3);
      g.topRows(static_cast<Eigen::Index>(n)) = F.partialPivLu().solve(pos.transpose()).transpose();
      g.bottomRows(3) = cf * F;
      return g;
    };
    auto smax_of = [&]() {
      return (sigma + p * Eigen::Matrix3d::Identity()).cwiseAbs().maxCoeff();
    };

    double dt = p_.dt, a = p_.astart;
    int nsteps_up = 0;
    Eigen::MatrixXd v;  // empty until the first step (ASE: v is None)
    for (long step = 0;; ++step) {
      evaluate();
      const double fm = std::sqrt(gf.rowwise().squaredNorm().maxCoeff());
      const double sm = cell || o.stress_tol > 0 ? smax_of() : 0.0;
      const double V = sys.cell.volume();
      if (callback) callback(RelaxStep{step, energy, energy + p * V, fm, sm, V});
      res.steps = step;
      res.energy = energy;
      res.enthalpy = energy + p * V;
      res.fmax = fm;
      res.smax = sm;
      res.stress = sigma;
      res.volume = V;
      if (fm < o.fmax && (o.stress_tol <= 0 || sm < o.stress_tol)) {
        res.converged = true;
        break;
      }
      if (step >= o.max_steps) break;
      // ASE FIRE.step
      if (v.size() == 0) {
        v = Eigen::MatrixXd::Zero(gf.rows(), 3);
      } else {
        const double vf = (gf.array() * v.array()).sum();
        if (vf > 0.0) {
          v = (1.0 - a) * v + a * gf / gf.norm() * v.norm();
          if (nsteps_up > p_.Nmin) {
            dt = std::min(dt * p_.finc, p_.dtmax);
            a *= p_.fa;
          }
          ++nsteps_up;
        } else {
          v.setZero();
          a = p_.astart;
          dt *= p_.fdec;
          nsteps_up = 0;
        }
      }
      v += dt * gf;
      Eigen::MatrixXd dr = dt * v;
      const double normdr = dr.norm();
      if (normdr > p_.maxstep) dr *= p_.maxstep / normdr;
      set_generalised(generalised() + dr);
    }
    // Leave the positions in the System as evaluated (forces/energy consistent with them).
    return res;
  }

 private:
  FIRE p_;
};

NERNST_NAMESPACE_END
