#pragma once
/// \file
/// \brief Two substitutions at once (a pseudo-ternary series, e.g. Li3(Y,In)(Cl,Br)6: Cl:Br on
/// the anion sublattice and Y:In on the cation one): the grid of compositions (x, y) and the
/// end-member triangle it is analysed in.
///
/// Definitions:
///  - x is the B fraction of the first substitution on its sublattice, y the B' fraction of the
///    second on its own (substitution.hpp applies to each; the two sublattices must be disjoint:
///    no element in common, so each count stays one number).
///  - Two independent fractions span a square, not a triangle: its four corners (A, A+B, A+B',
///    A+B+B') are affinely dependent (per-atom compositions: corner(1,1) = corner(1,0) +
///    corner(0,1) − corner(0,0)), so a three-end-member hull cannot have all four as vertices.
///    The study's triangle is the one of the parent (x, y) = (0, 0), the first substitution's end
///    (1, 0) and the second's (0, 1) (Li3YCl6, Li3YBr6, Li3InCl6): a grid point is a convex
///    combination of them, with atom fractions (1 − x − y, x, y), exactly when x + y ≤ 1 (for
///    parents whose atom count does not change with the substitution, which it never does here).
///  - The grid is the product of the two 1-D plans (each with its own rounding and skipped
///    list); points with x + y > 1 lie outside the triangle and are not enumerated (listed as
///    `outside`); a grid without all three corners is refused before any enumeration, since the
///    formation energies would have no reference.

#include <nernst/enumerate/substitution.hpp>

#include <algorithm>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace enumerate {

/// One point of the grid: the counts of both substitutions.
struct GridComposition {
  SeriesComposition first, second;
  double x() const { return first.x(); }
  double y() const { return second.x(); }
};

struct GridPlan {
  std::vector<GridComposition> used;     ///< inside the end-member triangle, x + y ≤ 1
  std::vector<GridComposition> outside;  ///< x + y > 1: not representable by the three end members
  CompositionPlan first, second;         ///< the 1-D plans (their `skipped` lists)
};

/// Refuses two substitutions that touch the same elements (three species on one sublattice, or
/// a substitution of a substituted species): the grid needs two disjoint sublattices.
inline void check_independent(const SubstitutionSpec& s1, const SubstitutionSpec& s2) {
  for (int z : {s1.a, s1.b})
    if (z == s2.a || z == s2.b)
      throw ValueError(std::string("series: the two substitutions share ") + element_symbol(z) +
                       "; a composition grid needs two independent sublattices (e.g. Cl:Br and Y:In)");
}

/// The grid of `s1` (on `sites1` sublattice sites) × `s2` (on `sites2`), restricted to the
/// end-member triangle. Throws when one of the three corners (0,0), (1,0), (0,1) is missing.
inline GridPlan plan_grid(const SubstitutionSpec& s1, long sites1, const SubstitutionSpec& s2, long sites2,
                          CompositionRounding rule, double x_tol = 1e-3) {
  check_independent(s1, s2);
  GridPlan g;
  g.first = plan_compositions(s1, sites1, rule, x_tol);
  g.second = plan_compositions(s2, sites2, rule, x_tol);
  for (const auto& c1 : g.first.used)
    for (const auto& c2 : g.second.used) {
      // Integer test of k1/N1 + k2/N2 ≤ 1: no rounding at the triangle's edge.
      const bool inside = c1.count * c2.sites + c2.count * c1.sites <= c1.sites * c2.sites;
      (inside ? g.used : g.outside).push_back({c1, c2});
    }
  auto has = [&](long k1, long k2) {
    return std::any_of(g.used.begin(), g.used.end(), [&](const GridComposition& c) { return c.first.count == k1 && c.second.count == k2; });
  };
  const std::string missing = !has(0, 0) ? "(0, 0)" : !has(sites1, 0) ? "(1, 0)" : !has(0, sites2) ? "(0, 1)" : "";
  if (!missing.empty())
    throw ValueError("series: the composition grid has no point at (x, y) = " + missing +
                     "; two substitutions are analysed in the triangle of the end members (0, 0), (1, 0) and (0, 1), "
                     "so both ranges must include 0 and 1");
  return g;
}

/// The parent with both substitutions applied (labels "A/B" and "A'/B'": two site classes).
inline Structure substitute_grid(const Structure& parent, const SubstitutionSpec& s1, const SubstitutionSpec& s2,
                                 const GridComposition& g) {
  return substitute(substitute(parent, s1.a, s1.b, g.first), s2.a, s2.b, g.second);
}

}  // namespace enumerate
NERNST_NAMESPACE_END
