#pragma once
/// \file
/// \brief Physical constants (CODATA 2018) and unit conversions.
///
/// Internal units: energy eV, length Å, time fs, mass amu, temperature K, charge e.
/// Stress is eV/Å³ with ASE's sign (positive = tensile) and Voigt order xx yy zz yz xz xy.

#include <nernst/core/macros.hpp>

NERNST_NAMESPACE_BEGIN
namespace units {

// Exact SI definitions (2019 redefinition, identical in CODATA 2018).
inline constexpr double elementary_charge_C = 1.602176634e-19;  ///< C
inline constexpr double boltzmann_J_per_K = 1.380649e-23;        ///< J/K
inline constexpr double avogadro = 6.02214076e23;                ///< 1/mol
// CODATA 2018 measured values.
inline constexpr double amu_kg = 1.66053906660e-27;  ///< kg

inline constexpr double eV_J = elementary_charge_C;                   ///< J per eV
inline constexpr double kB = boltzmann_J_per_K / elementary_charge_C; ///< eV/K (8.617333262e-5)
inline constexpr double angstrom_m = 1e-10;
inline constexpr double fs_s = 1e-15;

/// The natural time unit of (amu, Å, eV), expressed in fs: sqrt(amu Å² / eV) ≈ 10.1805 fs.
/// Velocities are stored in Å/fs; F/m (eV/Å/amu) times this factor squared gives Å/fs².
inline constexpr double amu_A2_per_eV_in_fs2 = amu_kg * angstrom_m * angstrom_m / eV_J / (fs_s * fs_s);
/// Converts a force/mass in eV/(Å amu) to an acceleration in Å/fs².
inline constexpr double force_to_accel = 1.0 / amu_A2_per_eV_in_fs2;
/// Converts m v² with m in amu and v in Å/fs to eV.
inline constexpr double mvv_to_eV = amu_A2_per_eV_in_fs2;

/// 1 eV/Å³ in GPa (160.2176634).
inline constexpr double eV_per_A3_in_GPa = eV_J / (angstrom_m * angstrom_m * angstrom_m) * 1e-9;
/// 1 eV/Å³ in kBar (1602.176634); VASP reports stress in kBar.
inline constexpr double eV_per_A3_in_kbar = eV_per_A3_in_GPa * 10.0;
/// 1 eV/Å³ in bar (LAMMPS metal pressure unit).
inline constexpr double eV_per_A3_in_bar = eV_per_A3_in_GPa * 1e4;

inline constexpr double GPa_to_eV_per_A3(double p) { return p / eV_per_A3_in_GPa; }
inline constexpr double eV_per_A3_to_GPa(double s) { return s * eV_per_A3_in_GPa; }

/// Diffusion coefficient: 1 Å²/fs in cm²/s.
inline constexpr double A2_per_fs_in_cm2_per_s = 1e-16 / 1e-15;
/// Diffusion coefficient: 1 Å²/ps in cm²/s.
inline constexpr double A2_per_ps_in_cm2_per_s = 1e-16 / 1e-12;

/// Nernst–Einstein prefactor: σ[mS/cm] = factor · n q² D / (V kB T) with n ions, q in e,
/// D in Å²/fs, V in Å³, T in K (kB in eV/K inside the formula).
/// σ = n q² e² D / (V kB T) in SI: (C² · m²/s) / (m³ · J) = S/m; 1 S/m = 10 mS/cm.
inline constexpr double nernst_einstein_mS_per_cm =
    elementary_charge_C * elementary_charge_C * (angstrom_m * angstrom_m / fs_s) /
    (angstrom_m * angstrom_m * angstrom_m * boltzmann_J_per_K) * 10.0;

}  // namespace units
NERNST_NAMESPACE_END
