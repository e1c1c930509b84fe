#pragma once
/// \file
/// \brief Phase stability: formation energies relative to end members, the lower convex hull in
/// composition space (binary: 2 end members, ternary: 3), energy above hull of every entry, and
/// the energy-difference table of two competing polymorphs across a composition series.
///
/// Compositions are element amounts (atomic number → atoms). End members may be elements or
/// compounds (e.g. Li3YCl6 and Li3YBr6 for a pseudo-binary): every entry's per-atom composition
/// is written as Σ_k x_k c_k of the end members' per-atom compositions c_k (least squares; the
/// residual must vanish and x_k ≥ 0, Σ x_k = 1, x_k = fraction of atoms from end member k).
/// Formation energy per atom: E_f = E/N − Σ_k x_k E_k/N_k, with E_k/N_k the lowest energy per
/// atom among the entries of end member k's composition.
///
/// Hull: the lower convex envelope h(x) of the points (x, E_f) (x has 1 free coordinate for a
/// binary, 2 for a ternary). By Carathéodory h(x) = min over simplices (≤ d+1 entries) whose
/// composition hull contains x of the linearly interpolated E_f, which this computes exactly by
/// enumeration: O(n^{d+1}) per query, fine for the hundreds of entries of a pipeline
/// (n = 200 ternary: ~1 s). E_hull = E_f − h(x) ≥ 0; entries with E_hull ≤ tol are on the hull.

#include <nernst/core/error.hpp>
#include <nernst/core/elements.hpp>

#include <Eigen/Dense>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace analysis {

struct HullEntry {
  std::string name;
  std::map<int, double> composition;  ///< atomic number → number of atoms
  double energy = 0;                  ///< total energy, eV

  double atoms() const {
    double n = 0;
    for (const auto& [z, c] : composition) n += c;
    return n;
  }
  double energy_per_atom() const { return energy / atoms(); }
};

struct HullPoint {
  std::string name;
  std::vector<double> x;       ///< atom fractions of the end members (size 2 or 3, sums to 1)
  double formation = 0;        ///< E_f, eV/atom
  double hull_energy = 0;      ///< h(x), eV/atom
  double e_above_hull = 0;     ///< E_f − h(x) ≥ 0, eV/atom
  bool on_hull = false;
};

