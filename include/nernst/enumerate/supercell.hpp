#pragma once
/// \file
/// \brief The symmetry group of a supercell as permutations of its sites: the parent's space
/// group (spglib, non-symmorphic operations and centring translations included) restricted to
/// the operations that keep the superlattice, composed with the parent-lattice translations
/// modulo the superlattice (the Smith-normal-form group Z_s0 × Z_s1 × Z_s2).

#include <nernst/core/lattice.hpp>
#include <nernst/enumerate/hnf.hpp>
#include <nernst/symmetry/symmetry_dataset.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace enumerate {

/// A space-group operation in the parent's fractional basis: x' = R x + t (the symmetry
/// module's type).
using SymOp = symmetry::SymmetryOperation;

/// A parent cell: lattice (rows, Å), sites (fractional) and a type per site. Sites of equal type
/// may be exchanged by symmetry; give different types to sites with different allowed species.
struct ParentCell {
  Lattice lattice;
  std::vector<Eigen::Vector3d> frac;
  std::vector<int> type;
};

/// Space-group operations of the parent (spglib through the symmetry module), identity first.
inline std::vector<SymOp> space_group_operations(const ParentCell& p, double symprec = 1e-3) {
  if (p.frac.empty()) throw ValueError("space_group_operations: the cell has no sites");
  if (p.type.size() != p.frac.size()) throw ValueError("space_group_operations: one type per site is needed");
  return symmetry::get_symmetry_operations(p.lattice, p.frac, p.type, symprec);
}

/// Distinct point parts of a list of operations.
inline std::vector<IMat3> point_group(const std::vector<SymOp>& ops) {
  std::vector<IMat3> out;
  for (const auto& o : ops) {
    const IMat3 R = o.rotation.cast<long>();
    if (std::find(out.begin(), out.end(), R) == out.end()) out.push_back(R);
  }
  return out;
}

/// A supercell (HNF) of a parent cell and its symmetry group as site permutations.
/// Supercell site s = d · n + g: parent site d translated by the g-th lattice point of the
/// translation group (g = flat index of L · t mod diag(S)).
struct SupercellGroup {
  IMat3 hnf;
  SmithForm snf;
  long n = 0;                                   ///< index (number of parent cells)
  int n_parent_sites = 0;
  std::vector<IVec3> cell_offset;               ///< g -> representative parent lattice point t
  std::vector<std::vector<int>> perms;          ///< deduplicated; perms[0] is the identity
  std::vector<char> is_translation;             ///< pure translation (R = I), not the identity
  std::size_t n_operations_raw = 0;             ///< |stabilizer ops| · n before deduplication

  int size() const { return static_cast<int>(n) * n_parent_sites; }
  /// Supercell lattice (rows): H^T · A.
  Lattice lattice(const Lattice& parent) const { return Lattice(hnf.cast<double>().transpose() * parent.matrix()); }
  /// Fractional coordinates (supercell basis) of supercell site s.
  Eigen::Vector3d frac(const ParentCell& p, int s) const {
    const int d = s / static_cast<int>(n), g = s % static_cast<int>(n);
    const Eigen::Vector3d x = p.frac[static_cast<std::size_t>(d)] + cell_offset[static_cast<std::size_t>(g)].cast<double>();
    return Lattice::wrap_frac(hnf.cast<double>().inverse() * x);
  }
  int flat(const IVec3& t) const {
    const IVec3 D = snf.diagonal();
    const IVec3 g = snf.L * t;
    return static_cast<int>((detail::mod_pos(g[0], D[0]) * D[1] + detail::mod_pos(g[1], D[1])) * D[2] +
                            detail::mod_pos(g[2], D[2]));
  }
};

