#pragma once
/// \file
/// \brief Estimator<SiteAnalysis>: site occupation, transition events and site-to-site jumps of the
/// mobile ions, with jump rates and activation energies per jump type, tracer and jump
/// diffusivities, correlation factor and attempt frequency — exactly as GEMDAT 1.7.2 computes them.
///
/// Why a second jump analysis beside Estimator<JumpAnalysis> (jumps.hpp): the field reports jump
/// statistics as GEMDAT computes them, and GEMDAT's numbers depend on details no "spirit of"
/// implementation gets right (the vibration-amplitude radius, the displacement-mode positions,
/// the float32 KD-tree, the inner sphere, per-part rates over N·Δt/P, the /2 for same-label jumps,
/// jumps lost at part boundaries). The definitions followed, point by point, are those of
/// shared/reference/jumps/README.md (GEMDAT 1.7.2, pymatgen 2024.1.26, MDAnalysis 2.4.2); the
/// point numbers in the comments refer to it. Parity with GEMDAT's own outputs on the reference
/// case is tested in tests/analysis/test_gemdat_parity.cpp and tabulated in docs/jumps.md.
///
/// GEMDAT's quirks are reproduced, not fixed, so that numbers can be compared with published ones;
/// the one that is plainly a bug (the integer remap of point 7, which shifts site indices when a
/// site of a labelled group is never visited) can be switched off with `fix_integer_remap`.
///
/// Streaming: frames are pushed one at a time; per frame and mobile ion only a float32 Cartesian
/// position (12 bytes) and the speed (8 bytes) are kept, because the site radius depends on the
/// vibration amplitude of the whole trajectory and the attempt frequency on the speed's spectrum.
/// Site lookup uses a periodic bin grid, so the cost per frame is O(ions), not O(ions × sites).
///
/// Units: Å, s (GEMDAT's), Hz, m²/s, eV, K. Site and atom indices are 0-based (sites in file
/// order, atoms in the order of `ions`), frames 0-based.

#include <nernst/analysis/site_list.hpp>
#include <nernst/core/error.hpp>
#include <nernst/core/lattice.hpp>
#include <nernst/core/macros.hpp>
#include <nernst/core/structure.hpp>

#include <Eigen/Core>
#include <Eigen/LU>
#include <unsupported/Eigen/FFT>

#include <algorithm>
#include <array>
#include <cmath>
#include <complex>
#include <cstddef>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <string>
#include <utility>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace analysis {

template <class Policy>
class Estimator;

/// Policy: GEMDAT-exact site and jump analysis (definition in the file comment).
struct SiteAnalysis {};

/// A label with a value, in the order given (GEMDAT walks its radius dict in insertion order).
using LabelValues = std::vector<std::pair<std::string, double>>;

struct SiteAnalysisOptions {
  std::optional<double> radius_A;  ///< one radius for every site; unset (and no label_radii): GEMDAT's default (point 6)
  LabelValues label_radii;         ///< per-label radii; only these labels get states
  double inner_fraction = 1.0;     ///< inner radius = fraction × radius, for every label
  LabelValues label_inner_fractions;  ///< per-label inner fractions (GEMDAT's dict φ)
  std::size_t min_residence = 0;   ///< frames on the destination for a jump to count (point 9)
  std::size_t n_parts = 10;        ///< parts for rates and activation energies (points 14–16)
  int dim = 3;                     ///< dimensionality of D* and D_J
  double dt_fs = 0;                ///< time between pushed frames
  double temperature_K = 0;        ///< for the activation energies
  double fraction_of_overlap = 0;  ///< GEMDAT's tolerance of overlapping per-label spheres
  /// GEMDAT maps a labelled group's site index through the ranks of the sites *visited* (point 7),
  /// which shifts every later site of the group when one is never visited. false: do as GEMDAT
  /// (comparable numbers); true: the corrected, identity mapping.
  bool fix_integer_remap = false;
  std::string trajectory_name;     ///< for error messages
  /// Collective jumps (point 18): two jumps of different ions within the attempt period whose
  /// sites lie closer than this (Å); one analysis per value (GEMDAT 1.7.2's default is 1 Å).
  std::vector<double> collective_max_dist_A{1.0};
};

/// A change of site state of one ion between frames t and t+1 (point 8); −1 = on no site.
struct SiteEvent {
  std::size_t atom = 0;
  int start = -1, dest = -1, start_inner = -1, dest_inner = -1;
  long t = 0;
};

/// A site-to-site jump (point 9): start_time = last frame on the origin, stop_time = first frame
/// on the destination, residence_time = frames on the destination (see point 9 for the end).
struct SiteJump {
  std::size_t atom = 0;
  int start = -1, dest = -1;
  long start_time = 0, stop_time = 0, residence_time = 0;
};

struct ValueStd {
  double value = 0, std = 0;
};

/// How "on a site" was decided (point 6).
struct SiteRadiusPlan {
  std::string source;                  ///< "vibration_amplitude" or "given"
  bool label_groups = false;           ///< GEMDAT's label-group path (a dict radius or dict φ)
  std::vector<std::string> labels;     ///< group labels in order ("" = all sites, no label groups)
  std::vector<double> radius_A, inner_fraction;  ///< per group
  double min_site_distance_A = 0;      ///< over all site pairs, minimum image
};

/// One of the n_parts pieces of the trajectory (point 14).
struct SitePart {
  std::size_t n_frames_states = 0, n_frames_trajectory = 0, n_events = 0, n_jumps = 0;
  std::map<std::string, std::size_t> counter;          ///< "A->B" → jumps in this part
  std::map<std::string, double> atom_locations;        ///< label → fraction of ions on it
};

