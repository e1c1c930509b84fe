#pragma once
/// \file
/// \brief Potential<LennardJones>: the 12-6 pair potential, energy-shifted at the cutoff like
/// LAMMPS `pair_style lj/cut` + `pair_modify shift yes`, optional long-range tail corrections.
///
/// E = Σ_{pairs, r<r_c} 4ε[(σ/r)¹² − (σ/r)⁶] − E(r_c) (all species share ε and σ). Forces are
/// −∂E/∂r; the stress is σ_ab = (1/V) Σ φ'(r) r_a r_b / r (eV/Å³, ASE sign: positive = tensile).
/// With `tail = true` the standard homogeneous-fluid corrections (Allen & Tildesley)
/// E_tail = (8/3)π N ρ ε σ³ [(σ/r_c)⁹/3 − (σ/r_c)³] and P_tail = (16/3)π ρ² ε σ³ [2(σ/r_c)⁹/3 − (σ/r_c)³]
/// are added (stress −P_tail on the diagonal), as LAMMPS `pair_modify tail yes`.
///
/// Neighbours come from the shared `build_neighbor_list` (sorted full list) with a Verlet skin:
/// the list is kept while 2·max|Δx| + s_max·Σ_k|Δa_k| < skin (Δa_k: change of lattice vector k,
/// s_max: largest image index in the list), so it stays valid under NpT cell changes. Atoms may
/// be re-wrapped between builds: the pair image is corrected with the change of the image
/// counters. Because the list is sorted by (j, S), the force on every atom is summed in an order
/// that does not depend on when the list was built, which makes restarts bit-identical.
/// On Kokkos::Serial each pair is evaluated once (Newton's third law); on parallel backends
/// every atom sums its own full row (no atomics, deterministic).

#include <nernst/core/error.hpp>
#include <nernst/core/kokkos.hpp>
#include <nernst/core/system.hpp>
#include <nernst/core/vec3.hpp>
#include <nernst/neighbor/neighbor_list.hpp>
#include <nernst/potential/potential.hpp>

#include <cmath>
#include <string>
#include <type_traits>

NERNST_NAMESPACE_BEGIN

/// Policy tag and parameters of the Lennard-Jones potential.
struct LennardJones {
  double epsilon = 0.0;  ///< well depth, eV
  double sigma = 0.0;    ///< zero crossing, Å
  double cutoff = 0.0;   ///< r_c, Å
  bool shift = true;     ///< subtract E(r_c) from every pair (LAMMPS `pair_modify shift yes`)
  bool tail = false;     ///< add homogeneous long-range tail corrections to E and stress
  double skin = 2.0;     ///< Verlet skin, Å (LAMMPS `neighbor 2.0 bin` in metal units)
};

namespace detail {

/// Energy and the six independent virial components Σ φ'(r) r_a r_b / r (xx yy zz yz xz xy).
struct LJAccum {
  double e, w[6];
  KOKKOS_INLINE_FUNCTION LJAccum() : e(0) { for (int k = 0; k < 6; ++k) w[k] = 0; }
  KOKKOS_INLINE_FUNCTION LJAccum& operator+=(const LJAccum& o) {
    e += o.e;
    for (int k = 0; k < 6; ++k) w[k] += o.w[k];
    return *this;
  }
  KOKKOS_INLINE_FUNCTION void operator+=(const volatile LJAccum& o) volatile {
    e += o.e;
    for (int k = 0; k < 6; ++k) w[k] += o.w[k];
  }
};

#ifdef KOKKOS_ENABLE_SERIAL
template <class ES>
inline constexpr bool lj_use_half = std::is_same<ES, Kokkos::Serial>::value;
#else
template <class ES>
inline constexpr bool lj_use_half = false;
#endif

/// Pair kernel. Half = true: each (i, j, S) with (j, S) "after" (i, 0) is evaluated once and the
/// force added to both atoms (serial only). Half = false: every atom sums its full row.
template <class MS, bool Half>
struct LJKernel {
  Kokkos::View<double* [3], MS> x, f;
  Kokkos::View<int* [3], MS> image, image_ref;
  Kokkos::View<double*, MS> pe;  // per-atom energy, extent 0 when not wanted
  NeighborList<MS> list;
  Kokkos::View<int*, MS> half_begin;  // first pair of row i with (j, S) after (i, 0) (sorted rows)
  Mat3<double> cell;
  double eps4, sig2, rc2, eshift;

