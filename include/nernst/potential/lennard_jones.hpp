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
/// Neighbours come from the shared `build_neighbor_list` (sorted list) with a Verlet skin:
/// the list is kept while 2·max|Δx| + s_max·Σ_k|Δa_k| < skin (Δa_k: change of lattice vector k,
/// s_max: largest image index in the list), so it stays valid under NpT cell changes. Atoms may
/// be re-wrapped between builds: the pair image is corrected with the change of the image
/// counters (exact integers, packed with the list image into one int per pair; e·L comes from a
/// small table filled from the current cell), and an image counter that moved by more than one
/// cell triggers a rebuild. Because the list is sorted by (j, S) and r is computed from exact
/// integer images, the force on every atom is summed in an order and with roundings that do not
/// depend on when the list was built, which makes restarts bit-identical.
/// On Kokkos::Serial the list is a sorted half list and each pair is evaluated once (Newton's
/// third law); on parallel backends every atom sums its own full row (no atomics,
/// deterministic). The pair loop is branch-free (pairs in the skin shell get a zero weight: with
/// a 2 Å skin about half the list lies beyond r_c, so a branch would mispredict constantly).
/// The virial is summed only when `ComputeRequest::stress` is set (`has_stress` reports it).

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

/// Pair kernel. Half = true: the list is a half list (each (i, j, S) with (j, S) after (i, 0)),
/// every pair is evaluated once and the force added to both atoms (serial only: the order of
/// the additions to f(j) is then fixed). Half = false: every atom sums its full row.
/// Virial = false skips the six virial sums (no stress requested).
///
/// The image of a pair for the current wrapping of i and j is the exact integer vector
/// e = S + (image − image_ref)(j) − (image − image_ref)(i). All three are packed linearly into
/// one int (base B, signed digits), so e costs one integer add per pair, and e·L is read from a
/// table filled from the current cell with the same expression the unpacked form would use:
/// r and the force sums do not depend on when the list was built (bit-identical restarts).
template <class MS, bool Half, bool Virial>
struct LJKernel {
  Kokkos::View<const double* [3], MS> x;
  Kokkos::View<double* [3], MS> f;
  Kokkos::View<const int*, MS> dcode;      // packed image − image_ref per atom
  Kokkos::View<double*, MS> pe;            // per-atom energy, extent 0 when not wanted
  Kokkos::View<const int*, MS> offsets, neighbors, scode;  // scode: packed S + bias per pair
  Kokkos::View<const double* [3], MS> table;               // e·L for every packed e
  double eps4, c12, c6, sig2, rc2, eshift;