/// Jumps that happen together (point 18), for one max_dist. Pairs index the jump table sorted
/// stably by (stop time, start time), as GEMDAT's.
struct CollectiveJumps {
  double max_dist_A = 0;
  long max_steps = 0;  ///< ceil(1/(ν·Δt)) frames
  std::size_t n_solo = 0, n_coll = 0;
  std::vector<std::pair<std::size_t, std::size_t>> pairs;
};

/// Sites of a labelled group seen during the trajectory (point 7's integer-remap check).
struct RemapCheck {
  std::size_t n_sites = 0, n_seen_outer = 0, n_seen_inner = 0;
};

struct SiteAnalysisResult {
  // --- trajectory (points 1–5, 12) ---
  std::size_t n_frames = 0, n_atoms = 0;
  double time_step_s = 0, total_time_s = 0, temperature_K = 0;
  int dim = 3;
  double vibration_amplitude_A = 0;
  std::size_t n_amplitudes = 0;
  double attempt_frequency_Hz = 0, attempt_frequency_std_Hz = 0;
  std::vector<double> attempt_frequency_per_atom_Hz;
  double tracer_diffusivity_m2_s = 0;
  // --- sites and states (points 6, 7) ---
  std::vector<std::string> site_labels;   ///< per site, file order
  std::vector<std::string> labels;        ///< distinct, sorted (jump types are pairs of these)
  SiteRadiusPlan radius;
  std::map<std::string, RemapCheck> remap_check;  ///< label groups only
  bool integer_remap_shifted = false;     ///< GEMDAT's remap moves at least one site index here
  bool integer_remap_fixed = false;       ///< the corrected (identity) mapping was used
  std::vector<int> states, inner_states;  ///< atom-major: [atom · n_frames + frame], −1 = no site
  // --- events and jumps (points 8–11) ---
  std::vector<SiteEvent> events;
  std::vector<SiteJump> jumps;
  std::vector<std::size_t> jump_matrix;   ///< S × S, row-major: [start · S + dest]
  std::map<std::string, std::size_t> jump_counts;  ///< "A->B" → jumps (only pairs with jumps)
  double jump_diffusivity_m2_s = 0;
  double correlation_factor = 0;          ///< D*/D_J (NaN without jumps)
  // --- occupancy (point 13) ---
  std::vector<double> occupancy;          ///< per site
  std::map<std::string, double> occupancy_by_site_type, atom_locations;
  // --- parts, rates, activation energies (points 14–16) ---
  std::vector<SitePart> parts;
  std::map<std::string, ValueStd> rates_per_s;            ///< all ordered label pairs
  std::map<std::string, ValueStd> activation_energies_eV; ///< all ordered label pairs (inf/nan as GEMDAT)
  // --- graph, collective jumps (points 17, 18) ---
  struct GraphEdge {
    std::size_t from = 0, to = 0;
    double e_act_eV = 0;
  };
  std::vector<GraphEdge> graph;           ///< one edge per site pair with jumps, row-major order
  std::vector<CollectiveJumps> collective;  ///< one per collective_max_dist_A
  std::vector<std::string> warnings;

  std::size_t n_sites() const { return site_labels.size(); }
  int state(std::size_t atom, std::size_t frame) const { return states[atom * n_frames + frame]; }
};

namespace site_detail {

inline constexpr double k_B = 1.380649e-23;      // J/K (scipy.constants)
inline constexpr double e_charge = 1.602176634e-19;  // C

inline std::string pair_key(const std::string& a, const std::string& b) { return a + "->" + b; }

/// numpy.mod(x, 1): in [0, 1], with the sign of the divisor; −1e-17 gives exactly 1.0.
inline double numpy_mod1(double x) {
  double r = std::fmod(x, 1.0);
  if (r != 0) {
    if (r < 0) r += 1.0;
  } else {
    r = 0.0;
  }
  return r;
}

/// int(numpy.linspace(start, stop, num)) as numpy computes it (i·step + start, last = stop),
/// truncated toward zero.
inline std::vector<long> linspace_int(double start, double stop, std::size_t num) {
  std::vector<long> out(num);
  const double step = (stop - start) / static_cast<double>(num - 1);
  for (std::size_t i = 0; i < num; ++i) out[i] = static_cast<long>(static_cast<double>(i) * step + start);
  out[num - 1] = static_cast<long>(stop);
  return out;
}

/// Mean and standard deviation with `ddof` (NaN for too few values, inf-aware like numpy).
inline ValueStd mean_std(const std::vector<double>& x, int ddof) {
  ValueStd r;
  const double n = static_cast<double>(x.size());
  double s = 0;
  for (double v : x) s += v;
  r.value = s / n;
  double ss = 0;
  for (double v : x) ss += (v - r.value) * (v - r.value);
  r.std = n - ddof > 0 ? std::sqrt(ss / (n - ddof)) : std::numeric_limits<double>::quiet_NaN();
  return r;
}

/// Minimum-image distance between two fractional points (pymatgen get_all_distances: the true
/// minimum over the images around the rounded difference).
inline double site_distance(const Lattice& lat, const Eigen::Vector3d& a, const Eigen::Vector3d& b) {
  return lat.minimum_image(lat.to_cart(b - a)).norm();
}

/// Point 4: the population standard deviation of the "amplitudes" (sums of the speed over runs
/// between sign changes, cyclic, the first and last change dropped) of all atoms.
inline double vibration_amplitude(const std::vector<std::vector<double>>& speed, std::size_t& count) {
  std::vector<double> amp;
  for (const auto& v : speed) {
    const std::size_t N = v.size();
    auto sg = [&](std::size_t t) { return (v[t] > 0) - (v[t] < 0); };
    std::vector<std::size_t> splits;
    for (std::size_t t = 0; t < N; ++t)
      if (sg(t) != sg((t + 1) % N)) splits.push_back(t);
    std::vector<std::size_t> cuts;  // segment starts after the first: split + 1
    for (std::size_t i = 1; i + 1 < splits.size(); ++i) cuts.push_back(splits[i] + 1);
    std::size_t begin = 0;
    cuts.push_back(N);
    for (std::size_t c : cuts) {
      double s = 0;
      for (std::size_t t = begin; t < c; ++t) s += v[t];
      amp.push_back(s);
      begin = c;
    }
  }
  count = amp.size();
  return mean_std(amp, 0).std;
}

/// Point 5: the periodogram-weighted mean frequency of one atom's mean-removed speed.
inline double mean_frequency(const std::vector<double>& v, double dt_s) {
  const std::size_t N = v.size();
  const double mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(N);
  std::vector<double> x(N);
  for (std::size_t t = 0; t < N; ++t) x[t] = v[t] - mean;
  std::vector<std::complex<double>> X;
  Eigen::FFT<double> fft;
  fft.fwd(X, x);
  double num = 0, den = 0;
  for (std::size_t k = 0; 2 * k <= N; ++k) {
    const double w = (k == 0 || 2 * k == N) ? 1.0 : 2.0;
    const double p = w * std::norm(X[k]);
    num += p * static_cast<double>(k) / (static_cast<double>(N) * dt_s);
    den += p;
  }
  if (!(den > 0)) return std::numeric_limits<double>::quiet_NaN();  // an ion that never moves
  return num / den;
}

/// Smallest minimum-image distance between a site of label p and a *different* site of label q.
inline double min_label_distance(const SiteList& s, const Lattice& lat, const std::string& p, const std::string& q) {
  double best = std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < s.size(); ++i)
    for (std::size_t j = 0; j < s.size(); ++j)
      if (i != j && s.labels[i] == p && s.labels[j] == q) best = std::min(best, site_distance(lat, s.frac[i], s.frac[j]));
  return best;
}

