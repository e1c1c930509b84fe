#pragma once
/// \file
/// \brief Sites from the maxima of the mobile-ion density map (Estimator<DensityMap>): where the
/// ions spend their time, as a SiteList for the site/jump analysis (site_analysis.hpp).
///
/// Why: a disordered conductor's ions need not sit on the parent structure's crystallographic
/// sites (split sites, interstitials, relaxed positions of an ordering), and a sites file is then
/// a guess. The density's local maxima are the sites the trajectory itself shows.
///
/// Definition (stated in docs/jumps.md):
///  1. A grid point is a maximum when its density is ≥ that of each of its 26 neighbours on the
///     periodic grid (the grid wraps at the cell faces, so a site on a face is found once) and
///     ≥ `min_fraction_of_max` × the highest density of the map (rarely visited spots and the
///     noise of the tails are no sites).
///  2. Its position is refined to the density-weighted mean over the 3×3×3 neighbourhood
///     (minimum-image fractional offsets), which puts a site between grid points.
///  3. Maxima closer than `min_separation_A` (minimum image, Cartesian) are one site: taken in
///     order of decreasing density, a maximum within that distance of a kept one is dropped. This
///     merges flat-topped peaks (two equal neighbouring grid points) and periodic images.
/// Sites are returned in order of decreasing peak density, all with one label (one site type).

#include <nernst/analysis/density_map.hpp>
#include <nernst/analysis/site_list.hpp>
#include <nernst/core/error.hpp>
#include <nernst/core/lattice.hpp>
#include <nernst/core/macros.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace analysis {

struct DensitySiteOptions {
  double min_fraction_of_max = 0.1;  ///< a maximum counts when its density is ≥ this × the map's highest
  double min_separation_A = 1.0;     ///< maxima closer than this (minimum image) are one site
  std::string label = "dens";        ///< label (site type) of every site found
};

namespace density_detail {

/// A local maximum of the grid with its refined fractional position.
struct Peak {
  double density = 0;
  Eigen::Vector3d frac = Eigen::Vector3d::Zero();
};

inline std::size_t wrap_index(std::size_t i, int d, std::size_t n) {
  return static_cast<std::size_t>((static_cast<long>(i) + d + static_cast<long>(n)) % static_cast<long>(n));
}

/// Step 1 and 2 for grid point (i, j, k): nullopt-like (density < 0) when it is no maximum.
inline Peak peak_at(const Estimator<DensityMap>& dm, const xt::xtensor<double, 3>& P, const std::array<std::size_t, 3>& g,
                    double threshold) {
  const auto n = dm.shape();
  const double p0 = P(g[0], g[1], g[2]);
  Peak pk;
  pk.density = -1;
  if (!(p0 > 0) || p0 < threshold) return pk;
  Eigen::Vector3d centre, shift = Eigen::Vector3d::Zero();
  for (int a = 0; a < 3; ++a) centre[a] = dm.grid_frac(a, g[static_cast<std::size_t>(a)]);
  double weight = 0;
  for (int da = -1; da <= 1; ++da)
    for (int db = -1; db <= 1; ++db)
      for (int dc = -1; dc <= 1; ++dc) {
        const std::array<std::size_t, 3> h{wrap_index(g[0], da, n[0]), wrap_index(g[1], db, n[1]), wrap_index(g[2], dc, n[2])};
        const double p = P(h[0], h[1], h[2]);
        if (p > p0) return pk;  // a higher neighbour: no maximum
        Eigen::Vector3d df;
        for (int a = 0; a < 3; ++a) {
          df[a] = dm.grid_frac(a, h[static_cast<std::size_t>(a)]) - centre[a];
          df[a] -= std::round(df[a]);
        }
        shift += p * df;
        weight += p;
      }
  pk.density = p0;
  pk.frac = Lattice::wrap_frac(centre + shift / weight);
  return pk;
}

}  // namespace density_detail

/// The density map's maxima as sites (definition in the file comment). `source` names the
/// trajectory the map comes from, for messages. Throws when the map is empty or has no maximum.
inline SiteList sites_from_density(const Estimator<DensityMap>& dm, const DensitySiteOptions& o = {},
                                   const std::string& source = "density map") {
  using namespace density_detail;
  if (!(o.min_fraction_of_max > 0 && o.min_fraction_of_max <= 1))
    throw ValueError("sites from the density: the threshold fraction must be in (0, 1], not " + std::to_string(o.min_fraction_of_max));
  if (!(o.min_separation_A > 0)) throw ValueError("sites from the density: the minimum separation must be positive");
  if (dm.n_frames() == 0) throw ValueError(source + ": no frames in the density map, no sites");
  const auto P = dm.density();
  const double pmax = *std::max_element(P.begin(), P.end());
  const auto n = dm.shape();
  std::vector<Peak> peaks;
  for (std::size_t i = 0; i < n[0]; ++i)
    for (std::size_t j = 0; j < n[1]; ++j)
      for (std::size_t k = 0; k < n[2]; ++k) {
        const Peak p = peak_at(dm, P, {i, j, k}, o.min_fraction_of_max * pmax);
        if (p.density >= 0) peaks.push_back(p);
      }
  std::stable_sort(peaks.begin(), peaks.end(), [](const Peak& a, const Peak& b) { return a.density > b.density; });
  const Lattice lat(dm.cell());
  SiteList s;
  s.source = source;
  s.lattice = lat;
  for (const auto& p : peaks) {
    bool near = false;
    for (const auto& f : s.frac) near |= lat.minimum_image(lat.to_cart(p.frac - f)).norm() < o.min_separation_A;
    if (near) continue;
    s.frac.push_back(p.frac);
    s.labels.push_back(o.label);
  }
  if (s.frac.empty()) throw ValueError(source + ": the density map has no maximum, no sites");
  return s;
}

}  // namespace analysis
NERNST_NAMESPACE_END