  KOKKOS_INLINE_FUNCTION void operator()(const int i, LJAccum& acc) const {
    const Vec3<double> xi(x(i, 0), x(i, 1), x(i, 2));
    const int di0 = image(i, 0) - image_ref(i, 0), di1 = image(i, 1) - image_ref(i, 1),
              di2 = image(i, 2) - image_ref(i, 2);
    double fx = 0, fy = 0, fz = 0;
    const bool want_pe = pe.extent(0) > 0;
    // sorted rows: the pairs with (j, S) > (i, 0) form a suffix of the row
    for (int p = Half ? half_begin(i) : list.begin(i); p < list.end(i); ++p) {
      const int j = list.neighbors(p);
      const int s0 = list.shifts(p, 0), s1 = list.shifts(p, 1), s2 = list.shifts(p, 2);
      // image at build time expressed for the current wrapping of i and j
      const int e0 = s0 + (image(j, 0) - image_ref(j, 0)) - di0;
      const int e1 = s1 + (image(j, 1) - image_ref(j, 1)) - di1;
      const int e2 = s2 + (image(j, 2) - image_ref(j, 2)) - di2;
      const Vec3<double> xj(x(j, 0), x(j, 1), x(j, 2));
      const Vec3<double> r = image_vector(xi, xj, e0, e1, e2, cell);
      const double r2 = norm2(r);
      if (r2 >= rc2) continue;
      const double s2r = sig2 / r2;
      const double s6 = s2r * s2r * s2r;
      const double s12 = s6 * s6;
      const double fpair = eps4 * (12.0 * s12 - 6.0 * s6) / r2;  // force on j = fpair * r
      const double e = eps4 * (s12 - s6) - eshift;
      const double scale = Half ? 1.0 : 0.5;
      acc.e += scale * e;
      acc.w[0] -= scale * fpair * r.x * r.x;
      acc.w[1] -= scale * fpair * r.y * r.y;
      acc.w[2] -= scale * fpair * r.z * r.z;
      acc.w[3] -= scale * fpair * r.y * r.z;
      acc.w[4] -= scale * fpair * r.x * r.z;
      acc.w[5] -= scale * fpair * r.x * r.y;
      fx -= fpair * r.x;
      fy -= fpair * r.y;
      fz -= fpair * r.z;
      if (Half) {
        f(j, 0) += fpair * r.x;
        f(j, 1) += fpair * r.y;
        f(j, 2) += fpair * r.z;
        if (want_pe) { pe(i) += 0.5 * e; pe(j) += 0.5 * e; }
      } else if (want_pe) {
        pe(i) += 0.5 * e;
      }
    }
    f(i, 0) += fx;
    f(i, 1) += fy;
    f(i, 2) += fz;
  }
};

}  // namespace detail

/// Lennard-Jones potential; see the file comment for conventions.
template <class Scalar, class MemorySpace>
class Potential<LennardJones, Scalar, MemorySpace> {
  static_assert(std::is_same<Scalar, double>::value, "Potential<LennardJones> is implemented for double");

 public:
  using memory_space = MemorySpace;
  using execution_space = typename MemorySpace::execution_space;