inline double min_site_distance(const SiteList& s, const Lattice& lat) {
  double best = std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < s.size(); ++i)
    for (std::size_t j = i + 1; j < s.size(); ++j) best = std::min(best, site_distance(lat, s.frac[i], s.frac[j]));
  return best;
}

/// Point 6: which radius, and inner fraction, applies to which sites. Overlapping spheres are an
/// error (GEMDAT checks only per-label radii; a single given radius is checked here too, since
/// two sites in reach make the state depend on the site order).
inline SiteRadiusPlan plan_site_radius(const SiteAnalysisOptions& o, const SiteList& sites, const Lattice& lat,
                                       double vibration_amplitude) {
  SiteRadiusPlan p;
  p.min_site_distance_A = min_site_distance(sites, lat);
  auto has_label = [&](const std::string& l) { return std::find(sites.labels.begin(), sites.labels.end(), l) != sites.labels.end(); };
  auto phi_of = [&](const std::string& l) {
    for (const auto& [k, v] : o.label_inner_fractions)
      if (k == l) return v;
    return o.inner_fraction;
  };
  if (o.radius_A && !o.label_radii.empty()) throw ValueError("site analysis: give one radius or per-label radii, not both");
  if (!o.label_radii.empty()) {
    p.source = "given";
    p.label_groups = true;
    for (const auto& [l, r] : o.label_radii) {
      if (!has_label(l)) throw ValueError(sites.source + ": no site is labelled '" + l + "' (radius given for it)");
      if (!(r > 0)) throw ValueError("site analysis: the radius of '" + l + "' must be positive");
      if (std::find(p.labels.begin(), p.labels.end(), l) != p.labels.end())
        throw ValueError("site analysis: the radius of '" + l + "' is given twice");
      p.labels.push_back(l);
      p.radius_A.push_back(r);
      p.inner_fraction.push_back(phi_of(l));
    }
    for (std::size_t i = 0; i < p.labels.size(); ++i)
      for (std::size_t j = i; j < p.labels.size(); ++j) {
        const double d = min_label_distance(sites, lat, p.labels[i], p.labels[j]);
        if ((1 + o.fraction_of_overlap) * d < p.radius_A[i] + p.radius_A[j])
          throw ValueError(sites.source + ": the spheres of sites '" + p.labels[i] + "' and '" + p.labels[j] + "' overlap (" +
                           std::to_string(d) + " Å apart, radii " + std::to_string(p.radius_A[i]) + " + " +
                           std::to_string(p.radius_A[j]) + " Å); use smaller radii");
      }
    return p;
  }
  double r;
  if (o.radius_A) {
    p.source = "given";
    r = *o.radius_A;
    if (!(r > 0)) throw ValueError("site analysis: the site radius must be positive");
    if ((1 + o.fraction_of_overlap) * p.min_site_distance_A < 2 * r)
      throw ValueError(sites.source + ": sites " + std::to_string(p.min_site_distance_A) + " Å apart overlap with radius " +
                       std::to_string(r) + " Å; use a radius below half the smallest site distance");
  } else {
    p.source = "vibration_amplitude";
    r = 2 * vibration_amplitude;
    if (p.min_site_distance_A < 2 * r) r = 0.5 * p.min_site_distance_A - 0.005;
    if (2 * r < 0.5)
      throw ValueError(sites.source + ": sites " + std::to_string(p.min_site_distance_A) +
                       " Å apart leave too small a default radius (GEMDAT refuses 2r < 0.5 Å); give --radius");
  }
  if (!o.label_inner_fractions.empty()) {  // dict φ: one radius copied to each of its labels
    p.label_groups = true;
    for (const auto& [l, phi] : o.label_inner_fractions) {
      if (!has_label(l)) throw ValueError(sites.source + ": no site is labelled '" + l + "' (inner fraction given for it)");
      if (std::find(p.labels.begin(), p.labels.end(), l) != p.labels.end())
        throw ValueError("site analysis: the inner fraction of '" + l + "' is given twice");
      p.labels.push_back(l);
      p.radius_A.push_back(r);
      p.inner_fraction.push_back(phi);
    }
  } else {
    p.labels.push_back("");
    p.radius_A.push_back(r);
    p.inner_fraction.push_back(o.inner_fraction);
  }
  for (double phi : p.inner_fraction)
    if (!(phi > 0 && phi <= 1)) throw ValueError("site analysis: the inner fraction must lie in (0, 1]");
  return p;
}

