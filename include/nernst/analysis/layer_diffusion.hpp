#pragma once
/// \file
/// \brief D per layer: the in-plane diffusivity of the mobile ions while they stay in one layer of
/// sites (site_layers.hpp), with the same fit window and He et al. (2018) error as the 3-D D
/// (diffusion.hpp).
///
/// Definition. An ion's layer in frame t is the layer of the site it is on (site analysis states),
/// or, between sites, of the last site it was on (an ion in flight belongs to where it came from
/// until it arrives); before it first reaches a site it has none. A *residence segment* is a
/// maximal run of frames in which an ion's layer is the same. The MSD of layer L at lag τ is the
/// mean of |Δr_∥(t, t+τ)|² over all ions and origins t for which [t, t+τ] lies in one residence
/// segment in L, with Δr_∥ the displacement projected onto the layer plane (the plane of the two
/// other lattice vectors; the component along its normal removed). D_L = slope/4 (d = 2).
///
/// Why segments, not "ions that stay in one layer": at the temperatures where anything diffuses
/// almost no ion stays in one layer for the whole run, so that set is empty or a biased few (the
/// slowest ions). Segments use every frame an ion spends in the layer. They condition on no
/// cross-layer jump within [t, t+τ]; that leaves the in-plane displacement unbiased as long as
/// in-plane and cross-plane hops are independent, and lags up to a fraction of the mean residence
/// time are well sampled (fewer origins at longer lags: the window ends where fewer than
/// `min_origin_fraction` of the lag-1 origins remain). The He et al. error uses N_ions = the time-
/// averaged number of ions in the layer.
///
/// The MSD of each segment is computed with the FFT correlation algorithm (O(L log L) per segment
/// of length L), so a long trajectory costs as much as its 3-D MSD.

#include <nernst/analysis/diffusion.hpp>
#include <nernst/analysis/planar_diffusion.hpp>
#include <nernst/analysis/site_analysis.hpp>
#include <nernst/analysis/site_layers.hpp>
#include <nernst/core/error.hpp>
#include <nernst/core/macros.hpp>
#include <nernst/core/structure.hpp>

#include <Eigen/Core>
#include <Eigen/LU>
#include <unsupported/Eigen/FFT>

#include <algorithm>
#include <cmath>
#include <complex>
#include <optional>
#include <cstddef>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace analysis {

/// Unwrapped Cartesian positions of the mobile ions, frame by frame (the first frame's cell,
/// minimum-image steps between frames as in GEMDAT's point 1). 24 bytes per ion and frame.
class UnwrappedIons {
 public:
  explicit UnwrappedIons(std::vector<std::size_t> ions) : ions_(std::move(ions)) {}

  /// Takes a frame as a Structure.
  void push(const Structure& s) {
    if (frames_ == 0) L_ = s.lattice().matrix();
    const Eigen::PartialPivLU<Eigen::Matrix3d> lu(L_.transpose());
    for (std::size_t k = 0; k < ions_.size(); ++k) {
      if (ions_[k] >= s.size()) throw ValueError("layer diffusion: ion index beyond the frame's atoms");
      take(k, lu.solve(s.cart(ions_[k])));
    }
    ++frames_;
  }
  /// Takes a frame: all atoms' Cartesian positions (n × 3, Å) and its cell (rows a, b, c).
  void push(const double* xyz, const Eigen::Matrix3d& cell) {
    if (frames_ == 0) L_ = cell;
    const Eigen::PartialPivLU<Eigen::Matrix3d> lu(L_.transpose());
    for (std::size_t k = 0; k < ions_.size(); ++k) {
      const std::size_t i = ions_[k];
      take(k, lu.solve(Eigen::Vector3d(xyz[3 * i], xyz[3 * i + 1], xyz[3 * i + 2])));
    }
    ++frames_;
  }
  std::size_t n_frames() const { return frames_; }
  std::size_t n_ions() const { return ions_.size(); }
  const Eigen::Matrix3d& cell() const { return L_; }
  /// Cartesian unwrapped position of ion k in frame t.
  Eigen::Vector3d cart(std::size_t t, std::size_t k) const { return L_.transpose() * unwrapped_[t * ions_.size() + k]; }

