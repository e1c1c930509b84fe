#pragma once
/// \file
/// \brief Enumerator<HNF>: every symmetry-distinct labeling ("derivative structure") of the
/// supercells of a parent multilattice, by index or for one fixed supercell (Hart & Forcade,
/// PRB 77, 224115 (2008); multilattices and site restrictions PRB 80, 014120 (2009);
/// concentration restrictions Comput. Mater. Sci. 59, 101 (2012)).
///
/// The parent has sites with allowed labels; a site with a single allowed label is a spectator
/// (kept as is, not enumerated). Symmetry: spglib on the parent with one type per site class.
/// Per index n: HNFs of determinant n, reduced by the parent point group; per superlattice the
/// stabilizing space-group operations × the Smith-normal-form translations act on the active
/// sites as permutations; orbits are enumerated with a bitmap over labeling ranks (one bit per
/// admissible labeling, never all configurations in memory) and handed to a visitor in a
/// deterministic order (superlattice order of hnfs(n), then rank order).

#include <nernst/core/structure.hpp>
#include <nernst/enumerate/hnf.hpp>
#include <nernst/enumerate/labeling.hpp>
#include <nernst/enumerate/supercell.hpp>

#include <chrono>
#include <cmath>
#include <functional>
#include <string>
#include <utility>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace enumerate {

/// Policy tag: derivative structures over Hermite-normal-form superlattices.
struct HNF {};

template <class Policy>
class Enumerator;

/// A parent multilattice: sites with allowed labels (label 0..n_labels-1).
struct Multilattice {
  Lattice lattice;
  std::vector<Eigen::Vector3d> frac;       ///< parent sites, fractional
  std::vector<std::vector<int>> allowed;   ///< per site, sorted labels it may carry
  std::vector<int> type;                   ///< symmetry class per site (empty: from `allowed`)
  int n_labels = 2;
  std::vector<int> label_z;                ///< atomic number per label (0 = vacancy); for output
};

/// How labelings are counted.
struct DerivativeOptions {
  bool label_exchange = true;        ///< merge labelings equal up to a label permutation
  bool complete_only = true;         ///< every label must occur
  bool remove_superperiodic = true;  ///< drop labelings with a smaller period than the supercell
  /// Per label [lo, hi] concentration over the active sites (fractions); empty = no restriction.
  std::vector<std::pair<double, double>> concentration;
  /// Exact label counts over the active sites of an index-n supercell (-1 = free); overrides
  /// `concentration` when set.
  std::function<std::vector<long>(long n)> exact_counts;
  double symprec = 1e-3;
  std::uint64_t max_labelings = std::uint64_t(1) << 35;

  /// enumlib's 'part' mode (the Hart–Forcade tables).
  static DerivativeOptions part() { return {}; }
  /// enumlib's 'full' mode: incomplete labelings kept, labels never exchanged.
  static DerivativeOptions full() {
    DerivativeOptions o;
    o.label_exchange = false;
    o.complete_only = false;
    return o;
  }
  /// All orbits of one fixed supercell (superperiodic ones included), as the Burnside count.
  static DerivativeOptions all_orbits() {
    DerivativeOptions o = full();
    o.remove_superperiodic = false;
    return o;
  }
};

/// One derivative structure handed to the visitor.
struct Derivative {
  long index = 0;                       ///< supercell index n
  int superlattice = 0;                 ///< which distinct superlattice of this index (0-based)
  const SupercellGroup* group = nullptr;
  const std::vector<int>* active = nullptr;  ///< supercell site of each labeled position
  const std::vector<long>* counts = nullptr; ///< label counts of this composition (-1 free)
  const Label* labels = nullptr;        ///< one label per active site
  OrbitInfo info;
};

/// Statistics of one supercell (and composition).
struct SupercellStats {
  long index = 0;
  IMat3 hnf = IMat3::Identity();
  std::size_t group_order = 0;
  std::vector<long> counts;
  OrbitStats orbits;
  std::uint64_t burnside = 0;  ///< orbits of all labelings (superperiodic included); 0 if not computed
};

struct IndexStats {
  long index = 0;
  std::size_t hnfs = 0, superlattices = 0;
  std::uint64_t structures = 0;
  double seconds = 0;
  std::vector<SupercellStats> supercells;
};