  KOKKOS_INLINE_FUNCTION void operator()(const int i, LJAccum& acc) const {
    // constants in locals: stores to f must not force reloads of members
    const double l_eps4 = eps4, l_c12 = c12, l_c6 = c6, l_sig2 = sig2, l_rc2 = rc2, l_eshift = eshift;
    const double xi0 = x(i, 0), xi1 = x(i, 1), xi2 = x(i, 2);
    const int di = dcode(i);
    double fx = 0, fy = 0, fz = 0, esum = 0;
    double w0 = 0, w1 = 0, w2 = 0, w3 = 0, w4 = 0, w5 = 0;
    const bool want_pe = pe.extent(0) > 0;
    const int pend = offsets(i + 1);
    for (int p = offsets(i); p < pend; ++p) {
      const int j = neighbors(p);
      const int e = scode(p) + dcode(j) - di;
      const double rx = (x(j, 0) - xi0) + table(e, 0);
      const double ry = (x(j, 1) - xi1) + table(e, 1);
      const double rz = (x(j, 2) - xi2) + table(e, 2);
      const double r2 = rx * rx + ry * ry + rz * rz;
      // branch-free: about half of the skin list lies beyond r_c, an unpredictable branch
      const double in = static_cast<double>(r2 < l_rc2);  // 1 or 0
      const double r2inv = 1.0 / r2;
      const double s2r = l_sig2 * r2inv;
      const double s6 = s2r * s2r * s2r;
      const double fpair = in * (s6 * (l_c12 * s6 - l_c6) * r2inv);  // force on j = fpair * r
      const double en = in * (l_eps4 * (s6 * s6 - s6) - l_eshift);
      esum += en;
      if (Virial) {
        w0 += fpair * rx * rx;
        w1 += fpair * ry * ry;
        w2 += fpair * rz * rz;
        w3 += fpair * ry * rz;
        w4 += fpair * rx * rz;
        w5 += fpair * rx * ry;
      }
      fx -= fpair * rx;
      fy -= fpair * ry;
      fz -= fpair * rz;
      if (Half) {
        f(j, 0) += fpair * rx;
        f(j, 1) += fpair * ry;
        f(j, 2) += fpair * rz;
        if (want_pe) {
          pe(i) += 0.5 * en;
          pe(j) += 0.5 * en;
        }
      } else if (want_pe) {
        pe(i) += 0.5 * en;
      }
    }
    const double scale = Half ? 1.0 : 0.5;
    acc.e += scale * esum;
    if (Virial) {
      acc.w[0] -= scale * w0;
      acc.w[1] -= scale * w1;
      acc.w[2] -= scale * w2;
      acc.w[3] -= scale * w3;
      acc.w[4] -= scale * w4;
      acc.w[5] -= scale * w5;
    }
    f(i, 0) += fx;
    f(i, 1) += fy;
    f(i, 2) += fz;
  }
};

/// Largest squared displacement of an atom since the list was built (unwrapped through the image
/// counters); 1e300 when an image counter moved by more than one cell (outside the packed table).
/// Named functors and free functions, not lambdas in the potential's private members: CUDA's
/// extended lambdas may not live in a private member function.
template <class MS>
struct LJMaxDisplacement {
  Kokkos::View<double* [3], MS> x, xref;
  Kokkos::View<int* [3], MS> image, image_ref;
  Mat3<double> cell;
  KOKKOS_INLINE_FUNCTION void operator()(const int i, double& m) const {
    double d2 = 0;
    for (int d = 0; d < 3; ++d) {
      const int di = image(i, d) - image_ref(i, d);
      if (di > 1 || di < -1) d2 = 1e300;  // outside the packed-image table: rebuild
      const double u = x(i, d) + (image(i, 0) - image_ref(i, 0)) * cell(0, d) +
                       (image(i, 1) - image_ref(i, 1)) * cell(1, d) + (image(i, 2) - image_ref(i, 2)) * cell(2, d) -
                       xref(i, d);
      d2 += u * u;
    }
    if (d2 > m) m = d2;
  }
};

/// Largest |S_d| over the pairs' periodic shifts (sizes the packed image table).
template <class ES, class Shifts>
int max_abs_shift(const Shifts& sh, const int npairs) {
  int smax = 0;
  Kokkos::parallel_reduce(
      "nernst::LJ::smax", Kokkos::RangePolicy<ES>(0, npairs),
      KOKKOS_LAMBDA(const int p, int& m) {
        for (int d = 0; d < 3; ++d) {
          const int a = sh(p, d) < 0 ? -sh(p, d) : sh(p, d);
          if (a > m) m = a;
        }
      },
      Kokkos::Max<int>(smax));
  return smax;
}