/// Finds the sites within reach of a point, emulating MDAnalysis' float32 periodic KD-tree (point
/// 7): positions rounded to float32, site images shifted by float32 cell vectors, distance in
/// double. Site images are binned on a fractional grid of the cell, each in every bin whose
/// points it can reach, so a query tests only the one or two nearby sites.
class SiteLocator {
 public:
  SiteLocator(const SiteList& sites, const Lattice& lat, const SiteRadiusPlan& plan) : lat_(lat) {
    const std::size_t S = sites.size();
    priority_.assign(S, -1);
    r2_.assign(S, 0);
    ri2_.assign(S, 0);
    double rmax = 0;
    for (std::size_t k = 0; k < S; ++k)
      for (std::size_t g = 0; g < plan.labels.size(); ++g)
        if (plan.labels[g].empty() || plan.labels[g] == sites.labels[k]) {
          // later group overwrites, and within a group the later site wins (point 7)
          priority_[k] = static_cast<long>(g * S + k);
          const double r = plan.radius_A[g], ri = r * plan.inner_fraction[g];
          r2_[k] = r * r;
          ri2_[k] = ri * ri;
          rmax = std::max(rmax, r);
        }
    const auto w = lat.perpendicular_widths();
    for (int a = 0; a < 3; ++a) {
      const auto ua = static_cast<std::size_t>(a);
      nb_[ua] = std::clamp(static_cast<int>(w[ua] / std::max(rmax, 1e-3)), 1, 64);
      reach_[ua] = (rmax + 1e-4) / w[ua];  // fractional reach along axis a (|Δf_a| ≤ |Δx| / w_a)
    }
    Eigen::Matrix3f L32 = lat.matrix().cast<float>();
    bins_.assign(static_cast<std::size_t>(nb_[0] * nb_[1] * nb_[2]), {});
    for (std::size_t k = 0; k < S; ++k) {
      if (priority_[k] < 0) continue;
      const Eigen::Vector3f y32 = lat.to_cart(sites.frac[k]).cast<float>();
      for (int i = -1; i <= 1; ++i)
        for (int j = -1; j <= 1; ++j)
          for (int l = -1; l <= 1; ++l) add_image(k, sites.frac[k] + Eigen::Vector3d(i, j, l), image32(y32, L32, i, j, l));
    }
  }

  /// Outer and inner state of a point in the cell given by its float32 Cartesian position x
  /// (−1: none).
  void locate(const float* x, int& outer, int& inner) const {
    long best_o = -1, best_i = -1;
    outer = inner = -1;
    const Eigen::Vector3d p = lat_.to_frac(Eigen::Vector3d(x[0], x[1], x[2]));  // only picks the bin: reach has a margin
    for (const Image& im : bins_[bin_of(p)]) {
      double d2 = 0;
      for (int a = 0; a < 3; ++a) {
        const double d = static_cast<double>(x[a]) - static_cast<double>(im.y[a]);
        d2 += d * d;
      }
      const long pr = priority_[im.site];
      if (d2 <= r2_[im.site] && pr > best_o) {
        best_o = pr;
        outer = static_cast<int>(im.site);
      }
      if (d2 <= ri2_[im.site] && pr > best_i) {
        best_i = pr;
        inner = static_cast<int>(im.site);
      }
    }
  }

 private:
  struct Image {
    std::size_t site;
    float y[3];
  };

  static Eigen::Vector3f image32(const Eigen::Vector3f& y, const Eigen::Matrix3f& L, int i, int j, int l) {
    Eigen::Vector3f t = static_cast<float>(i) * L.row(0).transpose() + static_cast<float>(j) * L.row(1).transpose() +
                        static_cast<float>(l) * L.row(2).transpose();
    return y + t;
  }

  void add_image(std::size_t k, const Eigen::Vector3d& g, const Eigen::Vector3f& y) {
    int lo[3], hi[3];
    for (int a = 0; a < 3; ++a) {
      const auto ua = static_cast<std::size_t>(a);
      lo[a] = static_cast<int>(std::floor((g[a] - reach_[ua]) * nb_[ua]));
      hi[a] = static_cast<int>(std::floor((g[a] + reach_[ua]) * nb_[ua]));
      if (hi[a] < 0 || lo[a] >= nb_[ua]) return;  // this image reaches no point of the cell
      lo[a] = std::max(lo[a], 0);
      hi[a] = std::min(hi[a], nb_[ua] - 1);
    }
    const Image im{k, {y[0], y[1], y[2]}};
    for (int i = lo[0]; i <= hi[0]; ++i)
      for (int j = lo[1]; j <= hi[1]; ++j)
        for (int l = lo[2]; l <= hi[2]; ++l) bins_[static_cast<std::size_t>((i * nb_[1] + j) * nb_[2] + l)].push_back(im);
  }