template <>
class Enumerator<HNF> {
 public:
  Enumerator(Multilattice parent, DerivativeOptions opt = DerivativeOptions::part())
      : parent_(std::move(parent)), opt_(std::move(opt)) {
    const std::size_t nd = parent_.frac.size();
    if (nd == 0 || parent_.allowed.size() != nd) throw ValueError("Enumerator: one allowed-label list per parent site is needed");
    for (auto& a : parent_.allowed) {
      std::sort(a.begin(), a.end());
      a.erase(std::unique(a.begin(), a.end()), a.end());
    }
    cell_.lattice = parent_.lattice;
    cell_.frac = parent_.frac;
    if (parent_.type.empty()) {
      std::vector<std::vector<int>> classes;
      for (const auto& a : parent_.allowed) {
        auto it = std::find(classes.begin(), classes.end(), a);
        cell_.type.push_back(static_cast<int>(it - classes.begin()) + 1);
        if (it == classes.end()) classes.push_back(a);
      }
    } else {
      cell_.type = parent_.type;
    }
    ops_ = space_group_operations(cell_, opt_.symprec);
    rotations_ = point_group(ops_);
    for (std::size_t d = 0; d < nd; ++d)
      if (parent_.allowed[d].size() > 1) active_parent_.push_back(static_cast<int>(d));
    if (active_parent_.empty()) throw ValueError("Enumerator: no site allows more than one label");
  }

  const Multilattice& parent() const { return parent_; }
  const ParentCell& cell() const { return cell_; }
  const std::vector<SymOp>& operations() const { return ops_; }
  const std::vector<IMat3>& point_operations() const { return rotations_; }
  const DerivativeOptions& options() const { return opt_; }

  /// Superlattices of index n distinct under the parent point group.
  std::vector<IMat3> superlattices(long n) const { return distinct_hnfs(n, rotations_); }

  /// The symmetry group of one supercell restricted to its active sites.
  struct ActiveGroup {
    SupercellGroup group;
    std::vector<int> active;                ///< supercell site of each active position
    std::vector<std::vector<int>> perms;    ///< on active positions
    std::vector<char> is_translation;
  };
  ActiveGroup active_group(const IMat3& hnf) const {
    ActiveGroup ag;
    ag.group = make_supercell_group(cell_, ops_, hnf_of(hnf));
    const long n = ag.group.n;
    std::vector<int> pos(static_cast<std::size_t>(ag.group.size()), -1);
    for (int d : active_parent_)
      for (long g = 0; g < n; ++g) {
        pos[static_cast<std::size_t>(d * n + g)] = static_cast<int>(ag.active.size());
        ag.active.push_back(static_cast<int>(d * n + g));
      }
    // Restrict and deduplicate (spectator-only differences collapse).
    std::vector<std::pair<std::vector<int>, char>> rs;
    for (std::size_t k = 0; k < ag.group.perms.size(); ++k) {
      std::vector<int> q(ag.active.size());
      for (std::size_t i = 0; i < ag.active.size(); ++i) {
        const int img = pos[static_cast<std::size_t>(ag.group.perms[k][static_cast<std::size_t>(ag.active[i])])];
        if (img < 0) throw Error("Enumerator: a symmetry operation maps an active site onto a spectator (bug)");
        q[i] = img;
      }
      rs.emplace_back(std::move(q), ag.group.is_translation[k]);
    }
    std::vector<int> id(ag.active.size());
    std::iota(id.begin(), id.end(), 0);
    std::sort(rs.begin(), rs.end());
    ag.perms.push_back(id);
    ag.is_translation.push_back(0);
    for (auto& [q, t] : rs) {
      if (q == id) continue;
      if (ag.perms.size() > 1 && q == ag.perms.back()) {
        ag.is_translation.back() = static_cast<char>(ag.is_translation.back() | t);
        continue;
      }
      ag.perms.push_back(std::move(q));
      ag.is_translation.push_back(t);
    }
    return ag;
  }

  /// The labeling problem of an index-n supercell for one composition (counts -1 = free).
  LabelingProblem problem(long n, const std::vector<long>& counts) const {
    LabelingProblem p;
    p.n_labels = parent_.n_labels;
    p.counts = counts.empty() ? std::vector<long>(static_cast<std::size_t>(parent_.n_labels), -1) : counts;
    for (int d : active_parent_)
      for (long g = 0; g < n; ++g) p.allowed.push_back(parent_.allowed[static_cast<std::size_t>(d)]);
    return p;
  }

  /// The compositions (label counts over active sites) to enumerate at index n.
  std::vector<std::vector<long>> compositions(long n) const {
    if (opt_.exact_counts) return {opt_.exact_counts(n)};
    if (opt_.concentration.empty()) return {std::vector<long>()};
    if (static_cast<int>(opt_.concentration.size()) != parent_.n_labels)
      throw ValueError("Enumerator: one concentration range per label is needed");
    const long N = n * static_cast<long>(active_parent_.size());
    std::vector<std::vector<long>> out;
    std::vector<long> c(static_cast<std::size_t>(parent_.n_labels), 0);
    std::function<void(int, long)> rec = [&](int x, long left) {
      const auto [lo, hi] = opt_.concentration[static_cast<std::size_t>(x)];
      const long a = static_cast<long>(std::ceil(lo * static_cast<double>(N) - 1e-9));
      const long b = static_cast<long>(std::floor(hi * static_cast<double>(N) + 1e-9));
      if (x == parent_.n_labels - 1) {
        if (left >= a && left <= b) {
          c[static_cast<std::size_t>(x)] = left;
          out.push_back(c);
        }
        return;
      }
      for (long k = std::max(0L, a); k <= std::min(b, left); ++k) {
        c[static_cast<std::size_t>(x)] = k;
        rec(x + 1, left - k);
      }
    };
    rec(0, N);
    return out;
  }

