#pragma once
/// \file
/// \brief Potential<Ewald>: point-charge electrostatics of a periodic crystal by Ewald summation
/// (energy, forces, stress), with the real/reciprocal split chosen automatically from an
/// accuracy target, plus the site–site Ewald matrix used to rank orderings as a quadratic form.
///
/// E = ½ Σ_ij q_i q_j Φ_ij with
///   Φ_ij = Σ'_n erfc(α r)/r + (4π/V) Σ_{k≠0} e^{-k²/4α²}/k² cos(k·r_ij) − π/(Vα²) − δ_ij 2α/√π,
/// r = |r_j − r_i + n|; the last-but-one term is the neutralising background (only matters for a
/// charged cell). Units: charges in e, lengths Å, energies eV (k_e = e²/4πε₀ = 14.3996 eV·Å).
///
/// Automatic split (the convention of pymatgen's EwaldSummation): with f = sqrt(−ln ε),
/// α² = π (N w / V²)^{1/3}, r_cut = f/α, k_cut = 2 α f; ε is the relative truncation error of
/// each sum (default 1e-12), w = 1/√2 weighs real against reciprocal cost.
///
/// Host implementation (positions are copied from the System's views); O(N²·images + N·k).

#include <nernst/core/units.hpp>
#include <nernst/potential/potential.hpp>

#include <array>
#include <cmath>
#include <complex>
#include <map>
#include <optional>
#include <vector>

NERNST_NAMESPACE_BEGIN

/// Coulomb constant e²/(4πε₀) in eV·Å (CODATA 2018).
inline constexpr double coulomb_eV_A = 1.602176634e-19 / (4.0 * 3.14159265358979323846 * 8.8541878128e-12 * 1e-10);

/// Policy tag for Potential<Ewald>.
struct Ewald {};

struct EwaldParameters {
  double accuracy = 1e-12;            ///< relative truncation error of each sum
  std::optional<double> alpha;        ///< splitting parameter (1/Å); automatic when unset
  std::optional<double> r_cut, k_cut; ///< Å and 1/Å; automatic when unset
  std::map<int, double> charges;      ///< formal charge by atomic number
  double cost_weight = 0.70710678118654752;  ///< w in the automatic split
};

/// The Ewald split actually used.
struct EwaldSplit {
  double alpha = 0, r_cut = 0, k_cut = 0;
};

inline EwaldSplit ewald_split(const EwaldParameters& p, const Lattice& cell, std::size_t n_atoms) {
  if (!(p.accuracy > 0 && p.accuracy < 1)) throw ValueError("Ewald: accuracy must be in (0, 1)");
  const double V = cell.volume();
  const double f = std::sqrt(-std::log(p.accuracy));
  EwaldSplit s;
  s.alpha = p.alpha ? *p.alpha
                    : std::sqrt(M_PI * std::cbrt(static_cast<double>(std::max<std::size_t>(n_atoms, 1)) * p.cost_weight / (V * V)));
  if (!(s.alpha > 0)) throw ValueError("Ewald: alpha must be positive");
  s.r_cut = p.r_cut ? *p.r_cut : f / s.alpha;
  s.k_cut = p.k_cut ? *p.k_cut : 2.0 * s.alpha * f;
  return s;
}

namespace detail {
/// Integer ranges of lattice translations (real) or reciprocal vectors (recip) within radius r.
inline std::array<int, 3> image_range(const Lattice& cell, double r) {
  const auto w = cell.perpendicular_widths();
  return {static_cast<int>(std::ceil(r / w[0])), static_cast<int>(std::ceil(r / w[1])), static_cast<int>(std::ceil(r / w[2]))};
}
/// Cartesian lattice translations (Å) of every image within the integer ranges for radius r.
inline std::vector<Eigen::Vector3d> image_shifts(const Lattice& cell, double r) {
  const auto nr = image_range(cell, r);
  const Eigen::Matrix3d L = cell.matrix();
  std::vector<Eigen::Vector3d> shifts;
  for (int i = -nr[0]; i <= nr[0]; ++i)
    for (int j = -nr[1]; j <= nr[1]; ++j)
      for (int k = -nr[2]; k <= nr[2]; ++k) shifts.push_back(i * L.row(0).transpose() + j * L.row(1).transpose() + k * L.row(2).transpose());
  return shifts;
}
inline std::vector<Eigen::Vector3d> kvectors(const Lattice& cell, double kcut) {
  const Eigen::Matrix3d B = 2.0 * M_PI * cell.reciprocal();  // rows b_i
  // k = Σ m_i b_i has m_i = k · a_i / 2π, so |k| <= kcut needs |m_i| <= kcut |a_i| / 2π.
  std::array<int, 3> m;
  for (int i = 0; i < 3; ++i) m[static_cast<std::size_t>(i)] = static_cast<int>(std::ceil(kcut * cell.matrix().row(i).norm() / (2.0 * M_PI)));
  std::vector<Eigen::Vector3d> ks;
  for (int a = -m[0]; a <= m[0]; ++a)
    for (int b = -m[1]; b <= m[1]; ++b)
      for (int c = -m[2]; c <= m[2]; ++c) {
        if (!a && !b && !c) continue;
        const Eigen::Vector3d k = a * B.row(0).transpose() + b * B.row(1).transpose() + c * B.row(2).transpose();
        if (k.squaredNorm() <= kcut * kcut) ks.push_back(k);
      }
  return ks;
}
}  // namespace detail