  std::size_t bin_of(const Eigen::Vector3d& p) const {
    int b[3];
    for (int a = 0; a < 3; ++a) {
      const auto ua = static_cast<std::size_t>(a);
      b[a] = std::clamp(static_cast<int>(std::floor(p[a] * nb_[ua])), 0, nb_[ua] - 1);
    }
    return static_cast<std::size_t>((b[0] * nb_[1] + b[1]) * nb_[2] + b[2]);
  }

  Lattice lat_;
  std::array<int, 3> nb_{};
  std::array<double, 3> reach_{};
  std::vector<long> priority_;
  std::vector<double> r2_, ri2_;
  std::vector<std::vector<Image>> bins_;
};

/// Point 7's integer remap: within each label group, the k-th *visited* site index (sorted) is
/// reported as the k-th member of the group. Identity when every member is visited. Returns
/// whether any index moved.
inline bool gemdat_integer_remap(std::vector<int>& states, const SiteList& sites, const SiteRadiusPlan& plan,
                                 std::map<std::string, std::size_t>& seen_per_label) {
  const std::size_t S = sites.size();
  std::vector<char> seen(S, 0);
  for (int s : states)
    if (s >= 0) seen[static_cast<std::size_t>(s)] = 1;
  std::vector<int> map(S, -1);
  bool moved = false;
  for (const auto& label : plan.labels) {
    std::vector<int> members;
    for (std::size_t k = 0; k < S; ++k)
      if (sites.labels[k] == label) members.push_back(static_cast<int>(k));
    std::size_t rank = 0;
    for (int m : members)
      if (seen[static_cast<std::size_t>(m)]) {
        map[static_cast<std::size_t>(m)] = members[rank++];
        moved |= map[static_cast<std::size_t>(m)] != m;
      }
    seen_per_label[label] = rank;
  }
  if (moved)
    for (int& s : states)
      if (s >= 0) s = map[static_cast<std::size_t>(s)];
  return moved;
}

/// Point 8: the events of atoms [0, n) over frames [0, N), atom after atom.
inline std::vector<SiteEvent> find_events(const std::vector<int>& outer, const std::vector<int>& inner, std::size_t n, std::size_t N) {
  std::vector<SiteEvent> ev;
  for (std::size_t a = 0; a < n; ++a) {
    const int* o = &outer[a * N];
    const int* in = &inner[a * N];
    bool any_outer = false;
    for (std::size_t t = 0; t + 1 < N && !any_outer; ++t) any_outer = o[t] != o[t + 1];
    if (!any_outer) continue;
    for (std::size_t t = 0; t + 1 < N; ++t)
      if (o[t] != o[t + 1] || in[t] != in[t + 1]) ev.push_back({a, o[t], o[t + 1], in[t], in[t + 1], static_cast<long>(t)});
  }
  return ev;
}

/// Point 9 for one atom's events [first, last): appends the accepted jumps.
inline void atom_events_to_jumps(const SiteEvent* first, const SiteEvent* last, long min_residence, long last_stop_time,
                                 std::vector<SiteJump>& out) {
  struct Candidate {
    int start, dest, dest_inner;
    long t, stop;
  };
  std::optional<SiteEvent> from;
  std::optional<Candidate> cand;
  auto accept = [&](const Candidate& c, long res) {
    if (res >= min_residence && c.dest_inner != -1 && c.start != c.dest)
      out.push_back({first->atom, c.start, c.dest, c.t, c.stop, res});
  };
  for (const SiteEvent* e = first; e != last; ++e) {
    if (cand) {
      if (e->dest == cand->dest) {
        if (e->dest_inner != -1) cand->dest_inner = e->dest_inner;
      } else {
        accept(*cand, e->t - (cand->stop - 1));
        cand.reset();
      }
    }
    if (e->start != -1 && e->start != e->dest) from = *e;
    if (from) {
      if (e->dest == from->start) {  // came back: no jump
        from.reset();
        cand.reset();
      } else if (e->dest_inner != -1 || e->dest != from->dest) {
        cand = Candidate{from->start, e->dest, e->dest_inner, from->t, e->t + 1};
        from.reset();
      }
    }
  }
  if (cand) accept(*cand, last_stop_time - (cand->stop - 1));
}

/// Point 9 over events of many atoms (grouped atom after atom).
inline std::vector<SiteJump> events_to_jumps(const std::vector<SiteEvent>& ev, long min_residence, long last_stop_time) {
  std::vector<SiteJump> jumps;
  std::size_t i = 0;
  while (i < ev.size()) {
    std::size_t j = i;
    while (j < ev.size() && ev[j].atom == ev[i].atom) ++j;
    atom_events_to_jumps(ev.data() + i, ev.data() + j, min_residence, last_stop_time, jumps);
    i = j;
  }
  return jumps;
}

/// numpy's negative index: −1 is the last site (GEMDAT's jump matrix; cannot occur for jumps).
inline std::size_t site_index(int s, std::size_t S) { return s < 0 ? S - static_cast<std::size_t>(-s) : static_cast<std::size_t>(s); }