  /// Enumerates one supercell (any HNF; a fixed supercell such as diag(1,1,2) included).
  /// visitor(const Derivative&).
  template <class Visitor>
  std::vector<SupercellStats> run_supercell(const IMat3& hnf, Visitor&& visitor, int superlattice = 0,
                                            bool with_burnside = false) const {
    const ActiveGroup ag = active_group(hnf);
    const long n = ag.group.n;
    std::vector<SupercellStats> out;
    for (const auto& counts : compositions(n)) {
      const LabelingProblem p = problem(n, counts);
      SupercellStats st;
      st.index = n;
      st.hnf = ag.group.hnf;
      st.group_order = ag.perms.size();
      st.counts = p.counts;
      LabelingRanker ranker;
      try {
        ranker = LabelingRanker(p);
      } catch (const ValueError& e) {
        if (std::string(e.what()).find("no labeling satisfies") != std::string::npos) {
          out.push_back(st);
          continue;
        }
        throw;
      }
      OrbitOptions oo;
      oo.remove_superperiodic = opt_.remove_superperiodic;
      oo.label_exchange = opt_.label_exchange;
      oo.complete_only = opt_.complete_only;
      oo.max_labelings = opt_.max_labelings;
      if (with_burnside) st.burnside = burnside_count(p, ag.perms, opt_.label_exchange);
      Derivative dv;
      dv.index = n;
      dv.superlattice = superlattice;
      dv.group = &ag.group;
      dv.active = &ag.active;
      dv.counts = &st.counts;
      st.orbits = enumerate_orbits(ranker, ag.perms, ag.is_translation, oo, [&](const Label* l, const OrbitInfo& info) {
        dv.labels = l;
        dv.info = info;
        visitor(static_cast<const Derivative&>(dv));
      });
      out.push_back(std::move(st));
    }
    return out;
  }

  /// Enumerates every superlattice of index n.
  template <class Visitor>
  IndexStats run_index(long n, Visitor&& visitor, bool with_burnside = false) const {
    const auto t0 = std::chrono::steady_clock::now();
    IndexStats is;
    is.index = n;
    is.hnfs = static_cast<std::size_t>(hnf_count(n));
    const auto sl = superlattices(n);
    is.superlattices = sl.size();
    for (std::size_t k = 0; k < sl.size(); ++k)
      for (auto& st : run_supercell(sl[k], visitor, static_cast<int>(k), with_burnside)) {
        is.structures += st.orbits.kept;
        is.supercells.push_back(std::move(st));
      }
    is.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return is;
  }

  /// Enumerates indices nmin..nmax.
  template <class Visitor>
  std::vector<IndexStats> run(long nmin, long nmax, Visitor&& visitor) const {
    std::vector<IndexStats> out;
    for (long n = nmin; n <= nmax; ++n) out.push_back(run_index(n, visitor));
    return out;
  }

  /// Counts only (no visitor work).
  std::vector<IndexStats> count(long nmin, long nmax) const {
    return run(nmin, nmax, [](const Derivative&) {});
  }

  /// The ordered structure of a derivative (spectators kept, vacancies — label_z 0 — omitted).
  Structure to_structure(const Derivative& dv) const {
    const auto& g = *dv.group;
    Structure s(g.lattice(parent_.lattice));
    std::vector<int> lab(static_cast<std::size_t>(g.size()), -1);
    for (std::size_t i = 0; i < dv.active->size(); ++i) lab[static_cast<std::size_t>((*dv.active)[i])] = dv.labels[i];
    for (int site = 0; site < g.size(); ++site) {
      int l = lab[static_cast<std::size_t>(site)];
      if (l < 0) l = parent_.allowed[static_cast<std::size_t>(site / g.n)][0];
      const int z = parent_.label_z.empty() ? l + 1 : parent_.label_z[static_cast<std::size_t>(l)];
      if (z > 0) s.add_site(z, g.frac(cell_, site));
    }
    return s;
  }

 private:
  static IMat3 hnf_of(const IMat3& m) { return hermite_normal_form(m); }

  Multilattice parent_;
  DerivativeOptions opt_;
  ParentCell cell_;
  std::vector<SymOp> ops_;
  std::vector<IMat3> rotations_;
  std::vector<int> active_parent_;
};

}  // namespace enumerate
NERNST_NAMESPACE_END