 private:
  /// Ion k's fractional position in the current frame: unwrapped by the minimum-image step.
  void take(std::size_t k, const Eigen::Vector3d& f) {
    if (frames_ == 0) {
      prev_.push_back(f);
      unwrapped_.push_back(f);
      return;
    }
    Eigen::Vector3d d = f - prev_[k];
    for (int a = 0; a < 3; ++a) d[a] -= std::nearbyint(d[a]);
    prev_[k] = f;
    unwrapped_.push_back(unwrapped_[unwrapped_.size() - ions_.size()] + d);
  }

  std::vector<std::size_t> ions_;
  Eigen::Matrix3d L_ = Eigen::Matrix3d::Identity();
  std::vector<Eigen::Vector3d> prev_, unwrapped_;  ///< fractional; unwrapped_ frame-major
  std::size_t frames_ = 0;
};

/// Layer of each ion in each frame, [ion · N + frame], −1 before its first site (file comment).
inline std::vector<int> ion_layers(const SiteAnalysisResult& r, const SiteLayers& layers) {
  const std::size_t N = r.n_frames, S = r.n_sites();
  std::vector<int> out(r.n_atoms * N, -1);
  for (std::size_t a = 0; a < r.n_atoms; ++a) {
    int cur = -1;
    for (std::size_t t = 0; t < N; ++t) {
      if (const int s = r.state(a, t); s >= 0) cur = layers.layer_of_site[site_detail::site_index(s, S)];
      out[a * N + t] = cur;
    }
  }
  return out;
}

/// The summed squared displacement and number of origins per lag of one layer.
struct LayerMSD {
  std::vector<double> sum_A2, origins;
  double ion_frames = 0;  ///< Σ segment lengths (ion·frames in the layer)
  std::vector<double> msd() const {
    std::vector<double> m;
    for (std::size_t k = 0; k < sum_A2.size(); ++k) m.push_back(origins[k] > 0 ? sum_A2[k] / origins[k] : 0.0);
    return m;
  }
};

namespace layer_detail {

/// Adds Σ_t |x(t+m) − x(t)|² and the origin count for m < min(L, M) of one segment x[0, L)
/// (FFT correlation: S(m) = Σ(|x_t|² + |x_{t+m}|²) − 2 Σ x_t·x_{t+m}).
inline void add_segment(const std::vector<Eigen::Vector3d>& x, std::size_t max_lag, LayerMSD& out) {
  const std::size_t L = x.size(), M = std::min(L, max_lag + 1);
  std::size_t nfft = 1;
  while (nfft < 2 * L) nfft *= 2;
  std::vector<double> corr(M, 0.0);
  Eigen::FFT<double> fft;
  for (int a = 0; a < 3; ++a) {
    std::vector<double> v(nfft, 0.0);
    for (std::size_t t = 0; t < L; ++t) v[t] = x[t][a];
    std::vector<std::complex<double>> X;
    fft.fwd(X, v);
    for (auto& c : X) c = std::norm(c);
    std::vector<double> ac;
    fft.inv(ac, X);
    for (std::size_t m = 0; m < M; ++m) corr[m] += ac[m];
  }
  std::vector<double> sq(L);
  double q = 0;
  for (std::size_t t = 0; t < L; ++t) q += 2 * (sq[t] = x[t].squaredNorm());
  for (std::size_t m = 0; m < M; ++m) {
    if (m > 0) q -= sq[m - 1] + sq[L - m];
    out.sum_A2[m] += q - 2 * corr[m];
    out.origins[m] += static_cast<double>(L - m);
  }
}

}  // namespace layer_detail