  explicit Potential(const LennardJones& p) : p_(p) {
    if (!(p.epsilon >= 0) || !(p.sigma > 0) || !(p.cutoff > 0) || !(p.skin >= 0) || !std::isfinite(p.cutoff))
      throw ValueError("LennardJones: need epsilon >= 0, sigma > 0, cutoff > 0, skin >= 0 (got epsilon=" +
                       std::to_string(p.epsilon) + ", sigma=" + std::to_string(p.sigma) +
                       ", cutoff=" + std::to_string(p.cutoff) + ")");
  }

  const LennardJones& parameters() const { return p_; }
  double cutoff() const { return p_.cutoff; }
  /// Number of neighbour-list builds so far (diagnostic for the skin criterion).
  long builds() const { return builds_; }
  /// Forces the next compute() to rebuild the list (e.g. after atoms were moved by hand).
  void invalidate() { valid_ = false; }

  /// Pair energy at distance r (eV), including the shift: for tests and tables.
  double pair_energy(double r) const {
    if (r >= p_.cutoff) return 0.0;
    const double s6 = std::pow(p_.sigma / r, 6);
    return 4.0 * p_.epsilon * (s6 * s6 - s6) - shift_energy();
  }
  double shift_energy() const {
    if (!p_.shift) return 0.0;
    const double s6 = std::pow(p_.sigma / p_.cutoff, 6);
    return 4.0 * p_.epsilon * (s6 * s6 - s6);
  }

  ComputeResult compute(System<MemorySpace>& sys, const ComputeRequest& req) {
    const int n = static_cast<int>(sys.size());
    ensure_list(sys);
    Kokkos::deep_copy(sys.f, 0.0);
    detail::LJKernel<MemorySpace, detail::lj_use_half<execution_space>> k;
    k.x = sys.x;
    k.f = sys.f;
    k.image = sys.image;
    k.image_ref = image_ref_;
    if (req.per_atom_energy) k.pe = Kokkos::View<double*, MemorySpace>("nernst::LJ::pe", n);
    k.list = list_;
    k.half_begin = half_begin_;
    k.cell = sys.cell.to_mat3();
    k.eps4 = 4.0 * p_.epsilon;
    k.sig2 = p_.sigma * p_.sigma;
    k.rc2 = p_.cutoff * p_.cutoff;
    k.eshift = shift_energy();
    detail::LJAccum acc;
    Kokkos::parallel_reduce("nernst::LJ::compute", Kokkos::RangePolicy<execution_space>(0, n), k, acc);

    ComputeResult res;
    const double V = sys.cell.volume();
    res.energy = acc.e;
    Eigen::Matrix3d w;
    w << acc.w[0], acc.w[5], acc.w[4], acc.w[5], acc.w[1], acc.w[3], acc.w[4], acc.w[3], acc.w[2];
    res.stress = w / V;
    res.has_stress = true;
    if (p_.tail && n > 0) {
      const double rho = n / V;
      const double sr3 = std::pow(p_.sigma / p_.cutoff, 3), sr9 = sr3 * sr3 * sr3;
      const double s3 = p_.sigma * p_.sigma * p_.sigma;
      res.energy += 8.0 / 3.0 * M_PI * n * rho * p_.epsilon * s3 * (sr9 / 3.0 - sr3);
      const double ptail = 16.0 / 3.0 * M_PI * rho * rho * p_.epsilon * s3 * (2.0 / 3.0 * sr9 - sr3);
      res.stress -= ptail * Eigen::Matrix3d::Identity();
    }
    if (req.per_atom_energy) {
      auto h = Kokkos::create_mirror_view_and_copy(HostSpace(), k.pe);
      res.per_atom_energy.assign(h.data(), h.data() + n);
      if (p_.tail && n > 0) {
        const double et = (res.energy - acc.e) / n;
        for (auto& e : res.per_atom_energy) e += et;
      }
    }
    return res;
  }

