#pragma once
/// \file
/// \brief Potential<Buckingham>: species-pair Buckingham (Born–Mayer + dispersion) short-range
/// potential φ(r) = A exp(−r/ρ) − C/r⁶, truncated at r_c and (by default) energy-shifted so
/// φ(r_c) = 0 (as LAMMPS `pair_style buck` + `pair_modify shift yes`).
///
/// Parameters are given per unordered pair of atomic numbers; pairs without an entry do not
/// interact. Forces are −∂E/∂r and the stress σ_ab = (1/V) Σ_pairs φ'(r) r_a r_b / r (eV/Å³,
/// ASE sign). Each atom sums its own full neighbour row (no atomics: deterministic on every
/// backend); the list is rebuilt every call (the Ewald part dominates the rigid-ion cost).

#include <nernst/core/error.hpp>
#include <nernst/core/kokkos.hpp>
#include <nernst/core/system.hpp>
#include <nernst/core/vec3.hpp>
#include <nernst/neighbor/neighbor_list.hpp>
#include <nernst/potential/potential.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <utility>

NERNST_NAMESPACE_BEGIN

/// One Buckingham pair: φ(r) = A exp(−r/ρ) − C/r⁶.
struct BuckinghamPair {
  double A = 0;    ///< eV
  double rho = 1;  ///< Å
  double C = 0;    ///< eV·Å⁶
  double energy(double r) const { return A * std::exp(-r / rho) - C / std::pow(r, 6); }
};

/// Policy tag and parameters of the Buckingham potential.
struct Buckingham {
  std::map<std::pair<int, int>, BuckinghamPair> pairs;  ///< keyed by (Z_small, Z_large)
  double cutoff = 10.0;  ///< Å
  bool shift = true;     ///< subtract φ(r_c) from every pair

  /// Sets the pair (z1, z2) (order does not matter).
  Buckingham& set(int z1, int z2, BuckinghamPair p) {
    if (!(p.rho > 0)) throw ValueError("Buckingham: rho must be positive");
    pairs[{std::min(z1, z2), std::max(z1, z2)}] = p;
    return *this;
  }
  const BuckinghamPair* find(int z1, int z2) const {
    const auto it = pairs.find({std::min(z1, z2), std::max(z1, z2)});
    return it == pairs.end() ? nullptr : &it->second;
  }
};

namespace detail {
struct BuckAccum {
  double e, w[6];
  KOKKOS_INLINE_FUNCTION BuckAccum() : e(0) { for (int k = 0; k < 6; ++k) w[k] = 0; }
  KOKKOS_INLINE_FUNCTION BuckAccum& operator+=(const BuckAccum& o) {
    e += o.e;
    for (int k = 0; k < 6; ++k) w[k] += o.w[k];
    return *this;
  }
  KOKKOS_INLINE_FUNCTION void operator+=(const volatile BuckAccum& o) volatile {
    e += o.e;
    for (int k = 0; k < 6; ++k) w[k] += o.w[k];
  }
};

/// Full-row pair kernel; table(ti*nt+tj, 0..3) = A, 1/ρ, C, shift (A = 0 and C = 0: no pair).
template <class MS>
struct BuckKernel {
  Kokkos::View<double* [3], MS> x, f;
  Kokkos::View<int*, MS> type;
  Kokkos::View<double* [4], MS> table;
  Kokkos::View<double*, MS> pe;
  NeighborList<MS> list;
  Mat3<double> cell;
  int nt;
  double rc2;