/// Result of a host Ewald sum.
struct EwaldResult {
  double energy = 0;                                   ///< eV
  double real = 0, reciprocal = 0, self = 0, background = 0;  ///< parts, eV
  std::vector<Eigen::Vector3d> forces;                 ///< eV/Å (when requested)
  Eigen::Matrix3d stress = Eigen::Matrix3d::Zero();    ///< eV/Å³, (1/V) ∂E/∂ε (when requested)
  EwaldSplit split;
};

/// Ewald sum of point charges q (e) at Cartesian positions r (Å) in `cell`.
inline EwaldResult ewald_sum(const Lattice& cell, const std::vector<Eigen::Vector3d>& r, const std::vector<double>& q,
                             const EwaldParameters& p, bool forces, bool stress) {
  const std::size_t N = r.size();
  if (q.size() != N) throw ValueError("Ewald: one charge per atom is needed");
  EwaldResult out;
  out.split = ewald_split(p, cell, N);
  const double a = out.split.alpha, rc = out.split.r_cut, kc = out.split.k_cut;
  const double V = cell.volume();
  const double ke = coulomb_eV_A;
  const double two_a_sqrtpi = 2.0 * a / std::sqrt(M_PI);
  if (forces) out.forces.assign(N, Eigen::Vector3d::Zero());
  Eigen::Matrix3d W = Eigen::Matrix3d::Zero();  // Σ ∂E/∂ε (virial-like), eV
  // Real space.
  const std::vector<Eigen::Vector3d> shifts = detail::image_shifts(cell, rc);
  double er = 0;
  for (std::size_t i = 0; i < N; ++i) {
    if (q[i] == 0) continue;
    for (std::size_t j = 0; j < N; ++j) {
      if (q[j] == 0) continue;
      const Eigen::Vector3d d0 = r[j] - r[i];
      for (const auto& s : shifts) {
        const Eigen::Vector3d d = d0 + s;
        const double rr = d.norm();
        if (rr < 1e-10 || rr > rc) continue;
        const double e = std::erfc(a * rr) / rr;
        er += 0.5 * q[i] * q[j] * e;
        if (forces || stress) {
          const double dphi = -(e + two_a_sqrtpi * std::exp(-a * a * rr * rr)) / rr;  // dφ/dr
          if (forces) out.forces[i] += ke * q[i] * q[j] * dphi * d / rr;  // −∂/∂r_i, d = r_j − r_i
          if (stress) W += 0.5 * q[i] * q[j] * dphi / rr * d * d.transpose();
        }
      }
    }
  }
  // Reciprocal space.
  double ek = 0;
  const auto ks = detail::kvectors(cell, kc);
  for (const auto& k : ks) {
    const double k2 = k.squaredNorm();
    const double A = std::exp(-k2 / (4 * a * a)) / k2;
    std::complex<double> S(0, 0);
    for (std::size_t i = 0; i < N; ++i)
      if (q[i] != 0) S += q[i] * std::polar(1.0, k.dot(r[i]));
    const double s2 = std::norm(S);
    ek += 2 * M_PI / V * A * s2;
    if (forces)
      for (std::size_t i = 0; i < N; ++i) {
        if (q[i] == 0) continue;
        const std::complex<double> e = std::polar(1.0, k.dot(r[i]));
        out.forces[i] += ke * 4 * M_PI / V * q[i] * A * std::imag(std::conj(S) * e) * k;
      }
    if (stress)
      W += 2 * M_PI / V * A * s2 * (-Eigen::Matrix3d::Identity() + 2.0 * (1.0 / (4 * a * a) + 1.0 / k2) * k * k.transpose());
  }
  double q2 = 0, Q = 0;
  for (double x : q) q2 += x * x, Q += x;
  out.real = ke * er;
  out.reciprocal = ke * ek;
  out.self = -ke * a / std::sqrt(M_PI) * q2;
  out.background = -ke * M_PI * Q * Q / (2 * V * a * a);
  out.energy = out.real + out.reciprocal + out.self + out.background;
  if (stress) {
    W += M_PI * Q * Q / (2 * V * a * a) * Eigen::Matrix3d::Identity();  // ∂E_bg/∂ε = −E_bg δ
    out.stress = ke * W / V;
  }
  return out;
}