class ConvexHull {
 public:
  /// `end_members`: 2 (binary) or 3 (ternary) compositions; `entries`: must include at least one
  /// entry of every end-member composition.
  ConvexHull(std::vector<std::map<int, double>> end_members, std::vector<HullEntry> entries, double tol = 1e-8)
      : ends_(std::move(end_members)), tol_(tol) {
    const std::size_t d = ends_.size();
    if (d != 2 && d != 3) throw ValueError("convex hull: give 2 (binary) or 3 (ternary) end members");
    for (const auto& e : ends_)
      for (const auto& [z, c] : e) element_index(z);
    const int ne = static_cast<int>(elements_.size());
    M_ = Eigen::MatrixXd::Zero(ne, static_cast<Eigen::Index>(d));
    for (std::size_t k = 0; k < d; ++k) M_.col(static_cast<Eigen::Index>(k)) = fractions(ends_[k]);
    if (Eigen::FullPivLU<Eigen::MatrixXd>(M_).rank() < static_cast<Eigen::Index>(d))
      throw ValueError("convex hull: the end members' compositions are linearly dependent");
    // Reference energies per atom of the end members.
    std::vector<double> eref(d, std::numeric_limits<double>::infinity());
    std::vector<std::vector<double>> xs;
    for (const auto& en : entries) {
      if (!(en.atoms() > 0)) throw ValueError("convex hull: entry '" + en.name + "' has no atoms");
      if (!std::isfinite(en.energy)) throw ValueError("convex hull: entry '" + en.name + "' has a non-finite energy");
      xs.push_back(coordinates(en));
      for (std::size_t k = 0; k < d; ++k)
        if (std::abs(xs.back()[k] - 1.0) < 1e-9) eref[k] = std::min(eref[k], en.energy_per_atom());
    }
    for (std::size_t k = 0; k < d; ++k)
      if (!std::isfinite(eref[k]))
        throw ValueError("convex hull: no entry has the composition of end member " + std::to_string(k));
    eref_ = eref;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      HullPoint p;
      p.name = entries[i].name;
      p.x = xs[i];
      p.formation = entries[i].energy_per_atom();
      for (std::size_t k = 0; k < d; ++k) p.formation -= p.x[k] * eref[k];
      points_.push_back(p);
    }
    for (auto& p : points_) {
      p.hull_energy = hull_energy(p.x);
      p.e_above_hull = std::max(0.0, p.formation - p.hull_energy);
      p.on_hull = p.formation - p.hull_energy <= tol_;
    }
  }

  const std::vector<HullPoint>& points() const { return points_; }
  std::size_t dimension() const { return ends_.size(); }
  /// Lowest energy per atom of each end member (eV/atom).
  const std::vector<double>& reference_energies() const { return eref_; }

  /// End-member fractions of a composition (throws when it is not in the end members' span).
  std::vector<double> coordinates(const HullEntry& e) const {
    for (const auto& [z, c] : e.composition)
      if (c != 0 && std::find(elements_.begin(), elements_.end(), z) == elements_.end())
        throw ValueError("convex hull: entry '" + e.name + "' contains " + element_symbol(z) + ", which no end member has");
    const Eigen::VectorXd f = fractions(e.composition);
    const Eigen::VectorXd x = M_.colPivHouseholderQr().solve(f);
    if ((M_ * x - f).norm() > 1e-6 || x.minCoeff() < -1e-9)
      throw ValueError("convex hull: the composition of entry '" + e.name + "' is not a mixture of the end members");
    std::vector<double> out(static_cast<std::size_t>(x.size()));
    for (Eigen::Index k = 0; k < x.size(); ++k) out[static_cast<std::size_t>(k)] = std::max(0.0, x[k]);
    return out;
  }

  /// h(x): the lower hull at end-member fractions x (eV/atom).
  double hull_energy(const std::vector<double>& x) const {
    const std::size_t n = points_.size(), d = ends_.size();
    double best = std::numeric_limits<double>::infinity();
    auto consider = [&](const std::vector<std::size_t>& idx) {
      // Barycentric weights w ≥ 0 with Σ w_j x_j = x, Σ w_j = 1 (least squares over d equations).
      const std::size_t m = idx.size();
      Eigen::MatrixXd A(static_cast<Eigen::Index>(d), static_cast<Eigen::Index>(m));
      Eigen::VectorXd b(static_cast<Eigen::Index>(d));
      for (std::size_t r = 0; r < d; ++r) {
        b[static_cast<Eigen::Index>(r)] = x[r];
        for (std::size_t c = 0; c < m; ++c) A(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c)) = points_[idx[c]].x[r];
      }
      // Σ x_r = 1 for every point, so Σ w = 1 follows from A w = b when the points are affinely independent.
      Eigen::FullPivLU<Eigen::MatrixXd> lu(A);
      if (lu.rank() < static_cast<Eigen::Index>(m)) return;
      const Eigen::VectorXd w = lu.solve(b);
      if ((A * w - b).norm() > 1e-9 || w.minCoeff() < -1e-12) return;
      double e = 0;
      for (std::size_t c = 0; c < m; ++c) e += w[static_cast<Eigen::Index>(c)] * points_[idx[c]].formation;
      best = std::min(best, e);
    };
    for (std::size_t i = 0; i < n; ++i) {
      consider({i});
      for (std::size_t j = i + 1; j < n; ++j) {
        consider({i, j});
        if (d == 3)
          for (std::size_t k = j + 1; k < n; ++k) consider({i, j, k});
      }
    }
    if (!std::isfinite(best)) throw ValueError("convex hull: composition outside the hull of the entries");
    return best;
  }

  /// Energy above hull (eV/atom) of a new entry, without adding it.
  double e_above_hull(const HullEntry& e) const {
    const auto x = coordinates(e);
    double ef = e.energy_per_atom();
    for (std::size_t k = 0; k < ends_.size(); ++k) ef -= x[k] * eref_[k];
    return ef - hull_energy(x);
  }

 private:
  int element_index(int z) {
    for (std::size_t i = 0; i < elements_.size(); ++i)
      if (elements_[i] == z) return static_cast<int>(i);
    elements_.push_back(z);
    return static_cast<int>(elements_.size() - 1);
  }
  Eigen::VectorXd fractions(const std::map<int, double>& c) const {
    Eigen::VectorXd f = Eigen::VectorXd::Zero(static_cast<Eigen::Index>(elements_.size()));
    double n = 0;
    for (const auto& [z, a] : c) {
      n += a;
      for (std::size_t i = 0; i < elements_.size(); ++i)
        if (elements_[i] == z) f[static_cast<Eigen::Index>(i)] += a;
    }
    if (!(n > 0)) throw ValueError("convex hull: empty composition");
    return f / n;
  }

  std::vector<std::map<int, double>> ends_;
  std::vector<int> elements_;
  Eigen::MatrixXd M_;
  std::vector<double> eref_;
  std::vector<HullPoint> points_;
  double tol_;
};

