#pragma once
/// \file
/// \brief Estimator<WindowedMSD<Algorithm>>: mean squared displacement averaged over all time
/// origins, per atom group (species, framework, all), as the full 3×3 displacement tensor per lag
/// so that total, per-Cartesian-axis, per-lattice-direction and planar MSDs all come from one pass.
///
/// Definition (MDAnalysis EinsteinMSD, pymatgen, kinisi, He et al. 2018):
///   MSD_αβ(m) = 1/N_g Σ_{i∈g} 1/(T−m) Σ_{k=0}^{T−m−1} Δ_iα Δ_iβ,  Δ_i = r_i(k+m) − r_i(k),
/// for T equally spaced frames and lag m = 0 … T−1 (time m·dt).
///
/// Frames are pushed one at a time (or as (frames, atoms, 3) xtensor blocks), so the estimator
/// works with any reader and with an MD run writing frames live. Each pushed frame is unwrapped
/// (analysis/unwrap.hpp), referred to the first frame, optionally corrected for the drift of a
/// reference set of atoms (whole system or framework), and then handed to the algorithm:
///
/// * `FFTCorrelation` — fast correlation algorithm (Kneller/Calandrini, nMoldyn; what MDAnalysis,
///   freud and GEMDAT use): MSD = S1 − 2·S2 with S1 from an O(T) recursion and S2 from a
///   zero-padded real FFT (Eigen's unsupported FFT module). Because only group averages are
///   needed, the cross-spectra of all atoms of a group are summed and inverted once per tensor
///   component: cost ≈ 3 real FFTs per atom. Stores the trajectory of the analysed atoms in
///   double precision in frame blocks, so memory = 24·N·T bytes + O(T) scratch.
/// * `DirectSum` — the textbook double loop restricted to lags ≤ W (the lag window): O(N·T·W)
///   time, O(N·W) memory (a ring buffer of the last W+1 frames), so arbitrarily long
///   trajectories stream through a fixed budget. With W = 0 it keeps every frame (all lags).
///
/// Both accumulate in double precision and subtract each atom's mean position before the
/// correlation, which keeps the S1 − 2·S2 cancellation harmless for |r| ≫ √MSD.

#include <nernst/analysis/unwrap.hpp>
#include <nernst/core/error.hpp>
#include <nernst/core/macros.hpp>
#include <nernst/core/structure.hpp>

#include <Eigen/Core>
#include <unsupported/Eigen/FFT>
#include <xtensor/xtensor.hpp>

// Eigen's FFT module includes only its default backend's implementation; make both kissfft
// (always available, the fallback) and FFTW (when NERNST_HAVE_FFTW, set by CMake when libfftw3
// is found) available so that the backend is a template choice and both can be tested.
#if defined(EIGEN_FFTW_DEFAULT)
#include <unsupported/Eigen/src/FFT/ei_kissfft_impl.h>
#ifndef NERNST_HAVE_FFTW
#define NERNST_HAVE_FFTW 1
#endif
#elif defined(NERNST_HAVE_FFTW) && NERNST_HAVE_FFTW
#include <fftw3.h>
#include <unsupported/Eigen/src/FFT/ei_fftw_impl.h>
#endif

#include <algorithm>
#include <array>
#include <complex>
#include <cstddef>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace analysis {

/// FFT backend of Eigen's FFT module: kissfft (built into Eigen; always available).
struct KissFFT {
  using impl = Eigen::internal::kissfft_impl<double>;
  static constexpr const char* name = "kissfft";
};
#if defined(NERNST_HAVE_FFTW) && NERNST_HAVE_FFTW
/// FFT backend of Eigen's FFT module: FFTW 3 (optional dependency, ~4x faster than kissfft).
struct FFTW {
  using impl = Eigen::internal::fftw_impl<double>;
  static constexpr const char* name = "fftw";
};
using DefaultFFTBackend = FFTW;
#else
using DefaultFFTBackend = KissFFT;
#endif

/// MSD algorithm policy: FFT-based fast correlation over all lags (stores the trajectory),
/// with an explicit FFT backend (KissFFT or, when available, FFTW).
template <class Backend = DefaultFFTBackend>
struct FFTCorrelationWith {
  using backend = Backend;
};
/// MSD algorithm policy: FFT-based fast correlation with the best available FFT backend.
using FFTCorrelation = FFTCorrelationWith<>;
/// MSD algorithm policy: direct sum over lags ≤ W with a ring buffer (streams, O(N·W) memory).
struct DirectSum {};

/// Policy selecting the windowed (all-origin) MSD estimator and its algorithm.
template <class Algorithm = FFTCorrelation>
struct WindowedMSD {
  using algorithm = Algorithm;
};

/// Primary template of the estimator family (`Estimator<WindowedMSD<>>`, ...).
template <class Policy>
class Estimator;

/// A named set of atoms (indices into the pushed frames) analysed together.
struct AtomGroup {
  std::string name;
  std::vector<std::size_t> atoms;
};