/// Point 13: per-label fraction of ions on sites of that label, over frames [t0, t1).
inline std::map<std::string, double> atom_locations(const std::vector<int>& states, std::size_t n, std::size_t N, std::size_t t0,
                                                    std::size_t t1, const SiteList& sites, std::vector<double>* occupancy = nullptr) {
  std::vector<double> count(sites.size(), 0.0);
  for (std::size_t a = 0; a < n; ++a)
    for (std::size_t t = t0; t < t1; ++t)
      if (const int s = states[a * N + t]; s >= 0) count[static_cast<std::size_t>(s)] += 1;
  std::map<std::string, double> loc;
  for (const auto& l : sites.unique_labels()) loc[l] = 0;
  for (std::size_t k = 0; k < sites.size(); ++k) {
    count[k] /= static_cast<double>(t1 - t0);
    loc[sites.labels[k]] += count[k];
  }
  for (auto& [l, v] : loc) v /= static_cast<double>(n);
  if (occupancy) *occupancy = count;
  return loc;
}

/// Point 18 for one max_dist: pairs (i, j), i < j, of the jumps sorted stably by (stop, start).
inline CollectiveJumps collective_jumps(const std::vector<SiteJump>& jumps, const SiteList& sites, const Lattice& lat, double max_dist,
                                        long max_steps) {
  CollectiveJumps c;
  c.max_dist_A = max_dist;
  c.max_steps = max_steps;
  std::vector<std::size_t> order(jumps.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return jumps[a].stop_time != jumps[b].stop_time ? jumps[a].stop_time < jumps[b].stop_time : jumps[a].start_time < jumps[b].start_time;
  });
  auto close = [&](int p, int q) {
    const auto S = sites.size();
    return site_distance(lat, sites.frac[site_index(p, S)], sites.frac[site_index(q, S)]) < max_dist;
  };
  std::vector<char> in_pair(jumps.size(), 0);
  for (std::size_t i = 0; i + 1 < order.size(); ++i) {
    const SiteJump& a = jumps[order[i]];
    for (std::size_t j = i + 1; j < order.size(); ++j) {
      const SiteJump& b = jumps[order[j]];
      if (b.start_time - a.stop_time > max_steps) break;  // GEMDAT tests start_j although sorted by stop: kept
      if (a.start_time - b.stop_time > max_steps) continue;
      if (a.atom == b.atom) continue;
      if (close(a.start, b.start) || close(a.start, b.dest) || close(a.dest, b.start) || close(a.dest, b.dest)) {
        c.pairs.emplace_back(i, j);
        in_pair[i] = in_pair[j] = 1;
      }
    }
  }
  c.n_coll = static_cast<std::size_t>(std::count(in_pair.begin(), in_pair.end(), 1));
  c.n_solo = jumps.size() - c.n_coll;
  return c;
}

}  // namespace site_detail

/// Streams frames and computes GEMDAT 1.7.2's site and jump statistics (file comment).
template <>
class Estimator<SiteAnalysis> {
 public:
  /// `ions`: indices of the mobile atoms in the frames to be pushed (GEMDAT's floating species,
  /// file order). `sites`: the sites (SiteList). The first frame's lattice is used throughout
  /// (GEMDAT's constant lattice).
  Estimator(std::vector<std::size_t> ions, SiteList sites, SiteAnalysisOptions o)
      : ions_(std::move(ions)), sites_(std::move(sites)), opt_(std::move(o)) {
    if (ions_.empty()) throw ValueError("site analysis: no mobile ions selected");
    if (sites_.frac.empty()) throw ValueError("site analysis: no sites given");
    if (!(opt_.dt_fs > 0)) throw ValueError("site analysis: the time step must be positive");
    if (opt_.n_parts < 1) throw ValueError("site analysis: n_parts must be at least 1");
    if (opt_.dim < 1 || opt_.dim > 3) throw ValueError("site analysis: dim must be 1, 2 or 3");
    displacement_mode_ = !opt_.radius_A && opt_.label_radii.empty();
    const std::size_t n = ions_.size();
    f0_.resize(n);
    fprev_.resize(n);
    c_.assign(n, Eigen::Vector3d::Zero());
    dist_prev_.assign(n, 0.0);
    speed_.assign(n, {});
  }

  /// Takes a frame: all atoms' Cartesian positions (n × 3, Å) and its cell (rows a, b, c).
  void push(const double* xyz, const Eigen::Matrix3d& cell) {
    if (frames_ == 0) start(cell);
    const Eigen::PartialPivLU<Eigen::Matrix3d> lu(L_.transpose());
    for (std::size_t k = 0; k < ions_.size(); ++k) {
      const std::size_t i = ions_[k];
      take(k, lu.solve(Eigen::Vector3d(xyz[3 * i], xyz[3 * i + 1], xyz[3 * i + 2])));
    }
    ++frames_;
  }

  /// Takes a frame as a Structure (its fractional coordinates when its cell is the first one).
  void push(const Structure& s) {
    if (frames_ == 0) {
      start(s.lattice().matrix());
      n_atoms_ = s.size();
    }
    if (s.size() != n_atoms_)
      throw ValueError((opt_.trajectory_name.empty() ? std::string("site analysis") : opt_.trajectory_name) + ": frame " +
                       std::to_string(frames_) + " has " + std::to_string(s.size()) + " atoms, the first frame " +
                       std::to_string(n_atoms_) + " (the ions and the sites refer to the first frame's atoms)");
    const bool same = s.lattice().matrix() == L_;
    for (std::size_t k = 0; k < ions_.size(); ++k) {
      const std::size_t i = ions_[k];
      if (i >= s.size()) throw ValueError("site analysis: ion index " + std::to_string(i) + " beyond the frame's atoms");
      take(k, same ? s[i].frac : Eigen::Vector3d(L_.transpose().partialPivLu().solve(s.cart(i))));
    }
    ++frames_;
  }

  std::size_t n_frames() const { return frames_; }
  const Eigen::Matrix3d& cell() const { return L_; }

  SiteAnalysisResult result() const;

