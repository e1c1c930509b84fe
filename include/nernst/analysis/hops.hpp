#pragma once
/// \file
/// \brief Estimator<HopCounting>: site-to-site hops of mobile ions counted without a site list.
///
/// Why a second jump counter: a diffusivity is only believable when it rests on real hops of the
/// ions between sites, and every temperature of a report states how many. Estimator<JumpAnalysis>
/// (jumps.hpp) needs the sites themselves (from a reference structure or density maxima), which
/// neither `nernst msd` nor the pipeline has for an arbitrary trajectory; this counter needs only a
/// length.
///
/// Definition (docs/transport.md, "Hops"):
///  1. coarse-graining: each ion's *unwrapped* position is averaged over consecutive,
///     non-overlapping blocks of `coarse_frames` frames, so thermal vibration averages out and
///     rattling back and forth within a block is no hop; an incomplete last block is ignored;
///  2. the resting position of an ion is the mean of its first block;
///  3. a hop is counted when a block's mean lies farther than `threshold_A` from the resting
///     position; the mean of the *next* block (the ion settled on its new site) becomes the new
///     resting position and is not tested itself. A block straddling the hop (mean part-way between
///     the sites) therefore cannot count it twice; two hops less than two blocks apart count as one.
///
/// The default threshold, 1.5 Å, is about half the shortest Li–Li distance in halide and sulfide
/// electrolytes (≈ 3–3.7 Å): a displacement beyond it leaves the old site's basin. Vibrations of
/// RMS amplitude u (per axis) give block means scattered by ≈ u/√coarse_frames, far below it.

#include <nernst/analysis/unwrap.hpp>
#include <nernst/core/error.hpp>
#include <nernst/core/macros.hpp>

#include <Eigen/Core>

#include <cstddef>
#include <utility>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace analysis {

template <class Policy>
class Estimator;

/// Policy: site-free hop counting (definition in the file comment).
struct HopCounting {};

struct HopOptions {
  double threshold_A = 1.5;        ///< displacement of the block mean from the resting position that counts as a hop
  std::size_t coarse_frames = 5;   ///< frames averaged per block (≈ 0.5 ps at the usual 0.1 ps frame spacing)
  double dt_ps = 1.0;              ///< time between frames
};

struct HopEvent {
  std::size_t ion = 0;     ///< index into the ions passed to the constructor
  std::size_t frame = 0;   ///< first frame of the block in which the hop was detected
  Eigen::Vector3d vector = Eigen::Vector3d::Zero();  ///< Å, old resting position → new resting position
};

struct HopResult {
  std::size_t n_hops = 0;
  std::vector<std::size_t> hops_per_ion;
  std::vector<HopEvent> events;
  std::size_t n_ions = 0;
  double total_time_ps = 0;        ///< (frames − 1)·dt
  double rate_per_ion_ps = 0;      ///< hops / (ions · t)
  double threshold_A = 0;
  std::size_t coarse_frames = 0;
};

template <>
class Estimator<HopCounting> {
 public:
  /// `ions`: atom indices of the mobile ions in the frames that will be pushed.
  Estimator(std::vector<std::size_t> ions, HopOptions o = {}) : ions_(std::move(ions)), opt_(o) {
    if (ions_.empty()) throw ValueError("HopCounting: no mobile ions selected");
    if (!(opt_.threshold_A > 0)) throw ValueError("HopCounting: the hop threshold must be positive (Å)");
    if (opt_.coarse_frames < 1) throw ValueError("HopCounting: coarse_frames must be at least 1");
    if (!(opt_.dt_ps > 0)) throw ValueError("HopCounting: dt_ps must be positive");
    const std::size_t n = ions_.size();
    unwrap_ = Unwrapper(n);
    sel_.resize(3 * n);
    unwrapped_.resize(3 * n);
    sum_.assign(n, Eigen::Vector3d::Zero());
    rest_.assign(n, Eigen::Vector3d::Zero());
    settling_.assign(n, -1);
    hops_.assign(n, 0);
  }

  /// Takes one frame: all atoms' Cartesian positions (n × 3, Å; wrapped or unwrapped) and its cell.
  void push(const double* xyz, const Eigen::Matrix3d& cell) {
    for (std::size_t k = 0; k < ions_.size(); ++k)
      for (int a = 0; a < 3; ++a) sel_[3 * k + static_cast<std::size_t>(a)] = xyz[3 * ions_[k] + static_cast<std::size_t>(a)];
    unwrap_.push(sel_.data(), cell, unwrapped_.data());
    for (std::size_t k = 0; k < ions_.size(); ++k) sum_[k] += Eigen::Vector3d(unwrapped_[3 * k], unwrapped_[3 * k + 1], unwrapped_[3 * k + 2]);
    ++frames_;
    if (++in_block_ == opt_.coarse_frames) close_block();
  }

  std::size_t n_frames() const { return frames_; }

  HopResult result() const {
    HopResult r;
    r.events = events_;
    r.n_hops = events_.size();
    r.hops_per_ion = hops_;
    r.n_ions = ions_.size();
    r.total_time_ps = static_cast<double>(frames_ > 0 ? frames_ - 1 : 0) * opt_.dt_ps;
    if (r.total_time_ps > 0) r.rate_per_ion_ps = static_cast<double>(r.n_hops) / (static_cast<double>(r.n_ions) * r.total_time_ps);
    r.threshold_A = opt_.threshold_A;
    r.coarse_frames = opt_.coarse_frames;
    return r;
  }

 private:
  /// Steps 2 and 3 of the definition for the block just completed.
  void close_block() {
    const double t2 = opt_.threshold_A * opt_.threshold_A;
    const std::size_t first_frame = frames_ - opt_.coarse_frames;
    for (std::size_t k = 0; k < ions_.size(); ++k) {
      const Eigen::Vector3d c = sum_[k] / static_cast<double>(opt_.coarse_frames);
      sum_[k].setZero();
      if (blocks_ == 0) {
        rest_[k] = c;
      } else if (settling_[k] >= 0) {  // block after a hop: the new site
        auto& e = events_[static_cast<std::size_t>(settling_[k])];
        e.vector = c - (rest_[k]);
        rest_[k] = c;
        settling_[k] = -1;
      } else if ((c - rest_[k]).squaredNorm() > t2) {
        events_.push_back({k, first_frame, c - rest_[k]});
        ++hops_[k];
        settling_[k] = static_cast<long>(events_.size() - 1);
      }
    }
    ++blocks_;
    in_block_ = 0;
  }

  std::vector<std::size_t> ions_;
  HopOptions opt_;
  Unwrapper unwrap_;
  std::vector<double> sel_, unwrapped_;
  std::vector<Eigen::Vector3d> sum_, rest_;
  std::vector<long> settling_;   ///< index of the event waiting for its new resting position, or −1
  std::vector<std::size_t> hops_;
  std::vector<HopEvent> events_;
  std::size_t frames_ = 0, in_block_ = 0, blocks_ = 0;
};

}  // namespace analysis
NERNST_NAMESPACE_END