/// Groups "Z-symbol" per species present plus "all", from atomic numbers.
inline std::vector<AtomGroup> species_groups(const std::vector<int>& z, bool with_all = true) {
  std::vector<AtomGroup> g;
  std::map<int, std::size_t> index;
  for (std::size_t i = 0; i < z.size(); ++i) {
    auto it = index.find(z[i]);
    if (it == index.end()) {
      it = index.emplace(z[i], g.size()).first;
      g.push_back({std::string(element_symbol(z[i])), {}});
    }
    g[it->second].atoms.push_back(i);
  }
  if (with_all) {
    AtomGroup all{"all", {}};
    for (std::size_t i = 0; i < z.size(); ++i) all.atoms.push_back(i);
    g.push_back(std::move(all));
  }
  return g;
}

enum class Unwrap {
  MinimumImage,  ///< positions may be wrapped: unwrap with minimum-image increments in the new cell
  None           ///< positions are already continuous (e.g. LAMMPS xu yu zu)
};

struct MSDOptions {
  double dt_ps = 1.0;          ///< time between pushed frames (ps)
  std::size_t max_lag = 0;     ///< largest lag in frames (0 = all); DirectSum's memory is ∝ max_lag
  Unwrap unwrap = Unwrap::MinimumImage;
  /// Atoms whose mean displacement is subtracted from every atom at each frame (centre-of-mass
  /// drift of the whole system or of the framework); empty = no drift correction.
  std::vector<std::size_t> drift_atoms;
  bool per_atom = false;       ///< also keep each atom's MSD (xyz) per lag
  bool collective = false;     ///< also the collective MSD ⟨|Σ_{i∈g} Δr_i|²⟩ / N_g (charge MSD for equal charges)
  std::size_t block_frames = 0;  ///< > 0: also the MSD of consecutive non-overlapping blocks of this many frames
};

/// Tensor component order (Voigt): xx yy zz yz xz xy.
inline constexpr int voigt_a[6] = {0, 1, 2, 1, 0, 0};
inline constexpr int voigt_b[6] = {0, 1, 2, 2, 2, 1};

/// MSD tensor curves of one group: tensor[c][m] in Å² (mean over atoms), Voigt component order.
struct MSDTensor {
  std::array<std::vector<double>, 6> c;

  std::size_t size() const { return c[0].size(); }
  /// Total (3-D) MSD: trace.
  std::vector<double> xyz() const {
    std::vector<double> v(size());
    for (std::size_t m = 0; m < v.size(); ++m) v[m] = c[0][m] + c[1][m] + c[2][m];
    return v;
  }
  /// MSD along Cartesian axis 0, 1, 2 (x, y, z).
  const std::vector<double>& axis(int a) const { return c[static_cast<std::size_t>(a)]; }
  /// MSD of the projection on a direction n (normalised here): nᵀ M n.
  std::vector<double> along(Eigen::Vector3d n) const {
    n.normalize();
    std::vector<double> v(size());
    for (std::size_t m = 0; m < v.size(); ++m)
      v[m] = n[0] * n[0] * c[0][m] + n[1] * n[1] * c[1][m] + n[2] * n[2] * c[2][m] +
             2.0 * (n[1] * n[2] * c[3][m] + n[0] * n[2] * c[4][m] + n[0] * n[1] * c[5][m]);
    return v;
  }
  /// 2-D MSD in the plane perpendicular to `normal`: trace − along(normal).
  std::vector<double> plane(const Eigen::Vector3d& normal) const {
    auto v = xyz();
    const auto a = along(normal);
    for (std::size_t m = 0; m < v.size(); ++m) v[m] -= a[m];
    return v;
  }
};

/// MSD of one group.
struct GroupMSD {
  std::string name;
  std::size_t n_atoms = 0;
  MSDTensor tensor;                     ///< Å², lag m = 0 … n_lags−1
  std::vector<double> collective;       ///< ⟨|Σ Δr_i|²⟩/N (Å²), empty unless requested
  xt::xtensor<double, 2> per_atom;      ///< (n_atoms, n_lags) xyz MSD of each atom, empty unless requested
  std::vector<MSDTensor> blocks;        ///< per block (block_frames frames each), empty unless requested
  std::vector<std::vector<double>> blocks_collective;
};

struct MSDResult {
  double dt_ps = 1.0;
  std::size_t n_frames = 0;
  std::size_t block_frames = 0;
  Eigen::Matrix3d cell0 = Eigen::Matrix3d::Identity();  ///< cell of the first frame (rows a, b, c)
  double mean_volume = 0.0;                             ///< Å³, mean over frames
  std::vector<GroupMSD> groups;