  KOKKOS_INLINE_FUNCTION void operator()(const int i, BuckAccum& acc) const {
    const Vec3<double> xi(x(i, 0), x(i, 1), x(i, 2));
    double fx = 0, fy = 0, fz = 0, ei = 0;
    const int ti = type(i);
    for (int p = list.begin(i); p < list.end(i); ++p) {
      const int j = list.neighbors(p);
      const int row = ti * nt + type(j);
      const double A = table(row, 0), irho = table(row, 1), C = table(row, 2);
      if (A == 0.0 && C == 0.0) continue;
      const Vec3<double> xj(x(j, 0), x(j, 1), x(j, 2));
      const Vec3<double> r = image_vector(xi, xj, list.shifts(p, 0), list.shifts(p, 1), list.shifts(p, 2), cell);
      const double r2 = norm2(r);
      if (r2 >= rc2 || r2 < 1e-20) continue;
      const double rr = math::sqrt(r2);
      const double ex = A * math::exp(-rr * irho);
      const double r6 = r2 * r2 * r2;
      const double e = ex - C / r6 - table(row, 3);
      const double dphi = -irho * ex + 6.0 * C / (r6 * rr);  // dφ/dr
      const double fpair = dphi / rr;                         // force on i = fpair * r (r = x_j − x_i)
      ei += 0.5 * e;
      acc.w[0] += 0.5 * fpair * r.x * r.x;
      acc.w[1] += 0.5 * fpair * r.y * r.y;
      acc.w[2] += 0.5 * fpair * r.z * r.z;
      acc.w[3] += 0.5 * fpair * r.y * r.z;
      acc.w[4] += 0.5 * fpair * r.x * r.z;
      acc.w[5] += 0.5 * fpair * r.x * r.y;
      fx += fpair * r.x;
      fy += fpair * r.y;
      fz += fpair * r.z;
    }
    acc.e += ei;
    f(i, 0) = fx;
    f(i, 1) = fy;
    f(i, 2) = fz;
    if (pe.extent(0) > 0) pe(i) = ei;
  }
};
}  // namespace detail

/// Buckingham potential; see the file comment.
template <class Scalar, class MemorySpace>
class Potential<Buckingham, Scalar, MemorySpace> {
  static_assert(std::is_same<Scalar, double>::value, "Potential<Buckingham> is implemented for double");

 public:
  using memory_space = MemorySpace;
  using execution_space = typename MemorySpace::execution_space;

  explicit Potential(Buckingham p) : p_(std::move(p)) {
    if (!(p_.cutoff > 0) || !std::isfinite(p_.cutoff)) throw ValueError("Buckingham: cutoff must be positive");
  }
  const Buckingham& parameters() const { return p_; }
  double cutoff() const { return p_.cutoff; }

  /// Pair energy (with the shift) for tests and tables, eV.
  double pair_energy(int z1, int z2, double r) const {
    const auto* q = p_.find(z1, z2);
    if (!q || r >= p_.cutoff) return 0.0;
    return q->energy(r) - (p_.shift ? q->energy(p_.cutoff) : 0.0);
  }

  ComputeResult compute(System<MemorySpace>& sys, const ComputeRequest& req) {
    const int n = static_cast<int>(sys.size());
    const int nt = static_cast<int>(sys.species.size());
    Kokkos::View<double* [4], MemorySpace> table("nernst::Buckingham::table", static_cast<std::size_t>(nt * nt));
    auto ht = Kokkos::create_mirror_view(table);
    for (int a = 0; a < nt; ++a)
      for (int b = 0; b < nt; ++b) {
        const auto* q = p_.find(sys.species[static_cast<std::size_t>(a)], sys.species[static_cast<std::size_t>(b)]);
        const std::size_t row = static_cast<std::size_t>(a * nt + b);
        ht(row, 0) = q ? q->A : 0.0;
        ht(row, 1) = q ? 1.0 / q->rho : 0.0;
        ht(row, 2) = q ? q->C : 0.0;
        ht(row, 3) = q && p_.shift ? q->energy(p_.cutoff) : 0.0;
      }
    Kokkos::deep_copy(table, ht);
    detail::BuckKernel<MemorySpace> k;
    k.x = sys.x;
    k.f = sys.f;
    k.type = sys.type;
    k.table = table;
    if (req.per_atom_energy) k.pe = Kokkos::View<double*, MemorySpace>("nernst::Buckingham::pe", n);
    k.list = build_neighbor_list(execution_space(), sys.x, sys.cell, p_.cutoff);
    k.cell = sys.cell.to_mat3();
    k.nt = nt;
    k.rc2 = p_.cutoff * p_.cutoff;
    detail::BuckAccum acc;
    Kokkos::parallel_reduce("nernst::Buckingham::compute", Kokkos::RangePolicy<execution_space>(0, n), k, acc);
    ComputeResult res;
    res.energy = acc.e;
    Eigen::Matrix3d w;
    w << acc.w[0], acc.w[5], acc.w[4], acc.w[5], acc.w[1], acc.w[3], acc.w[4], acc.w[3], acc.w[2];
    res.stress = w / sys.cell.volume();
    res.has_stress = true;
    if (req.per_atom_energy) {
      auto h = Kokkos::create_mirror_view_and_copy(HostSpace(), k.pe);
      res.per_atom_energy.assign(h.data(), h.data() + n);
    }
    return res;
  }

 private:
  Buckingham p_;
};

NERNST_NAMESPACE_END