/// scode(p) = S_p packed in base B (signed digits) + bias.
template <class ES, class Shifts, class Codes>
void pack_shift_codes(const Shifts& sh, const Codes& sc, const int npairs, const int B, const int bias) {
  Kokkos::parallel_for(
      "nernst::LJ::scode", Kokkos::RangePolicy<ES>(0, npairs), KOKKOS_LAMBDA(const int p) {
        sc(p) = (sh(p, 0) * B + sh(p, 1)) * B + sh(p, 2) + bias;
      });
}

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
    // packed image − image_ref once per atom (|digits| <= 1: ensure_list rebuilds otherwise)
    {
      auto img = sys.image;
      auto ref = image_ref_;
      auto dc = dcode_;
      const int B = base_;
      Kokkos::parallel_for(
          "nernst::LJ::dcode", Kokkos::RangePolicy<execution_space>(0, n), KOKKOS_LAMBDA(const int i) {
            dc(i) = ((img(i, 0) - ref(i, 0)) * B + (img(i, 1) - ref(i, 1))) * B + (img(i, 2) - ref(i, 2));
          });
    }
    fill_table(sys.cell.matrix());
    Kokkos::View<double*, MemorySpace> pe;
    if (req.per_atom_energy) pe = Kokkos::View<double*, MemorySpace>("nernst::LJ::pe", n);
    detail::LJAccum acc;
    if (req.stress) run_kernel<true>(sys, pe, acc);
    else run_kernel<false>(sys, pe, acc);

    ComputeResult res;
    const double V = sys.cell.volume();
    res.energy = acc.e;
    Eigen::Matrix3d w;
    w << acc.w[0], acc.w[5], acc.w[4], acc.w[5], acc.w[1], acc.w[3], acc.w[4], acc.w[3], acc.w[2];
    res.stress = w / V;
    res.has_stress = req.stress;
    if (p_.tail && n > 0) {
      const double rho = n / V;
      const double sr3 = std::pow(p_.sigma / p_.cutoff, 3), sr9 = sr3 * sr3 * sr3;
      const double s3 = p_.sigma * p_.sigma * p_.sigma;
      res.energy += 8.0 / 3.0 * M_PI * n * rho * p_.epsilon * s3 * (sr9 / 3.0 - sr3);
      const double ptail = 16.0 / 3.0 * M_PI * rho * rho * p_.epsilon * s3 * (2.0 / 3.0 * sr9 - sr3);
      if (req.stress) res.stress -= ptail * Eigen::Matrix3d::Identity();
    }
    if (req.per_atom_energy) {
      auto h = Kokkos::create_mirror_view_and_copy(HostSpace(), pe);
      res.per_atom_energy.assign(h.data(), h.data() + n);
      if (p_.tail && n > 0) {
        const double et = (res.energy - acc.e) / n;
        for (auto& e : res.per_atom_energy) e += et;
      }
    }
    return res;
  }

 private:
  template <bool Virial>
  void run_kernel(const System<MemorySpace>& sys, const Kokkos::View<double*, MemorySpace>& pe,
                  detail::LJAccum& acc) const {
    detail::LJKernel<MemorySpace, detail::lj_use_half<execution_space>, Virial> k;
    k.x = sys.x;
    k.f = sys.f;
    k.dcode = dcode_;
    k.pe = pe;
    k.offsets = list_.offsets;
    k.neighbors = list_.neighbors;
    k.scode = scode_;
    k.table = table_;
    k.eps4 = 4.0 * p_.epsilon;
    k.c12 = 12.0 * k.eps4;
    k.c6 = 6.0 * k.eps4;
    k.sig2 = p_.sigma * p_.sigma;
    k.rc2 = p_.cutoff * p_.cutoff;
    k.eshift = shift_energy();
    Kokkos::parallel_reduce("nernst::LJ::compute", Kokkos::RangePolicy<execution_space>(0, static_cast<int>(sys.size())),
                            k, acc);
  }

  /// table(bias + packed e) = e·L for every e with |e_d| <= (B − 1)/2, computed as
  /// e0·L0 + e1·L1 + e2·L2 in that order (the diagonal-cell terms that vanish are exact zeros).
  void fill_table(const Eigen::Matrix3d& L) {
    const int B = base_, h = (B - 1) / 2;
    for (int a = -h; a <= h; ++a)
      for (int b = -h; b <= h; ++b)
        for (int c = -h; c <= h; ++c) {
          const int k = ((a + h) * B + (b + h)) * B + (c + h);
          for (int d = 0; d < 3; ++d)
            table_host_(k, d) = (static_cast<double>(a) * L(0, d) + static_cast<double>(b) * L(1, d) +
                                 static_cast<double>(c) * L(2, d));
        }
    Kokkos::deep_copy(table_, table_host_);
  }

  void ensure_list(const System<MemorySpace>& sys) {
    const int n = static_cast<int>(sys.size());
    if (valid_ && static_cast<int>(x_ref_.extent(0)) == n) {
      detail::LJMaxDisplacement<MemorySpace> r{sys.x, x_ref_, sys.image, image_ref_, sys.cell.to_mat3()};
      double m2 = 0;
      Kokkos::parallel_reduce("nernst::LJ::displacement", Kokkos::RangePolicy<execution_space>(0, n), r,
                              Kokkos::Max<double>(m2));
      double dcell = 0;
      for (int k = 0; k < 3; ++k) dcell += (sys.cell.matrix().row(k) - cell_ref_.row(k)).norm();
      if (2.0 * std::sqrt(m2) + smax_ * dcell < p_.skin) return;
    }
    NeighborListOptions opt;
    opt.sort = true;  // (j, S) order: force sums independent of the build history
    opt.half = detail::lj_use_half<execution_space>;  // Newton's third law on one thread
    list_ = build_neighbor_list(execution_space(), sys.x, sys.cell, p_.cutoff + p_.skin, opt);
    if (static_cast<int>(x_ref_.extent(0)) != n) {
      x_ref_ = Kokkos::View<double* [3], MemorySpace>("nernst::LJ::x_ref", n);
      image_ref_ = Kokkos::View<int* [3], MemorySpace>("nernst::LJ::image_ref", n);
      dcode_ = Kokkos::View<int*, MemorySpace>("nernst::LJ::dcode", n);
    }
    Kokkos::deep_copy(x_ref_, sys.x);
    Kokkos::deep_copy(image_ref_, sys.image);
    cell_ref_ = sys.cell.matrix();
    const int npairs = static_cast<int>(list_.num_pairs());
    const int smax = detail::max_abs_shift<execution_space>(list_.shifts, npairs);
    smax_ = smax;
    // e = S + Δimage(j) − Δimage(i) has |e_d| <= smax + 2
    const int h = smax + 2, B = 2 * h + 1;
    if (static_cast<double>(B) * B * B > 2.0e7)
      throw ValueError("LennardJones: cutoff + skin spans too many periodic images of this cell (" +
                       std::to_string(smax) + " per direction)");
    if (B != base_ || static_cast<int>(table_.extent(0)) != B * B * B) {
      base_ = B;
      table_ = Kokkos::View<double* [3], MemorySpace>("nernst::LJ::image_table", B * B * B);
      table_host_ = Kokkos::create_mirror_view(table_);
    }
    if (static_cast<int>(scode_.extent(0)) < npairs)
      scode_ = Kokkos::View<int*, MemorySpace>(Kokkos::view_alloc(Kokkos::WithoutInitializing, "nernst::LJ::scode"),
                                               npairs + npairs / 8);
    detail::pack_shift_codes<execution_space>(list_.shifts, scode_, npairs, B, (h * B + h) * B + h);
    valid_ = true;
    ++builds_;
  }

  LennardJones p_;
  NeighborList<MemorySpace> list_;
  Kokkos::View<double* [3], MemorySpace> x_ref_;
  Kokkos::View<int* [3], MemorySpace> image_ref_;
  Kokkos::View<int*, MemorySpace> dcode_;   // packed image − image_ref per atom
  Kokkos::View<int*, MemorySpace> scode_;   // packed S + bias per pair (capacity >= pairs)
  Kokkos::View<double* [3], MemorySpace> table_;  // e·L, indexed by bias + packed e
  typename Kokkos::View<double* [3], MemorySpace>::HostMirror table_host_;
  int base_ = 0;                            // B of the packing
  Eigen::Matrix3d cell_ref_ = Eigen::Matrix3d::Zero();
  double smax_ = 0.0;
  bool valid_ = false;
  long builds_ = 0;
};

NERNST_NAMESPACE_END