  std::size_t n_lags() const { return groups.empty() ? 0 : groups.front().tensor.size(); }
  std::vector<double> lag_ps() const {
    std::vector<double> t(n_lags());
    for (std::size_t m = 0; m < t.size(); ++m) t[m] = static_cast<double>(m) * dt_ps;
    return t;
  }
  const GroupMSD& group(const std::string& name) const {
    for (const auto& g : groups)
      if (g.name == name) return g;
    throw ValueError("MSD result has no group '" + name + "'");
  }
  /// MSD along lattice vector i (0 = a, 1 = b, 2 = c) of the first frame's cell.
  std::vector<double> lattice_direction(const std::string& name, int i) const {
    return group(name).tensor.along(cell0.row(i).transpose());
  }
};

namespace detail {

/// Tracks = the series the algorithm correlates: analysed atoms, then one collective track per
/// group when requested. Each group lists its atom tracks and its collective track.
struct TrackMap {
  std::vector<std::size_t> atom_of_track;            ///< atom index of each atom track
  std::vector<std::vector<std::size_t>> group_tracks;
  std::vector<std::ptrdiff_t> group_collective;      ///< track index or −1
  std::size_t n_tracks = 0;
  std::size_t n_atom_tracks = 0;
};

inline TrackMap make_track_map(std::size_t n_atoms, const std::vector<AtomGroup>& groups, bool collective) {
  TrackMap t;
  std::vector<std::ptrdiff_t> track_of_atom(n_atoms, -1);
  for (const auto& g : groups) {
    if (g.atoms.empty()) throw ValueError("MSD group '" + g.name + "' has no atoms");
    for (auto a : g.atoms) {
      if (a >= n_atoms)
        throw ValueError("MSD group '" + g.name + "' names atom " + std::to_string(a) + " but frames have " +
                         std::to_string(n_atoms) + " atoms");
      if (track_of_atom[a] < 0) {
        track_of_atom[a] = static_cast<std::ptrdiff_t>(t.atom_of_track.size());
        t.atom_of_track.push_back(a);
      }
    }
  }
  t.n_atom_tracks = t.atom_of_track.size();
  t.n_tracks = t.n_atom_tracks;
  for (const auto& g : groups) {
    std::vector<std::size_t> tr;
    for (auto a : g.atoms) tr.push_back(static_cast<std::size_t>(track_of_atom[a]));
    t.group_tracks.push_back(std::move(tr));
    t.group_collective.push_back(collective ? static_cast<std::ptrdiff_t>(t.n_tracks++) : -1);
  }
  return t;
}

/// FFT length for a zero-padded correlation of ≥ lo points. kissfft: only factors 2, 3, 5 and
/// divisible by 4 (its fast radix-4/2/3/5 butterflies and half-length real-input path); FFTW:
/// even with factors 2, 3, 5, 7 (its codelets), which pads less.
inline std::size_t fft_size(std::size_t lo, bool fftw = false) {
  for (std::size_t n = std::max<std::size_t>(lo, 4);; ++n) {
    if (n % (fftw ? 2 : 4)) continue;
    std::size_t k = n;
    for (std::size_t p : {2u, 3u, 5u, 7u})
      if (p != 7 || fftw)
        while (k % p == 0) k /= p;
    if (k == 1) return n;
  }
}

template <class A>
struct is_fft_correlation : std::false_type {};
template <class B>
struct is_fft_correlation<FFTCorrelationWith<B>> : std::true_type {};

/// 64-byte aligned scratch (FFTW plans made on one buffer run on any other of the same alignment).
struct AlignedBuffer {
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  std::unique_ptr<double, Free> p;
  explicit AlignedBuffer(std::size_t n_doubles)
      : p(static_cast<double*>(std::aligned_alloc(64, ((n_doubles * sizeof(double) + 63) / 64) * 64))) {
    if (!p) throw Error("WindowedMSD: out of memory for FFT scratch");
  }
  double* get() const { return p.get(); }
};

/// Shared accumulator layout: sums over tracks of a group, per lag, 6 tensor components.
struct GroupSums {
  std::array<std::vector<double>, 6> t;  ///< Σ_tracks Σ_origins Δα Δβ
  std::vector<double> coll;              ///< collective track, xyz
  std::vector<double> per_track;         ///< (n_group_tracks × n_lags) xyz, if per-atom
};

}  // namespace detail

/// Windowed MSD estimator; see the file comment. `Algorithm` is FFTCorrelation or DirectSum.
template <class Algorithm>
class Estimator<WindowedMSD<Algorithm>> {
  static constexpr bool is_fft = detail::is_fft_correlation<Algorithm>::value;
  static_assert(is_fft || std::is_same_v<Algorithm, DirectSum>,
                "WindowedMSD<Algorithm>: Algorithm must be analysis::FFTCorrelation(With<Backend>) or analysis::DirectSum");
  static constexpr std::size_t block_len = 2048;  ///< frames per storage block (FFT)
  /// Series stride in a block: one cache line more than block_len, so that the 3·N series
  /// written at each push do not all map to the same cache sets (a 16 KiB power-of-two stride
  /// made every push miss the cache).
  static constexpr std::size_t block_stride = block_len + 8;