inline SupercellGroup make_supercell_group(const ParentCell& p, const std::vector<SymOp>& ops, const IMat3& hnf,
                                           double tol = 1e-3) {
  SupercellGroup sg;
  sg.hnf = hnf;
  sg.snf = smith_normal_form(hnf);
  sg.n = std::labs(hnf(0, 0) * hnf(1, 1) * hnf(2, 2));
  if (hnf(0, 1) || hnf(0, 2) || hnf(1, 2) || sg.n == 0) throw ValueError("make_supercell_group: expects a lower-triangular HNF");
  sg.n_parent_sites = static_cast<int>(p.frac.size());
  const long n = sg.n;
  const int nd = sg.n_parent_sites;
  sg.cell_offset.assign(static_cast<std::size_t>(n), IVec3::Zero());
  std::vector<char> hit(static_cast<std::size_t>(n), 0);
  for (long i = 0; i < hnf(0, 0); ++i)
    for (long j = 0; j < hnf(1, 1); ++j)
      for (long k = 0; k < hnf(2, 2); ++k) {
        const IVec3 t(i, j, k);
        const int g = sg.flat(t);
        if (hit[static_cast<std::size_t>(g)]) throw Error("make_supercell_group: residue system is not complete (bug)");
        hit[static_cast<std::size_t>(g)] = 1;
        sg.cell_offset[static_cast<std::size_t>(g)] = t;
      }
  const int N = sg.size();
  // Translation permutations.
  std::vector<std::vector<int>> trans(static_cast<std::size_t>(n), std::vector<int>(static_cast<std::size_t>(N)));
  for (long gt = 0; gt < n; ++gt)
    for (int d = 0; d < nd; ++d)
      for (long g = 0; g < n; ++g)
        trans[static_cast<std::size_t>(gt)][static_cast<std::size_t>(d * n + g)] =
            static_cast<int>(d * n + sg.flat(sg.cell_offset[static_cast<std::size_t>(g)] + sg.cell_offset[static_cast<std::size_t>(gt)]));
  struct Entry {
    std::vector<int> perm;
    bool translation;
  };
  std::vector<Entry> all;
  for (const auto& op : ops) {
    const IMat3 R = op.rotation.cast<long>();
    if (!stabilizes(R, hnf)) continue;
    // Image of every parent site: R p_d + t = p_d' + v.
    std::vector<int> dmap(static_cast<std::size_t>(nd), -1);
    std::vector<IVec3> vshift(static_cast<std::size_t>(nd));
    for (int d = 0; d < nd; ++d) {
      const Eigen::Vector3d x = op.rotation.cast<double>() * p.frac[static_cast<std::size_t>(d)] + op.translation;
      for (int e = 0; e < nd; ++e) {
        const Eigen::Vector3d diff = x - p.frac[static_cast<std::size_t>(e)];
        const Eigen::Vector3d r = diff.array().round().matrix();
        if (p.type[static_cast<std::size_t>(e)] == p.type[static_cast<std::size_t>(d)] && (diff - r).cwiseAbs().maxCoeff() < tol) {
          dmap[static_cast<std::size_t>(d)] = e;
          vshift[static_cast<std::size_t>(d)] = r.cast<long>();
          break;
        }
      }
      if (dmap[static_cast<std::size_t>(d)] < 0)
        throw ValueError("make_supercell_group: a symmetry operation maps a site onto no site (tolerance " + std::to_string(tol) + ")");
    }
    std::vector<int> perm(static_cast<std::size_t>(N));
    for (int d = 0; d < nd; ++d)
      for (long g = 0; g < n; ++g) {
        const IVec3 t = vshift[static_cast<std::size_t>(d)] + R * sg.cell_offset[static_cast<std::size_t>(g)];
        perm[static_cast<std::size_t>(d * n + g)] = static_cast<int>(dmap[static_cast<std::size_t>(d)] * n + sg.flat(t));
      }
    const bool is_t = R == IMat3::Identity();
    for (long gt = 0; gt < n; ++gt) {
      Entry e{std::vector<int>(static_cast<std::size_t>(N)), is_t};
      for (int s = 0; s < N; ++s) e.perm[static_cast<std::size_t>(s)] = trans[static_cast<std::size_t>(gt)][static_cast<std::size_t>(perm[static_cast<std::size_t>(s)])];
      all.push_back(std::move(e));
    }
  }
  sg.n_operations_raw = all.size();
  std::vector<int> id(static_cast<std::size_t>(N));
  for (int s = 0; s < N; ++s) id[static_cast<std::size_t>(s)] = s;
  std::sort(all.begin(), all.end(), [](const Entry& a, const Entry& b) { return a.perm < b.perm; });
  sg.perms.push_back(id);
  sg.is_translation.push_back(0);
  for (std::size_t k = 0; k < all.size(); ++k) {
    if (all[k].perm == id) continue;
    if (sg.perms.size() > 1 && all[k].perm == sg.perms.back()) {
      if (all[k].translation) sg.is_translation.back() = 1;
      continue;
    }
    sg.perms.push_back(all[k].perm);
    sg.is_translation.push_back(all[k].translation ? 1 : 0);
  }
  return sg;
}

}  // namespace enumerate
NERNST_NAMESPACE_END