 private:
  void start(const Eigen::Matrix3d& cell) {
    L_ = cell;
    G_ = L_ * L_.transpose();
  }

  /// Points 1–3 for one ion: wrap, unwrapped displacement, distance, speed; stores the position
  /// used for the states (point 7) as float32 Cartesian.
  void take(std::size_t k, const Eigen::Vector3d& frac) {
    Eigen::Vector3d f;
    for (int a = 0; a < 3; ++a) f[a] = site_detail::numpy_mod1(frac[a]);
    double dist = 0;
    if (frames_ == 0) {
      f0_[k] = f;
    } else {
      Eigen::Vector3d d = f - fprev_[k];
      for (int a = 0; a < 3; ++a) d[a] -= std::nearbyint(d[a]);  // numpy.around: half to even
      c_[k] += d;
      dist = std::sqrt(c_[k].dot(G_ * c_[k]));
    }
    speed_[k].push_back(dist - dist_prev_[k]);
    dist_prev_[k] = dist;
    fprev_[k] = f;
    Eigen::Vector3d p = f;
    if (displacement_mode_)
      for (int a = 0; a < 3; ++a) p[a] = site_detail::numpy_mod1(f0_[k][a] + c_[k][a]);
    const Eigen::Vector3d x = L_.transpose() * p;
    for (int a = 0; a < 3; ++a) pos32_.push_back(static_cast<float>(x[a]));
  }

  std::vector<std::size_t> ions_;
  SiteList sites_;
  SiteAnalysisOptions opt_;
  bool displacement_mode_ = true;
  Eigen::Matrix3d L_ = Eigen::Matrix3d::Identity(), G_ = Eigen::Matrix3d::Identity();
  std::vector<Eigen::Vector3d> f0_, fprev_, c_;
  std::vector<double> dist_prev_;
  std::vector<std::vector<double>> speed_;  ///< per ion, per frame (point 3)
  std::vector<float> pos32_;                ///< frame-major [t][ion][3]: Cartesian positions for the states, float32
  std::size_t frames_ = 0, n_atoms_ = 0;
};