 public:
  /// `n_atoms` atoms per frame; groups index into them.
  Estimator(std::size_t n_atoms, std::vector<AtomGroup> groups, MSDOptions options = {})
      : n_atoms_(n_atoms), groups_(std::move(groups)), opt_(std::move(options)), unwrapper_(n_atoms) {
    if (groups_.empty()) throw ValueError("WindowedMSD needs at least one atom group");
    if (!(opt_.dt_ps > 0.0)) throw ValueError("WindowedMSD: dt_ps must be positive");
    for (auto a : opt_.drift_atoms)
      if (a >= n_atoms_) throw ValueError("WindowedMSD: drift atom index out of range");
    map_ = detail::make_track_map(n_atoms_, groups_, opt_.collective);
    // Only the analysed and drift atoms are unwrapped (e.g. Li out of a large framework).
    std::vector<char> need(n_atoms_, 0);
    for (auto a : map_.atom_of_track) need[a] = 1;
    for (auto a : opt_.drift_atoms) need[a] = 1;
    std::vector<std::size_t> local(n_atoms_, 0);
    for (std::size_t a = 0; a < n_atoms_; ++a)
      if (need[a]) local[a] = sel_.size(), sel_.push_back(a);
    for (auto a : map_.atom_of_track) local_of_track_.push_back(local[a]);
    for (auto a : opt_.drift_atoms) drift_local_.push_back(local[a]);
    unwrapper_ = Unwrapper(sel_.size());
    u_.resize(3 * sel_.size());
    if (sel_.size() != n_atoms_) wsel_.resize(3 * sel_.size());
    track_.resize(3 * map_.n_tracks);
    if constexpr (!is_fft) {
      window_ = opt_.max_lag;  // 0 = unbounded
      sums_.resize(groups_.size());
      if (opt_.block_frames) {
        if (window_ == 0 || window_ >= opt_.block_frames) block_window_ = opt_.block_frames - 1;
        else block_window_ = window_;
      }
    }
  }

  std::size_t n_frames() const { return frames_; }
  const MSDOptions& options() const { return opt_; }

  /// Sets the block length (frames) for block MSDs. The FFT path keeps the trajectory, so this
  /// may be called after all frames are in (e.g. n_frames()/5 for five blocks); the direct path
  /// accumulates blocks while streaming, so there it must be called before the first push.
  void set_block_frames(std::size_t block_frames) {
    if constexpr (!is_fft) {
      if (frames_ > 0) throw ValueError("WindowedMSD<DirectSum>: set the block length before pushing frames");
      block_window_ = block_frames ? ((window_ == 0 || window_ >= block_frames) ? block_frames - 1 : window_) : 0;
    }
    opt_.block_frames = block_frames;
  }
  const std::vector<AtomGroup>& groups() const { return groups_; }