/// The facets of a ternary lower hull, as triples of indices into `h.points()`: every
/// triangle of hull vertices whose plane (E_f over the two free end-member fractions) no entry
/// lies below by more than `tol`, with a non-degenerate projection and no other hull vertex on
/// or inside it (so a facet spanning collinear vertices is split at them). Duplicates of one
/// composition count once (the lowest index). Four or more coplanar vertices give every such
/// triangle of them (the facet is drawn with its diagonals). O(v³ n) for v hull vertices.
inline std::vector<std::array<std::size_t, 3>> ternary_hull_facets(const ConvexHull& h, double tol = 1e-8) {
  if (h.dimension() != 3) throw ValueError("ternary_hull_facets: the hull has " + std::to_string(h.dimension()) + " end members, not 3");
  const auto& pts = h.points();
  auto xy = [&](std::size_t i) { return Eigen::Vector2d(pts[i].x[1], pts[i].x[2]); };
  std::vector<std::size_t> v;  // distinct hull vertices
  for (std::size_t i = 0; i < pts.size(); ++i) {
    if (!pts[i].on_hull) continue;
    bool dup = false;
    for (std::size_t j : v) dup |= (xy(i) - xy(j)).norm() < 1e-9;
    if (!dup) v.push_back(i);
  }
  auto cross = [](const Eigen::Vector2d& a, const Eigen::Vector2d& b) { return a[0] * b[1] - a[1] * b[0]; };
  std::vector<std::array<std::size_t, 3>> out;
  for (std::size_t a = 0; a < v.size(); ++a)
    for (std::size_t b = a + 1; b < v.size(); ++b)
      for (std::size_t c = b + 1; c < v.size(); ++c) {
        const Eigen::Vector2d p0 = xy(v[a]), p1 = xy(v[b]), p2 = xy(v[c]);
        const double area2 = cross(p1 - p0, p2 - p0);
        if (std::abs(area2) < 1e-10) continue;
        // Barycentric coordinates of q in the triangle, the plane's value there.
        auto bary = [&](const Eigen::Vector2d& q) {
          const double l1 = cross(q - p0, p2 - p0) / cross(p1 - p0, p2 - p0), l2 = cross(p1 - p0, q - p0) / area2;
          return Eigen::Vector3d(1 - l1 - l2, l1, l2);
        };
        const Eigen::Vector3d f(pts[v[a]].formation, pts[v[b]].formation, pts[v[c]].formation);
        bool ok = true;
        for (std::size_t i = 0; i < pts.size() && ok; ++i) ok = pts[i].formation >= bary(xy(i)).dot(f) - tol;
        for (std::size_t k = 0; k < v.size() && ok; ++k) {
          if (k == a || k == b || k == c) continue;
          ok = bary(xy(v[k])).minCoeff() < -1e-9;
        }
        if (ok) out.push_back({v[a], v[b], v[c]});
      }
  return out;
}

/// One row of the polymorph energy-difference table.
struct PolymorphRow {
  double x = 0;            ///< composition coordinate (e.g. Br fraction)
  double e_a = 0, e_b = 0;  ///< lowest energy per atom of polymorph A and B at x (eV/atom; NaN if none)
  double delta_meV = 0;    ///< (E_B − E_A) in meV/atom: > 0 means A is more stable
  std::string best_a, best_b;
};

/// For each composition coordinate present in either series, the lowest-energy entry of
/// polymorph A and of B and their difference. `x_of` maps an entry to its coordinate;
/// coordinates closer than `x_tol` are the same composition.
template <class XOf>
std::vector<PolymorphRow> polymorph_energy_table(const std::vector<HullEntry>& a, const std::vector<HullEntry>& b,
                                                 XOf x_of, double x_tol = 1e-6) {
  std::vector<PolymorphRow> rows;
  auto row_for = [&](double x) -> PolymorphRow& {
    for (auto& r : rows)
      if (std::abs(r.x - x) <= x_tol) return r;
    PolymorphRow r;
    r.x = x;
    r.e_a = r.e_b = std::numeric_limits<double>::quiet_NaN();
    rows.push_back(r);
    return rows.back();
  };
  for (const auto& e : a) {
    auto& r = row_for(x_of(e));
    if (!(r.e_a <= e.energy_per_atom())) r.e_a = e.energy_per_atom(), r.best_a = e.name;
  }
  for (const auto& e : b) {
    auto& r = row_for(x_of(e));
    if (!(r.e_b <= e.energy_per_atom())) r.e_b = e.energy_per_atom(), r.best_b = e.name;
  }
  for (auto& r : rows) r.delta_meV = 1000.0 * (r.e_b - r.e_a);
  std::sort(rows.begin(), rows.end(), [](const PolymorphRow& p, const PolymorphRow& q) { return p.x < q.x; });
  return rows;
}

/// Atom fraction of element z_num among the elements in `over` (e.g. Br/(Cl+Br)).
inline double element_fraction(const HullEntry& e, int z_num, const std::vector<int>& over) {
  double num = 0, den = 0;
  for (const auto& [z, c] : e.composition) {
    if (z == z_num) num += c;
    if (std::find(over.begin(), over.end(), z) != over.end()) den += c;
  }
  if (!(den > 0)) throw ValueError("element_fraction: entry '" + e.name + "' has none of the reference elements");
  return num / den;
}

}  // namespace analysis
NERNST_NAMESPACE_END