inline SiteAnalysisResult Estimator<SiteAnalysis>::result() const {
  using namespace site_detail;
  const std::size_t N = frames_, n = ions_.size(), S = sites_.size(), P = opt_.n_parts;
  if (N < 2) throw ValueError("site analysis: the trajectory needs at least two frames");
  const Lattice lat(L_);
  SiteAnalysisResult r;
  r.n_frames = N;
  r.n_atoms = n;
  r.dim = opt_.dim;
  r.time_step_s = opt_.dt_fs * 1e-15;
  r.total_time_s = static_cast<double>(N) * r.time_step_s;  // point 1: N·Δt, not (N−1)·Δt
  r.temperature_K = opt_.temperature_K;
  r.site_labels = sites_.labels;
  r.labels = sites_.unique_labels();

  // Points 4, 5, 12: vibration amplitude, attempt frequency, tracer diffusivity.
  r.vibration_amplitude_A = vibration_amplitude(speed_, r.n_amplitudes);
  for (const auto& v : speed_) r.attempt_frequency_per_atom_Hz.push_back(mean_frequency(v, r.time_step_s));
  const ValueStd nu = mean_std(r.attempt_frequency_per_atom_Hz, 0);
  r.attempt_frequency_Hz = nu.value;
  r.attempt_frequency_std_Hz = nu.std;
  if (!std::isfinite(r.attempt_frequency_Hz))
    r.warnings.push_back("attempt frequency undefined (an ion never moves): activation energies are nan");
  double msd = 0;
  for (std::size_t k = 0; k < n; ++k) msd += c_[k].dot(G_ * c_[k]);
  msd /= static_cast<double>(n);
  r.tracer_diffusivity_m2_s = msd * 1e-20 / (2.0 * opt_.dim * r.total_time_s);

  // Points 6, 7: radius and states.
  r.radius = plan_site_radius(opt_, sites_, lat, r.vibration_amplitude_A);
  const SiteLocator locator(sites_, lat, r.radius);
  r.states.assign(n * N, -1);
  r.inner_states.assign(n * N, -1);
  for (std::size_t t = 0; t < N; ++t)
    for (std::size_t a = 0; a < n; ++a) {
      locator.locate(&pos32_[3 * (t * n + a)], r.states[a * N + t], r.inner_states[a * N + t]);
    }
  if (r.radius.label_groups) {
    std::map<std::string, std::size_t> seen_o, seen_i;
    std::vector<int> o = r.states, in = r.inner_states;
    const bool moved = gemdat_integer_remap(o, sites_, r.radius, seen_o) | gemdat_integer_remap(in, sites_, r.radius, seen_i);
    for (const auto& l : r.radius.labels) {
      RemapCheck c;
      c.n_sites = static_cast<std::size_t>(std::count(sites_.labels.begin(), sites_.labels.end(), l));
      c.n_seen_outer = seen_o[l];
      c.n_seen_inner = seen_i[l];
      r.remap_check[l] = c;
    }
    r.integer_remap_shifted = moved;
    r.integer_remap_fixed = opt_.fix_integer_remap;
    if (moved && !opt_.fix_integer_remap) {
      r.states = std::move(o);
      r.inner_states = std::move(in);
      r.warnings.push_back("GEMDAT's integer remap shifted site indices (a site of a labelled group is never visited); "
                           "label-level counts, rates and energies are unaffected, site indices and D_J follow GEMDAT");
    }
  }

  // Points 8–11: events, jumps, jump matrix, counts, jump diffusivity.
  r.events = find_events(r.states, r.inner_states, n, N);
  r.jumps = events_to_jumps(r.events, static_cast<long>(opt_.min_residence), static_cast<long>(N));
  r.jump_matrix.assign(S * S, 0);
  for (const auto& j : r.jumps) {
    ++r.jump_matrix[site_index(j.start, S) * S + site_index(j.dest, S)];
    ++r.jump_counts[pair_key(sites_.labels[site_index(j.start, S)], sites_.labels[site_index(j.dest, S)])];
  }
  double sum = 0;
  for (std::size_t i = 0; i < S; ++i)
    for (std::size_t j = 0; j < S; ++j)
      if (const std::size_t m = r.jump_matrix[i * S + j]) {
        const double d = site_distance(lat, sites_.frac[i], sites_.frac[j]);
        sum += d * d * static_cast<double>(m);
      }
  r.jump_diffusivity_m2_s = sum * 1e-20 / (2.0 * opt_.dim * static_cast<double>(n) * r.total_time_s);
  if (r.jumps.empty()) {
    r.correlation_factor = std::numeric_limits<double>::quiet_NaN();
    r.warnings.push_back("no jumps found (GEMDAT raises here): D_J = 0, no correlation factor");
  } else {
    r.correlation_factor = r.tracer_diffusivity_m2_s / r.jump_diffusivity_m2_s;
  }

  // Point 13: occupancy.
  r.atom_locations = atom_locations(r.states, n, N, 0, N, sites_, &r.occupancy);
  for (const auto& l : r.labels) {
    double s = 0, c = 0;
    for (std::size_t k = 0; k < S; ++k)
      if (sites_.labels[k] == l) {
        s += r.occupancy[k];
        c += 1;
      }
    r.occupancy_by_site_type[l] = s / c;
  }

  // Point 14: parts (states by array_split, events by int(linspace(0, N+1)), lengths by
  // int(linspace(0, N−1))).
  if (N < P) throw ValueError("site analysis: fewer frames than parts");
  const auto b = linspace_int(0.0, static_cast<double>(N + 1), P + 1);
  const auto tau = linspace_int(0.0, static_cast<double>(N - 1), P + 1);
  std::vector<std::map<std::string, std::size_t>> part_counts(P);
  std::size_t t0 = 0;
  for (std::size_t p = 0; p < P; ++p) {
    SitePart part;
    part.n_frames_states = N / P + (p < N % P ? 1 : 0);
    part.n_frames_trajectory = static_cast<std::size_t>(tau[p + 1] - tau[p]);
    std::vector<SiteEvent> ev;
    for (const auto& e : r.events)
      if (e.t >= b[p] && e.t < b[p + 1]) {
        ev.push_back(e);
        ev.back().t -= b[p];
      }
    part.n_events = ev.size();
    const auto pj = events_to_jumps(ev, static_cast<long>(opt_.min_residence), static_cast<long>(part.n_frames_trajectory));
    part.n_jumps = pj.size();
    for (const auto& j : pj) ++part.counter[pair_key(sites_.labels[site_index(j.start, S)], sites_.labels[site_index(j.dest, S)])];
    part.atom_locations = atom_locations(r.states, n, N, t0, t0 + part.n_frames_states, sites_);
    t0 += part.n_frames_states;
    if (pj.empty()) r.warnings.push_back("part " + std::to_string(p) + " has no jumps (GEMDAT raises here)");
    r.parts.push_back(std::move(part));
  }

  // Points 15, 16: rates and activation energies per ordered label pair.
  const double part_time = static_cast<double>(n) * r.total_time_s / static_cast<double>(P);
  for (const auto& A : r.labels)
    for (const auto& B : r.labels) {
      const std::string key = pair_key(A, B);
      std::vector<double> np, E;
      for (const auto& part : r.parts) {
        const auto it = part.counter.find(key);
        const double c = it == part.counter.end() ? 0.0 : static_cast<double>(it->second);
        np.push_back(c);
        double eff = c / (part.atom_locations.at(A) * part_time);
        if (A == B) eff /= 2;
        E.push_back(-std::log(eff / r.attempt_frequency_Hz) * k_B * opt_.temperature_K / e_charge);
      }
      const ValueStd rate = mean_std(np, 1);
      r.rates_per_s[key] = {rate.value / part_time, rate.std / part_time};
      // numpy: mean of values holding +inf is inf, and their std is nan
      ValueStd e = mean_std(E, 1);
      if (std::any_of(E.begin(), E.end(), [](double x) { return std::isinf(x); })) e.std = std::numeric_limits<double>::quiet_NaN();
      r.activation_energies_eV[key] = e;
    }
  if (!(opt_.temperature_K > 0)) r.warnings.push_back("no temperature given: activation energies are meaningless");

  // Point 17: an activation energy per site pair with jumps (whole-trajectory occupancy, no /2).
  for (std::size_t i = 0; i < S; ++i)
    for (std::size_t j = 0; j < S; ++j)
      if (const std::size_t m = r.jump_matrix[i * S + j]) {
        const double rate = static_cast<double>(m) / (r.occupancy[i] * r.total_time_s);
        r.graph.push_back({i, j, -std::log(rate / r.attempt_frequency_Hz) * k_B * opt_.temperature_K / e_charge});
      }
  // Point 18: collective jumps.
  if (std::isfinite(r.attempt_frequency_Hz) && r.attempt_frequency_Hz > 0) {
    const long max_steps = static_cast<long>(std::ceil(1.0 / (r.attempt_frequency_Hz * r.time_step_s)));
    for (double d : opt_.collective_max_dist_A) r.collective.push_back(collective_jumps(r.jumps, sites_, lat, d, max_steps));
  }
  return r;
}

}  // namespace analysis
NERNST_NAMESPACE_END
