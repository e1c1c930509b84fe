#pragma once
/// \file
/// \brief Estimator<JumpAnalysis>: site-to-site jump statistics in the spirit of GEMDAT.
///
/// Sites are given in fractional coordinates (from a reference structure, or from density-map
/// maxima) with a label each. In every frame each mobile ion is assigned to the site within
/// `radius_A` (minimum-image distance) or to none (in transit). A jump A→B is recorded when an ion
/// whose last site was A is found on a different site B for at least `min_residence` consecutive
/// frames (suppresses rattling between neighbouring sites); returning to A is not a jump.
///
/// Outputs: jump counts per site-label pair and per category (within-layer / cross-layer along
/// a layer normal, if given), rates per ion Γ = N/(N_ions·t), the jump diffusivity
/// D_J = Σ_jumps d² / (2·d·N_ions·t) (d = jump length, minimum image between the site centres),
/// and the correlation factor f = D_tracer/D_J for a supplied tracer D.
///
/// This estimator is a light, single-pass counter with its own (simpler) definitions. For numbers
/// that must agree with GEMDAT 1.7.2 — the vibration-amplitude radius, inner spheres, per-part
/// rates and activation energies per jump type — use Estimator<SiteAnalysis> (site_analysis.hpp),
/// which reproduces GEMDAT exactly.

#include <nernst/core/error.hpp>
#include <nernst/core/macros.hpp>

#include <Eigen/Core>
#include <Eigen/LU>

#include <cmath>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace analysis {

template <class Policy>
class Estimator;

/// Policy: site-to-site jump analysis.
struct JumpAnalysis {};

struct JumpSite {
  Eigen::Vector3d frac = Eigen::Vector3d::Zero();
  std::string label;
};

struct JumpOptions {
  double radius_A = 1.0;          ///< an ion within this distance of a site occupies it
  std::size_t min_residence = 1;  ///< frames an ion must stay on a new site for the jump to count
  double dt_ps = 1.0;             ///< time between frames
  int dim = 3;                    ///< dimensionality for D_J
  std::optional<Eigen::Vector3d> layer_normal;  ///< Cartesian; jumps with |Δ·n̂| < layer_tolerance_A are "within-layer"
  double layer_tolerance_A = 0.5;
};

struct JumpEvent {
  std::size_t ion = 0;     ///< index into the ions passed to the constructor
  std::size_t from = 0, to = 0;
  std::size_t frame = 0;   ///< frame of arrival at `to`
  Eigen::Vector3d vector = Eigen::Vector3d::Zero();  ///< Å, minimum image from site to site
};

struct JumpResult {
  std::vector<JumpEvent> events;
  std::map<std::pair<std::string, std::string>, std::size_t> counts_by_labels;
  std::map<std::string, std::size_t> counts_by_category;  ///< "within-layer", "cross-layer" (with a normal)
  double total_time_ps = 0;
  std::size_t n_ions = 0;
  double rate_per_ion_ps = 0;      ///< Γ = jumps / (ions · t) (1/ps)
  double D_J_cm2_s = 0;            ///< jump diffusivity
  std::vector<double> occupancy;   ///< fraction of (ion, frame) samples on each site
  double transit_fraction = 0;     ///< fraction of samples on no site

  double correlation_factor(double D_tracer_cm2_s) const {
    if (!(D_J_cm2_s > 0)) throw ValueError("correlation factor: no jumps recorded (D_J = 0)");
    return D_tracer_cm2_s / D_J_cm2_s;
  }
};

template <>
class Estimator<JumpAnalysis> {
 public:
  Estimator(std::vector<std::size_t> ions, std::vector<JumpSite> sites, const Eigen::Matrix3d& cell, JumpOptions o = {})
      : ions_(std::move(ions)), sites_(std::move(sites)), cell_(cell), opt_(std::move(o)) {
    if (ions_.empty()) throw ValueError("JumpAnalysis: no mobile ions selected");
    if (sites_.empty()) throw ValueError("JumpAnalysis: no sites given");
    if (!(opt_.radius_A > 0)) throw ValueError("JumpAnalysis: radius must be positive");
    if (opt_.min_residence < 1) opt_.min_residence = 1;
    last_.assign(ions_.size(), -1);
    cand_.assign(ions_.size(), -1);
    cand_frames_.assign(ions_.size(), 0);
    cand_start_.assign(ions_.size(), 0);
    occ_.assign(sites_.size(), 0.0);
  }