/// The symmetric site–site Ewald matrix Φ (eV per e², diagonal included) so that the energy of
/// any charge assignment q is E = ½ qᵀ Φ q, exactly equal to ewald_sum (background included).
inline Eigen::MatrixXd ewald_matrix(const Lattice& cell, const std::vector<Eigen::Vector3d>& r, const EwaldParameters& p,
                                    std::size_t n_charged_hint = 0) {
  const std::size_t N = r.size();
  const EwaldSplit sp = ewald_split(p, cell, n_charged_hint ? n_charged_hint : N);
  const double a = sp.alpha, rc = sp.r_cut, V = cell.volume();
  Eigen::MatrixXd phi = Eigen::MatrixXd::Zero(static_cast<Eigen::Index>(N), static_cast<Eigen::Index>(N));
  const std::vector<Eigen::Vector3d> shifts = detail::image_shifts(cell, rc);
  for (std::size_t i = 0; i < N; ++i)
    for (std::size_t j = i; j < N; ++j) {
      double s = 0;
      const Eigen::Vector3d d0 = r[j] - r[i];
      for (const auto& t : shifts) {
        const double rr = (d0 + t).norm();
        if (rr < 1e-10 || rr > rc) continue;
        s += std::erfc(a * rr) / rr;
      }
      phi(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) = s;
    }
  const auto ks = detail::kvectors(cell, sp.k_cut);
  for (const auto& k : ks) {
    const double k2 = k.squaredNorm();
    const double A = 4 * M_PI / V * std::exp(-k2 / (4 * a * a)) / k2;
    std::vector<double> c(N), s(N);
    for (std::size_t i = 0; i < N; ++i) c[i] = std::cos(k.dot(r[i])), s[i] = std::sin(k.dot(r[i]));
    for (std::size_t i = 0; i < N; ++i)
      for (std::size_t j = i; j < N; ++j) phi(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) += A * (c[i] * c[j] + s[i] * s[j]);
  }
  const double bg = -M_PI / (V * a * a);
  for (std::size_t i = 0; i < N; ++i)
    for (std::size_t j = i; j < N; ++j) {
      double& x = phi(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j));
      x = x + bg;
      if (i == j) x -= 2 * a / std::sqrt(M_PI);
      phi(static_cast<Eigen::Index>(j), static_cast<Eigen::Index>(i)) = x;
    }
  return coulomb_eV_A * phi;
}

/// Ewald electrostatics with formal charges by element (EwaldParameters::charges).
template <class Scalar, class MemorySpace>
class Potential<Ewald, Scalar, MemorySpace> {
 public:
  using memory_space = MemorySpace;
  explicit Potential(EwaldParameters p = {}) : p_(std::move(p)) {}

  /// Real-space cutoff of the last evaluation (Å); 0 before the first.
  double cutoff() const { return last_.r_cut; }
  const EwaldSplit& split() const { return last_; }
  const EwaldParameters& parameters() const { return p_; }

  ComputeResult compute(System<MemorySpace>& sys, const ComputeRequest& req) {
    const std::size_t N = sys.size();
    auto hx = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), sys.x);
    const auto z = sys.atomic_numbers();
    std::vector<Eigen::Vector3d> r(N);
    std::vector<double> q(N);
    for (std::size_t i = 0; i < N; ++i) {
      r[i] = Eigen::Vector3d(hx(i, 0), hx(i, 1), hx(i, 2));
      const auto it = p_.charges.find(z[i]);
      if (it == p_.charges.end())
        throw ValueError(std::string("Ewald: no charge given for ") + element_symbol(z[i]));
      q[i] = it->second;
    }
    const EwaldResult e = ewald_sum(sys.cell, r, q, p_, req.forces, req.stress);
    last_ = e.split;
    if (req.forces) {
      auto hf = Kokkos::create_mirror_view(sys.f);
      for (std::size_t i = 0; i < N; ++i)
        for (int d = 0; d < 3; ++d) hf(i, d) = e.forces[i][d];
      Kokkos::deep_copy(sys.f, hf);
    }
    ComputeResult res;
    res.energy = e.energy;
    if (req.stress) {
      res.stress = e.stress;
      res.has_stress = true;
    }
    if (req.per_atom_energy) throw NotSupported("Ewald: per-atom energies are not defined uniquely");
    return res;
  }

 private:
  EwaldParameters p_;
  EwaldSplit last_;
};

NERNST_NAMESPACE_END