  /// Pushes one frame: Cartesian positions (n_atoms × 3 row-major, Å) and its cell (rows, Å).
  void push(const double* xyz, const Eigen::Matrix3d& cell) {
    if (frames_ == 0) cell0_ = cell;
    volume_sum_ += std::abs(cell.determinant());
    const double* w = xyz;
    if (!wsel_.empty()) {
      for (std::size_t j = 0; j < sel_.size(); ++j)
        for (int k = 0; k < 3; ++k) wsel_[3 * j + k] = xyz[3 * sel_[j] + k];
      w = wsel_.data();
    }
    if (opt_.unwrap == Unwrap::MinimumImage) unwrapper_.push(w, cell, u_.data());
    else std::copy(w, w + u_.size(), u_.begin());
    if (frames_ == 0) origin_ = u_;
    // Displacement from the first frame, drift-corrected.
    double drift[3] = {0, 0, 0};
    if (!drift_local_.empty()) {
      for (auto a : drift_local_)
        for (int k = 0; k < 3; ++k) drift[k] += u_[3 * a + k] - origin_[3 * a + k];
      for (double& d : drift) d /= static_cast<double>(drift_local_.size());
    }
    for (std::size_t t = 0; t < map_.n_atom_tracks; ++t) {
      const std::size_t a = local_of_track_[t];
      for (int k = 0; k < 3; ++k) track_[3 * t + k] = u_[3 * a + k] - origin_[3 * a + k] - drift[k];
    }
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      if (map_.group_collective[g] < 0) continue;
      const std::size_t c = static_cast<std::size_t>(map_.group_collective[g]);
      double s[3] = {0, 0, 0};
      for (auto t : map_.group_tracks[g])
        for (int k = 0; k < 3; ++k) s[k] += track_[3 * t + k];
      for (int k = 0; k < 3; ++k) track_[3 * c + k] = s[k];
    }
    if constexpr (is_fft) store_frame();
    else direct_frame();
    ++frames_;
  }
  void push(const std::vector<double>& xyz, const Eigen::Matrix3d& cell) {
    if (xyz.size() != 3 * n_atoms_)
      throw ValueError("WindowedMSD: frame has " + std::to_string(xyz.size() / 3) + " atoms, expected " +
                       std::to_string(n_atoms_));
    push(xyz.data(), cell);
  }
  /// Pushes a structure (Cartesian positions from its lattice and fractional coordinates).
  void push(const Structure& s) {
    if (s.size() != n_atoms_)
      throw ValueError("WindowedMSD: frame has " + std::to_string(s.size()) + " atoms, expected " +
                       std::to_string(n_atoms_));
    buf_.resize(3 * n_atoms_);
    for (std::size_t i = 0; i < n_atoms_; ++i) {
      const Eigen::Vector3d r = s.cart(i);
      for (int k = 0; k < 3; ++k) buf_[3 * i + k] = r[k];
    }
    push(buf_.data(), s.lattice().matrix());
  }
  /// Pushes a block of frames (frames, atoms, 3) sharing one cell (NVT).
  void push_block(const xt::xtensor<double, 3>& block, const Eigen::Matrix3d& cell) {
    if (block.shape()[1] != n_atoms_ || block.shape()[2] != 3)
      throw ValueError("WindowedMSD::push_block: expected shape (frames, " + std::to_string(n_atoms_) + ", 3)");
    const std::size_t stride = 3 * n_atoms_;
    for (std::size_t f = 0; f < block.shape()[0]; ++f) push(block.data() + f * stride, cell);
  }

  /// Bytes held by the estimator for trajectory data (stored blocks or ring buffer).
  std::size_t memory_bytes() const {
    std::size_t b = 0;
    b += store_.size() * 3 * map_.n_tracks * block_stride * sizeof(double);
    b += ring_.capacity() * sizeof(double);
    return b;
  }

  /// Peak bytes of scratch that result() allocates on top of memory_bytes() (FFT: O(frames);
  /// direct: the accumulators, O(lags)).
  std::size_t scratch_bytes() const {
    if constexpr (is_fft) {
      const std::size_t T = frames_, L = opt_.max_lag ? std::min(opt_.max_lag + 1, frames_) : frames_;
      const std::size_t M = detail::fft_size(T + L - 1, !std::is_same_v<typename Algorithm::backend, KissFFT>);
      const std::size_t H = M / 2 + 1;
      // x (3M), X (6H), inverse (M), spectrum (2H), P (6H), S (6T), collective/per-atom (H + 2T),
      // and the result curves (6 L per group).
      return (4 * M + 15 * H + 8 * T + 6 * L * groups_.size()) * sizeof(double);
    } else {
      std::size_t b = 0;
      for (const auto& s : sums_) b += (6 * s.t[0].size() + s.coll.size() + s.per_track.size()) * sizeof(double);
      return b;
    }
  }

  /// Computes (FFT) or collects (direct) the MSD of every group.
  MSDResult result() const {
    if (frames_ < 2) throw ValueError("WindowedMSD: need at least 2 frames, have " + std::to_string(frames_));
    MSDResult r;
    r.dt_ps = opt_.dt_ps;
    r.n_frames = frames_;
    r.block_frames = opt_.block_frames;
    r.cell0 = cell0_;
    r.mean_volume = volume_sum_ / static_cast<double>(frames_);
    const std::size_t n_blocks = opt_.block_frames >= 2 ? frames_ / opt_.block_frames : 0;
    std::vector<std::vector<detail::GroupSums>> block_sums(n_blocks);
    std::vector<detail::GroupSums> whole;
    std::size_t L, Lb = 0;
    if constexpr (is_fft) {
      L = opt_.max_lag ? std::min(opt_.max_lag + 1, frames_) : frames_;
      whole = fft_range(0, frames_, L, opt_.per_atom);
      if (n_blocks) {
        Lb = std::min(L, opt_.block_frames);
        for (std::size_t b = 0; b < n_blocks; ++b)
          block_sums[b] = fft_range(b * opt_.block_frames, (b + 1) * opt_.block_frames, Lb, false);
      }
    } else {
      L = window_ ? std::min(window_ + 1, frames_) : frames_;
      whole = sums_;
      if (n_blocks) {
        Lb = std::min(block_window_ + 1, opt_.block_frames);
        for (std::size_t b = 0; b < n_blocks; ++b) block_sums[b] = block_sums_[b];
      }
    }
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      GroupMSD out;
      out.name = groups_[g].name;
      out.n_atoms = groups_[g].atoms.size();
      const double ng = static_cast<double>(out.n_atoms);
      out.tensor = normalise(whole[g], L, frames_, ng);
      if (opt_.collective) out.collective = normalise_vec(whole[g].coll, L, frames_, ng);
      if (opt_.per_atom) {
        const std::size_t stride = whole[g].per_track.size() / out.n_atoms;
        out.per_atom = xt::xtensor<double, 2>::from_shape({out.n_atoms, L});
        for (std::size_t i = 0; i < out.n_atoms; ++i)
          for (std::size_t m = 0; m < L; ++m)
            out.per_atom(i, m) = m ? whole[g].per_track[i * stride + m] / static_cast<double>(frames_ - m) : 0.0;
      }
      for (std::size_t b = 0; b < n_blocks; ++b) {
        out.blocks.push_back(normalise(block_sums[b][g], Lb, opt_.block_frames, ng));
        if (opt_.collective) out.blocks_collective.push_back(normalise_vec(block_sums[b][g].coll, Lb, opt_.block_frames, ng));
      }
      r.groups.push_back(std::move(out));
    }
    return r;
  }

 private:
  static MSDTensor normalise(const detail::GroupSums& s, std::size_t L, std::size_t T, double ng) {
    MSDTensor out;
    for (int c = 0; c < 6; ++c) out.c[c] = normalise_vec(s.t[c], L, T, ng);
    return out;
  }
  static std::vector<double> normalise_vec(const std::vector<double>& v, std::size_t L, std::size_t T, double ng) {
    std::vector<double> o(L, 0.0);
    for (std::size_t m = 1; m < L && m < v.size(); ++m) o[m] = v[m] / (ng * static_cast<double>(T - m));
    return o;
  }

  // ---------------------------------------------------------------- FFT: storage and correlation
  void store_frame() {
    const std::size_t nt = map_.n_tracks;
    const std::size_t slot = frames_ % block_len;
    // Uninitialised (no memset; untouched pages of a short last block never become resident).
    if (slot == 0) store_.emplace_back(new double[nt * 3 * block_stride]);
    double* blk = store_.back().get();
    for (std::size_t t = 0; t < nt; ++t)
      for (int k = 0; k < 3; ++k) blk[(t * 3 + k) * block_stride + slot] = track_[3 * t + k];
  }
  /// Copies frames [t0, t1) of track `t`, component `k` into `out`; returns their sum.
  double gather(std::size_t t, int k, std::size_t t0, std::size_t t1, double* out) const {
    std::size_t f = t0;
    double sum = 0.0;
    while (f < t1) {
      const std::size_t b = f / block_len, s = f % block_len;
      const std::size_t n = std::min(block_len - s, t1 - f);
      const double* src = store_[b].get() + (t * 3 + static_cast<std::size_t>(k)) * block_stride + s;
      double* dst = out + (f - t0);
      for (std::size_t i = 0; i < n; ++i) sum += (dst[i] = src[i]);
      f += n;
    }
    return sum;
  }

  /// Group sums over frames [t0, t1) for lags < L. Per track: gather the three components,
  /// subtract their means while accumulating the per-frame products x_a·x_b of the group (the
  /// S1 term is linear in them, so its O(T) recursion runs once per group), 3 real FFTs, and
  /// one fused pass adding the six (cross-)power spectra. Per group and component: one inverse
  /// FFT. Scratch: O(T) doubles, buffers reused across tracks (FFTW plans are made once).
  std::vector<detail::GroupSums> fft_range(std::size_t t0, std::size_t t1, std::size_t L, bool per_atom) const {
    using Complex = std::complex<double>;
    using Backend = typename Algorithm::backend;
    constexpr bool fftw = !std::is_same_v<Backend, KissFFT>;
    const std::size_t T = t1 - t0;
    // Linear (not circular) correlation up to lag L−1 needs M ≥ T + L − 1.
    const std::size_t M = detail::fft_size(T + L - 1, fftw);
    const std::size_t H = M / 2 + 1;
    const std::size_t Mp = (M + 7) / 8 * 8, Hp = (H + 3) / 4 * 4;  // keep every buffer 64-byte aligned
    Eigen::FFT<double, typename Backend::impl> fft;
    fft.SetFlag(Eigen::FFT<double, typename Backend::impl>::HalfSpectrum);
    detail::AlignedBuffer xbuf(3 * Mp), Xbuf(3 * 2 * Hp), ibuf(Mp), sbuf(2 * Hp);
    std::fill(xbuf.get(), xbuf.get() + 3 * Mp, 0.0);  // zero padding, never overwritten
    double* x[3];
    Complex* X[3];
    for (int k = 0; k < 3; ++k) {
      x[k] = xbuf.get() + static_cast<std::size_t>(k) * Mp;
      X[k] = reinterpret_cast<Complex*>(Xbuf.get() + static_cast<std::size_t>(k) * 2 * Hp);
    }
    double* inv = ibuf.get();
    Complex* spec = reinterpret_cast<Complex*>(sbuf.get());
    const auto M_idx = static_cast<Eigen::Index>(M);
    // S1(m) = Q(0) − Σ_{f<m} [p(f) + p(T−1−f)], Q(0) = 2 Σ p; result = S1 − IFFT(spectrum).
    auto finish = [&](auto spectrum_at, auto p_at, double* dst) {
      for (std::size_t h = 0; h < H; ++h) spec[h] = Complex(2.0 * spectrum_at(h), 0.0);
      fft.inv(inv, spec, M_idx);
      double q = 0;
      for (std::size_t f = 0; f < T; ++f) q += p_at(f);
      q *= 2.0;
      dst[0] = q - inv[0];
      for (std::size_t m = 1; m < L; ++m) {
        q -= p_at(m - 1) + p_at(T - m);
        dst[m] = q - inv[m];
      }
    };

    std::vector<detail::GroupSums> sums(groups_.size());
    std::vector<double> P, S, Pc, Sc, p1;
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      const bool coll = map_.group_collective[g] >= 0;
      P.assign(6 * H, 0.0);  // Σ_tracks (cross-)power spectra, [h][component]
      S.assign(6 * T, 0.0);  // Σ_tracks x_a(f) x_b(f), [f][component]
      Pc.assign(coll ? H : 0, 0.0);
      Sc.assign(coll ? T : 0, 0.0);
      auto& out = sums[g];
      if (per_atom) out.per_track.assign(map_.group_tracks[g].size() * L, 0.0);

      auto process = [&](std::size_t track, bool collective, std::size_t index_in_group) {
        double mean[3];
        for (int k = 0; k < 3; ++k) mean[k] = gather(track, k, t0, t1, x[k]) / static_cast<double>(T);
        double* x0 = x[0];
        double* x1 = x[1];
        double* x2 = x[2];
        if (collective || per_atom) {
          if (per_atom) p1.assign(T, 0.0);
          double* acc = collective ? Sc.data() : p1.data();
          for (std::size_t f = 0; f < T; ++f) {
            const double a = (x0[f] -= mean[0]), b = (x1[f] -= mean[1]), c = (x2[f] -= mean[2]);
            acc[f] += a * a + b * b + c * c;
          }
        }
        if (!collective) {
          double* s = S.data();
          if (per_atom) {  // already centred above
            for (std::size_t f = 0; f < T; ++f, s += 6) {
              const double a = x0[f], b = x1[f], c = x2[f];
              s[0] += a * a, s[1] += b * b, s[2] += c * c, s[3] += b * c, s[4] += a * c, s[5] += a * b;
            }
          } else {
            for (std::size_t f = 0; f < T; ++f, s += 6) {
              const double a = (x0[f] -= mean[0]), b = (x1[f] -= mean[1]), c = (x2[f] -= mean[2]);
              s[0] += a * a, s[1] += b * b, s[2] += c * c, s[3] += b * c, s[4] += a * c, s[5] += a * b;
            }
          }
        }
        for (int k = 0; k < 3; ++k) fft.fwd(X[k], x[k], M_idx);
        const Complex* A = X[0];
        const Complex* B = X[1];
        const Complex* C = X[2];
        if (collective) {
          for (std::size_t h = 0; h < H; ++h) Pc[h] += std::norm(A[h]) + std::norm(B[h]) + std::norm(C[h]);
          return;
        }
        double* p = P.data();
        for (std::size_t h = 0; h < H; ++h, p += 6) {
          const double ar = A[h].real(), ai = A[h].imag(), br = B[h].real(), bi = B[h].imag(), cr = C[h].real(),
                       ci = C[h].imag();
          p[0] += ar * ar + ai * ai, p[1] += br * br + bi * bi, p[2] += cr * cr + ci * ci;
          p[3] += br * cr + bi * ci, p[4] += ar * cr + ai * ci, p[5] += ar * br + ai * bi;
        }
        if (per_atom) {
          finish([&](std::size_t h) { return std::norm(A[h]) + std::norm(B[h]) + std::norm(C[h]); },
                 [&](std::size_t f) { return p1[f]; }, out.per_track.data() + index_in_group * L);
        }
      };
      const auto& tracks = map_.group_tracks[g];
      for (std::size_t i = 0; i < tracks.size(); ++i) process(tracks[i], false, i);
      if (coll) process(static_cast<std::size_t>(map_.group_collective[g]), true, 0);

      for (int c = 0; c < 6; ++c) {
        out.t[c].assign(L, 0.0);
        finish([&](std::size_t h) { return P[6 * h + static_cast<std::size_t>(c)]; },
               [&](std::size_t f) { return S[6 * f + static_cast<std::size_t>(c)]; }, out.t[c].data());
      }
      if (coll) {
        out.coll.assign(L, 0.0);
        finish([&](std::size_t h) { return Pc[h]; }, [&](std::size_t f) { return Sc[f]; }, out.coll.data());
      }
    }
    return sums;
  }

  // ---------------------------------------------------------------- direct: ring buffer
  void init_sums(detail::GroupSums& s, std::size_t g, std::size_t L) const {
    for (auto& v : s.t) v.assign(L, 0.0);
    if (opt_.collective) s.coll.assign(L, 0.0);
    if (opt_.per_atom) s.per_track.assign(map_.group_tracks[g].size() * L, 0.0);
  }

  void direct_frame() {
    const std::size_t nt = map_.n_tracks;
    const std::size_t cap = window_ ? window_ + 1 : 0;  // 0: keep all frames
    const std::size_t t = frames_;
    if (cap) {
      if (ring_.empty()) ring_.assign(cap * 3 * nt, 0.0);
    } else {
      ring_.resize((t + 1) * 3 * nt);
    }
    auto slot_ptr = [&](std::size_t frame) -> double* {
      return ring_.data() + (cap ? frame % cap : frame) * 3 * nt;
    };
    std::copy(track_.begin(), track_.end(), slot_ptr(t));
    const std::size_t L = cap ? cap : t + 1;
    // Grow accumulators (unbounded window) or allocate once.
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      auto& s = sums_[g];
      if (s.t[0].size() < L) {
        if (s.t[0].empty()) init_sums(s, g, L);
        for (auto& v : s.t) v.resize(L, 0.0);
        if (opt_.collective) s.coll.resize(L, 0.0);
        if (opt_.per_atom) {
          // per_track is (n_group_tracks × L): re-layout on growth.
          const std::size_t n = map_.group_tracks[g].size();
          const std::size_t oldL = n ? s.per_track.size() / n : 0;
          std::vector<double> nw(n * L, 0.0);
          for (std::size_t i = 0; i < n; ++i)
            for (std::size_t m = 0; m < oldL; ++m) nw[i * L + m] = s.per_track[i * oldL + m];
          s.per_track.swap(nw);
        }
      }
    }
    const std::size_t bf = opt_.block_frames;
    std::size_t blk = 0;
    if (bf >= 2) {
      blk = t / bf;
      if (block_sums_.size() <= blk) {
        block_sums_.resize(blk + 1);
        block_sums_[blk].resize(groups_.size());
        for (std::size_t g = 0; g < groups_.size(); ++g) init_sums(block_sums_[blk][g], g, block_window_ + 1);
        for (auto& s : block_sums_[blk]) s.per_track.clear();
      }
    }
    const double* cur = slot_ptr(t);
    const std::size_t mmax = cap ? std::min(window_, t) : t;
    for (std::size_t m = 1; m <= mmax; ++m) {
      const double* old = slot_ptr(t - m);
      const bool in_block = bf >= 2 && (t - m) / bf == blk && m <= block_window_;
      for (std::size_t g = 0; g < groups_.size(); ++g) {
        double acc[6] = {0, 0, 0, 0, 0, 0};
        const auto& tracks = map_.group_tracks[g];
        auto& s = sums_[g];
        for (std::size_t i = 0; i < tracks.size(); ++i) {
          const std::size_t tr = tracks[i];
          const double dx = cur[3 * tr] - old[3 * tr], dy = cur[3 * tr + 1] - old[3 * tr + 1],
                       dz = cur[3 * tr + 2] - old[3 * tr + 2];
          acc[0] += dx * dx;
          acc[1] += dy * dy;
          acc[2] += dz * dz;
          acc[3] += dy * dz;
          acc[4] += dx * dz;
          acc[5] += dx * dy;
          if (opt_.per_atom) s.per_track[i * L + m] += dx * dx + dy * dy + dz * dz;
        }
        for (int c = 0; c < 6; ++c) s.t[c][m] += acc[c];
        double cc = 0;
        if (map_.group_collective[g] >= 0) {
          const std::size_t tr = static_cast<std::size_t>(map_.group_collective[g]);
          for (int k = 0; k < 3; ++k) {
            const double d = cur[3 * tr + k] - old[3 * tr + k];
            cc += d * d;
          }
          s.coll[m] += cc;
        }
        if (in_block) {
          auto& b = block_sums_[blk][g];
          for (int c = 0; c < 6; ++c) b.t[c][m] += acc[c];
          if (!b.coll.empty()) b.coll[m] += cc;
        }
      }
    }
  }

  std::size_t n_atoms_;
  std::vector<AtomGroup> groups_;
  MSDOptions opt_;
  Unwrapper unwrapper_;
  detail::TrackMap map_;
  std::size_t frames_ = 0;
  Eigen::Matrix3d cell0_ = Eigen::Matrix3d::Identity();
  double volume_sum_ = 0.0;
  std::vector<double> u_, origin_, track_, buf_, wsel_;
  std::vector<std::size_t> sel_, local_of_track_, drift_local_;  ///< unwrapped atoms; local indices
  // FFT storage: blocks of block_len frames, layout [track][component][frame-in-block].
  std::vector<std::unique_ptr<double[]>> store_;
  // Direct: ring buffer [slot][track][3] and accumulators.
  std::size_t window_ = 0, block_window_ = 0;
  std::vector<double> ring_;
  std::vector<detail::GroupSums> sums_;
  std::vector<std::vector<detail::GroupSums>> block_sums_;
};

}  // namespace analysis
NERNST_NAMESPACE_END