  /// Assigns every ion of a frame (all atoms' Cartesian positions, n × 3, Å) to a site.
  void push(const double* xyz, const Eigen::Matrix3d& cell) {
    const Eigen::Matrix3d inv = cell.inverse();
    const double r2 = opt_.radius_A * opt_.radius_A;
    for (std::size_t k = 0; k < ions_.size(); ++k) {
      const std::size_t i = ions_[k];
      const Eigen::Vector3d f = inv.transpose() * Eigen::Vector3d(xyz[3 * i], xyz[3 * i + 1], xyz[3 * i + 2]);
      long site = -1;
      double best = r2;
      for (std::size_t s = 0; s < sites_.size(); ++s) {
        Eigen::Vector3d df = f - sites_[s].frac;
        for (int a = 0; a < 3; ++a) df[a] -= std::round(df[a]);
        const double d2 = (cell.transpose() * df).squaredNorm();
        if (d2 <= best) {
          best = d2;
          site = static_cast<long>(s);
        }
      }
      if (site < 0) {
        ++transit_;
        cand_[k] = -1;
        cand_frames_[k] = 0;
        continue;
      }
      occ_[static_cast<std::size_t>(site)] += 1.0;
      if (last_[k] < 0) {  // first site ever visited
        last_[k] = site;
        continue;
      }
      if (site == last_[k]) {
        cand_[k] = -1;
        cand_frames_[k] = 0;
        continue;
      }
      if (site != cand_[k]) {
        cand_[k] = site;
        cand_frames_[k] = 0;
        cand_start_[k] = frames_;
      }
      if (++cand_frames_[k] >= opt_.min_residence) {
        record(k, static_cast<std::size_t>(last_[k]), static_cast<std::size_t>(site), cand_start_[k]);
        last_[k] = site;
        cand_[k] = -1;
        cand_frames_[k] = 0;
      }
    }
    ++frames_;
  }

  JumpResult result() const {
    JumpResult r;
    r.events = events_;
    r.n_ions = ions_.size();
    r.total_time_ps = static_cast<double>(frames_ > 0 ? frames_ - 1 : 0) * opt_.dt_ps;
    double sum_d2 = 0;
    for (const auto& e : events_) {
      ++r.counts_by_labels[{sites_[e.from].label, sites_[e.to].label}];
      sum_d2 += e.vector.squaredNorm();
      if (opt_.layer_normal) {
        const double h = std::abs(e.vector.dot(opt_.layer_normal->normalized()));
        ++r.counts_by_category[h < opt_.layer_tolerance_A ? "within-layer" : "cross-layer"];
      }
    }
    if (r.total_time_ps > 0) {
      const double nt = static_cast<double>(r.n_ions) * r.total_time_ps;
      r.rate_per_ion_ps = static_cast<double>(events_.size()) / nt;
      r.D_J_cm2_s = sum_d2 / (2.0 * opt_.dim * nt) * 1e-4;  // Å²/ps → cm²/s
    }
    const double samples = static_cast<double>(frames_) * static_cast<double>(ions_.size());
    r.occupancy.resize(sites_.size());
    for (std::size_t s = 0; s < sites_.size(); ++s) r.occupancy[s] = samples > 0 ? occ_[s] / samples : 0.0;
    r.transit_fraction = samples > 0 ? static_cast<double>(transit_) / samples : 0.0;
    return r;
  }

 private:
  void record(std::size_t k, std::size_t from, std::size_t to, std::size_t frame) {
    Eigen::Vector3d df = sites_[to].frac - sites_[from].frac;
    for (int a = 0; a < 3; ++a) df[a] -= std::round(df[a]);
    events_.push_back({k, from, to, frame, cell_.transpose() * df});
  }

  std::vector<std::size_t> ions_;
  std::vector<JumpSite> sites_;
  Eigen::Matrix3d cell_;
  JumpOptions opt_;
  std::vector<long> last_, cand_;
  std::vector<std::size_t> cand_frames_, cand_start_;
  std::vector<double> occ_;
  std::vector<JumpEvent> events_;
  std::size_t frames_ = 0, transit_ = 0;
};

}  // namespace analysis
NERNST_NAMESPACE_END
