#pragma once
/// \file
/// \brief The bundled classical rigid-ion model for Li–Y–Cl: formal charges (Li +1, Y +3,
/// Cl −1) with Ewald electrostatics plus a Born–Mayer–Huggins short-range repulsion and
/// dispersion, `Potential<RigidIon> = Potential<Sum<Ewald, Buckingham>>`. It lets the pipeline run
/// on a fresh machine with no model download; it is a demonstration model, not a replacement
/// for the machine-learned potentials (formal charges overbind and slow down Li hopping).
///
/// Short-range form (Tosi & Fumi, J. Phys. Chem. Solids 25, 45 (1964)):
///   φ_ij(r) = c_ij b exp((σ_i + σ_j − r)/ρ) − C_ij / r⁶
/// * b = 0.338e-19 J = 0.2110 eV, and for Li–Cl the Tosi–Fumi LiCl values ρ = 0.342 Å,
///   basic radii σ_Li = 0.816 Å, σ_Cl = 1.585 Å (their Table 1/2 for LiCl);
/// * Pauling factors c_ij = 1 + z_i/n_i + z_j/n_j (n = 2 for Li⁺, 8 for Cl⁻ and Y³⁺): c_LiCl = 1.375,
///   c_LiLi = 2, c_ClCl = 0.75, c_YCl = 1.25, c_YY = 1.75, c_LiY = 1.875;
/// * dispersion C (Mayer 1933, as tabulated by Tosi & Fumi for LiCl, 10⁻⁶⁰ erg cm⁶ = 0.62415 eV Å⁶):
///   C_LiLi = 0.073, C_LiCl = 2.0, C_ClCl = 111; the r⁻⁸ terms are omitted; no dispersion for Y pairs;
/// * Y³⁺ is not in Tosi–Fumi: its basic radius σ_Y = 1.37 Å is *our* one-parameter fit: the
///   FIRE-relaxed (positions + cell) lowest-Ewald ordering of Li3YCl6 in the 1x1x2 cell then has
///   V = 1313.8 Å³ against 1316.8 Å³ of the experimental cell (a = 11.21 Å, c = 6.05 Å, P-3m1);
///   σ_Y = 1.03, 1.20, 1.50 Å give 1145, 1232, 1383 Å³ (docs/pipeline.md).
/// Ewald split: automatic (potential/ewald.hpp) at relative accuracy 1e-5 by default, cut-off of
/// the short-range part 8 Å.

#include <nernst/potential/buckingham.hpp>
#include <nernst/potential/ewald.hpp>
#include <nernst/potential/sum.hpp>

#include <cmath>
#include <map>

NERNST_NAMESPACE_BEGIN

/// Policy of the rigid-ion model: Ewald + Buckingham.
using RigidIon = Sum<Ewald, Buckingham>;

struct RigidIonParameters {
  EwaldParameters ewald;
  Buckingham short_range;
};

/// Tosi–Fumi-style short-range pair from basic radii (Å), ρ (Å), Pauling factor and C (eV Å⁶).
inline BuckinghamPair tosi_fumi_pair(double sigma_i, double sigma_j, double rho, double pauling, double C_eVA6,
                                     double b_eV = 0.338e-19 / 1.602176634e-19) {
  return BuckinghamPair{pauling * b_eV * std::exp((sigma_i + sigma_j) / rho), rho, C_eVA6};
}

/// The bundled Li–Y–Cl rigid-ion parameters (see the file comment for the sources).
inline RigidIonParameters li_y_cl_rigid_ion(double ewald_accuracy = 1e-5, double cutoff = 8.0, double sigma_Y = 1.37) {
  constexpr int Li = 3, Cl = 17, Y = 39;
  constexpr double rho = 0.342, sLi = 0.816, sCl = 1.585;
  constexpr double mayer = 0.62415;  // 1e-60 erg cm^6 in eV Å^6
  RigidIonParameters p;
  p.ewald.accuracy = ewald_accuracy;
  p.ewald.charges = {{Li, 1.0}, {Y, 3.0}, {Cl, -1.0}};
  p.short_range.cutoff = cutoff;
  p.short_range.shift = true;
  p.short_range.set(Li, Cl, tosi_fumi_pair(sLi, sCl, rho, 1.375, 2.0 * mayer));
  p.short_range.set(Li, Li, tosi_fumi_pair(sLi, sLi, rho, 2.0, 0.073 * mayer));
  p.short_range.set(Cl, Cl, tosi_fumi_pair(sCl, sCl, rho, 0.75, 111.0 * mayer));
  p.short_range.set(Y, Cl, tosi_fumi_pair(sigma_Y, sCl, rho, 1.25, 0.0));
  p.short_range.set(Y, Y, tosi_fumi_pair(sigma_Y, sigma_Y, rho, 1.75, 0.0));
  p.short_range.set(Li, Y, tosi_fumi_pair(sLi, sigma_Y, rho, 1.875, 0.0));
  return p;
}

/// Builds the rigid-ion potential from parameters.
template <class MemorySpace = DefaultMemorySpace>
Potential<RigidIon, double, MemorySpace> make_rigid_ion(const RigidIonParameters& p = li_y_cl_rigid_ion()) {
  return Potential<RigidIon, double, MemorySpace>(Potential<Ewald, double, MemorySpace>(p.ewald),
                                                  Potential<Buckingham, double, MemorySpace>(p.short_range));
}

NERNST_NAMESPACE_END