 private:
  struct MaxReducer {
    Kokkos::View<double* [3], MemorySpace> x, xref;
    Kokkos::View<int* [3], MemorySpace> image, image_ref;
    Mat3<double> cell;
    KOKKOS_INLINE_FUNCTION void operator()(const int i, double& m) const {
      double d2 = 0;
      for (int d = 0; d < 3; ++d) {
        const double u = x(i, d) + (image(i, 0) - image_ref(i, 0)) * cell(0, d) +
                         (image(i, 1) - image_ref(i, 1)) * cell(1, d) + (image(i, 2) - image_ref(i, 2)) * cell(2, d) -
                         xref(i, d);
        d2 += u * u;
      }
      if (d2 > m) m = d2;
    }
  };

  void ensure_list(const System<MemorySpace>& sys) {
    const int n = static_cast<int>(sys.size());
    if (valid_ && static_cast<int>(x_ref_.extent(0)) == n) {
      MaxReducer r{sys.x, x_ref_, sys.image, image_ref_, sys.cell.to_mat3()};
      double m2 = 0;
      Kokkos::parallel_reduce("nernst::LJ::displacement", Kokkos::RangePolicy<execution_space>(0, n), r,
                              Kokkos::Max<double>(m2));
      double dcell = 0;
      for (int k = 0; k < 3; ++k) dcell += (sys.cell.matrix().row(k) - cell_ref_.row(k)).norm();
      if (2.0 * std::sqrt(m2) + smax_ * dcell < p_.skin) return;
    }
    NeighborListOptions opt;
    opt.sort = true;  // (j, S) order: force sums independent of the build history
    list_ = build_neighbor_list(execution_space(), sys.x, sys.cell, p_.cutoff + p_.skin, opt);
    if (static_cast<int>(x_ref_.extent(0)) != n) {
      x_ref_ = Kokkos::View<double* [3], MemorySpace>("nernst::LJ::x_ref", n);
      image_ref_ = Kokkos::View<int* [3], MemorySpace>("nernst::LJ::image_ref", n);
    }
    Kokkos::deep_copy(x_ref_, sys.x);
    Kokkos::deep_copy(image_ref_, sys.image);
    cell_ref_ = sys.cell.matrix();
    int smax = 0;
    auto sh = list_.shifts;
    Kokkos::parallel_reduce(
        "nernst::LJ::smax", Kokkos::RangePolicy<execution_space>(0, static_cast<int>(list_.num_pairs())),
        KOKKOS_LAMBDA(const int p, int& m) {
          for (int d = 0; d < 3; ++d) {
            const int a = sh(p, d) < 0 ? -sh(p, d) : sh(p, d);
            if (a > m) m = a;
          }
        },
        Kokkos::Max<int>(smax));
    smax_ = smax;
    if (static_cast<int>(half_begin_.extent(0)) != n) half_begin_ = Kokkos::View<int*, MemorySpace>("nernst::LJ::half_begin", n);
    auto hb = half_begin_;
    auto lst = list_;
    Kokkos::parallel_for(
        "nernst::LJ::half_begin", Kokkos::RangePolicy<execution_space>(0, n), KOKKOS_LAMBDA(const int i) {
          int p = lst.begin(i);
          while (p < lst.end(i)) {
            const int j = lst.neighbors(p);
            const int s0 = lst.shifts(p, 0), s1 = lst.shifts(p, 1), s2 = lst.shifts(p, 2);
            if (j > i || (j == i && (s0 > 0 || (s0 == 0 && (s1 > 0 || (s1 == 0 && s2 > 0)))))) break;
            ++p;
          }
          hb(i) = p;
        });
    valid_ = true;
    ++builds_;
  }

  LennardJones p_;
  NeighborList<MemorySpace> list_;
  Kokkos::View<double* [3], MemorySpace> x_ref_;
  Kokkos::View<int* [3], MemorySpace> image_ref_;
  Kokkos::View<int*, MemorySpace> half_begin_;
  Eigen::Matrix3d cell_ref_ = Eigen::Matrix3d::Zero();
  double smax_ = 0.0;
  bool valid_ = false;
  long builds_ = 0;
};

NERNST_NAMESPACE_END