/// In-plane MSD per layer over lags 0 … max_lag_frames (file comment). `normal`: unit normal of
/// the layer plane (plane_normal of the plane spanned by the two other lattice vectors).
inline std::vector<LayerMSD> layer_msd(const UnwrappedIons& traj, const std::vector<int>& layer_of_ion_frame, std::size_t n_layers,
                                       const Eigen::Vector3d& normal, std::size_t max_lag_frames) {
  const std::size_t N = traj.n_frames(), n = traj.n_ions();
  if (layer_of_ion_frame.size() != n * N) throw ValueError("layer diffusion: the layer table does not match the trajectory");
  std::vector<LayerMSD> out(n_layers);
  for (auto& l : out) l.sum_A2.assign(max_lag_frames + 1, 0.0), l.origins.assign(max_lag_frames + 1, 0.0);
  for (std::size_t a = 0; a < n; ++a) {
    std::size_t t0 = 0;
    while (t0 < N) {
      const int l = layer_of_ion_frame[a * N + t0];
      std::size_t t1 = t0 + 1;
      while (t1 < N && layer_of_ion_frame[a * N + t1] == l) ++t1;
      if (l >= 0) {
        std::vector<Eigen::Vector3d> x;
        const Eigen::Vector3d r0 = traj.cart(t0, a);
        for (std::size_t t = t0; t < t1; ++t) {
          const Eigen::Vector3d d = traj.cart(t, a) - r0;
          x.push_back(d - d.dot(normal) * normal);
        }
        out[static_cast<std::size_t>(l)].ion_frames += static_cast<double>(t1 - t0);
        layer_detail::add_segment(x, max_lag_frames, out[static_cast<std::size_t>(l)]);
      }
      t0 = t1;
    }
  }
  return out;
}

struct LayerDiffusivity {
  int layer = 0;
  double mean_ions = 0;          ///< time-averaged number of ions in the layer
  std::size_t max_lag_frames = 0;  ///< lags used (origins ≥ min_origin_fraction of lag 1's)
  std::vector<double> msd_A2;
  std::optional<DiffusionFit> fit;  ///< none when the layer holds too few well-sampled lags
  std::string reason;             ///< why there is no fit
};

struct LayerDiffusionOptions {
  std::size_t max_lag_frames = 0;     ///< 0: half the trajectory
  double min_origin_fraction = 0.1;   ///< lags with fewer origins than this × lag 1's are dropped
  DiffusionOptions fit;               ///< window and He et al. site distance; dim is set to 2
};

/// D per layer (file comment): the layer MSDs fitted with d = 2.
inline std::vector<LayerDiffusivity> layer_diffusivities(const UnwrappedIons& traj, const SiteAnalysisResult& r, const SiteLayers& layers,
                                                         LayerDiffusionOptions o = {}) {
  if (traj.n_frames() != r.n_frames || traj.n_ions() != r.n_atoms)
    throw ValueError("layer diffusion: the trajectory and the site analysis differ in frames or ions");
  const std::size_t N = r.n_frames;
  const std::size_t M = o.max_lag_frames ? std::min(o.max_lag_frames, N - 1) : N / 2;
  o.fit.dim = 2;
  const int across = layers.axis;
  const LatticePlane plane = across == 0 ? LatticePlane::bc : across == 1 ? LatticePlane::ac : LatticePlane::ab;
  const auto msds = layer_msd(traj, ion_layers(r, layers), layers.n_layers(), plane_normal(traj.cell(), plane), M);
  const double dt_ps = r.time_step_s * 1e12;
  std::vector<LayerDiffusivity> out;
  for (std::size_t l = 0; l < msds.size(); ++l) {
    LayerDiffusivity d;
    d.layer = static_cast<int>(l);
    d.mean_ions = msds[l].ion_frames / static_cast<double>(N);
    const auto m = msds[l].msd();
    std::size_t last = 1;
    while (last + 1 < m.size() && msds[l].origins[1] > 0 && msds[l].origins[last + 1] >= o.min_origin_fraction * msds[l].origins[1]) ++last;
    d.max_lag_frames = last;
    d.msd_A2.assign(m.begin(), m.begin() + static_cast<std::ptrdiff_t>(std::min(last + 1, m.size())));
    std::vector<double> lag;
    for (std::size_t k = 0; k < d.msd_A2.size(); ++k) lag.push_back(static_cast<double>(k) * dt_ps);
    try {
      d.fit = fit_diffusion(lag, d.msd_A2, static_cast<std::size_t>(std::max(1.0, std::round(d.mean_ions))), o.fit);
    } catch (const ValueError& e) {
      d.reason = e.what();
    }
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace analysis
NERNST_NAMESPACE_END
