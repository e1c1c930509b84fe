#pragma once
/// \file
/// \brief Substitution on a sublattice: species A is replaced by a mix of A and B on the sites
/// A (or B) fully occupies, for a list of compositions. Each composition is a new disordered
/// structure (partial occupancies A 1−x, B x on those sites) that OrderingModel and the
/// enumerator take like any CIF with occupancies.
///
/// Definitions:
///  - The *sublattice* is every site fully occupied by A or by B (so a parent that holds only B,
///    e.g. Li3YBr6 in a Cl:Br series, is substituted the other way round, and x is always the B
///    fraction). A or B on a mixed or partially occupied site is refused: the count over the
///    sublattice would no longer be one number.
///  - A *composition* is k, the number of B atoms on the N = n × (sublattice sites of the parent)
///    sites of an index-n supercell; x = k/N. All sublattice sites share one label ("A/B") so both
///    occupancy modes count k over the whole sublattice (one block), not per orbit.
///  - A requested fraction x is *representable* when |x − k/N| ≤ x_tol (default 1e-3, so that
///    "0..1:0.0833" reads as twelfths) for an integer k. The rule for the others is explicit:
///    `Skip` (default) lists them as skipped, `Nearest` uses k = round(x N) (half away from zero).
///    Compositions that end at the same k are kept once (the first request).

#include <nernst/core/elements.hpp>
#include <nernst/core/error.hpp>
#include <nernst/core/structure.hpp>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace enumerate {

/// `A:B=lo..hi:step` (fractions) or `A:B=k1,k2,...` (B atoms per supercell).
struct SubstitutionSpec {
  int a = 0, b = 0;                ///< atomic numbers of the replaced and the substituting species
  std::vector<double> fractions;   ///< requested x (when given as a range)
  std::vector<long> counts;        ///< requested k (when given explicitly)
};

enum class CompositionRounding { Skip, Nearest };

inline CompositionRounding parse_composition_rounding(const std::string& s) {
  if (s == "skip") return CompositionRounding::Skip;
  if (s == "nearest") return CompositionRounding::Nearest;
  throw ValueError("unknown composition rounding '" + s + "' (skip, nearest)");
}

/// One composition of the series.
struct SeriesComposition {
  double requested = 0;  ///< the x asked for (or k/N for explicit counts)
  long count = 0;        ///< k: B atoms in the supercell
  long sites = 0;        ///< N: sublattice sites in the supercell
  std::string how;       ///< "exact", "nearest", "explicit"; for a skipped one, why
  double x() const { return static_cast<double>(count) / static_cast<double>(sites); }
};

struct CompositionPlan {
  std::vector<SeriesComposition> used, skipped;
};

namespace detail {

inline int element_of(const std::string& sym, const std::string& spec) {
  try {
    return atomic_number(sym);
  } catch (const Error&) {
    throw ValueError("--substitute '" + spec + "': '" + sym + "' is not an element symbol");
  }
}

inline double parse_real(const std::string& s, const std::string& spec) {
  try {
    std::size_t used = 0;
    const double v = std::stod(s, &used);
    if (used != s.size() || !std::isfinite(v)) throw std::invalid_argument(s);
    return v;
  } catch (const std::exception&) {
    throw ValueError("--substitute '" + spec + "': '" + s + "' is not a number");
  }
}

/// lo..hi:step → lo, lo+step, ... ≤ hi (+1e-9 of the span).
inline std::vector<double> parse_range(const std::string& r, const std::string& spec) {
  const auto dots = r.find("..");
  const auto colon = r.find(':', dots == std::string::npos ? 0 : dots);
  if (dots == std::string::npos || colon == std::string::npos)
    throw ValueError("--substitute '" + spec + "': expected A:B=lo..hi:step or A:B=k1,k2,...");
  const double lo = parse_real(r.substr(0, dots), spec), hi = parse_real(r.substr(dots + 2, colon - dots - 2), spec),
               step = parse_real(r.substr(colon + 1), spec);
  if (!(lo >= 0 && hi <= 1 && lo <= hi)) throw ValueError("--substitute '" + spec + "': need 0 <= lo <= hi <= 1");
  if (!(step > 0)) throw ValueError("--substitute '" + spec + "': the step must be positive");
  const long n = static_cast<long>(std::floor((hi - lo) / step + 1e-6));
  if (n > 100000) throw ValueError("--substitute '" + spec + "': more than 100000 compositions");
  std::vector<double> x;
  for (long i = 0; i <= n; ++i) x.push_back(std::min(hi, lo + static_cast<double>(i) * step));
  return x;
}

inline std::vector<long> parse_counts(const std::string& r, const std::string& spec) {
  std::vector<long> k;
  std::stringstream ss(r);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const double v = parse_real(item, spec);
    if (v < 0 || v != std::floor(v)) throw ValueError("--substitute '" + spec + "': count '" + item + "' is not a non-negative integer");
    k.push_back(static_cast<long>(v));
  }
  if (k.empty()) throw ValueError("--substitute '" + spec + "': no counts");
  return k;
}

}  // namespace detail

inline SubstitutionSpec parse_substitution(const std::string& spec) {
  const auto colon = spec.find(':'), eq = spec.find('=');
  if (colon == std::string::npos || eq == std::string::npos || colon > eq)
    throw ValueError("--substitute '" + spec + "': expected A:B=lo..hi:step or A:B=k1,k2,... (e.g. Cl:Br=0..1:0.25)");
  SubstitutionSpec s;
  s.a = detail::element_of(spec.substr(0, colon), spec);
  s.b = detail::element_of(spec.substr(colon + 1, eq - colon - 1), spec);
  if (s.a == s.b) throw ValueError("--substitute '" + spec + "': A and B are the same element");
  const std::string rest = spec.substr(eq + 1);
  if (rest.find("..") != std::string::npos) s.fractions = detail::parse_range(rest, spec);
  else s.counts = detail::parse_counts(rest, spec);
  return s;
}

/// The parent sites fully occupied by A or B; refuses A or B on mixed/partial sites.
inline std::vector<std::size_t> sublattice_sites(const Structure& s, int a, int b) {
  std::vector<std::size_t> sites;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const Site& st = s[i];
    bool has = false;
    for (const auto& sp : st.species) has |= sp.z == a || sp.z == b;
    if (!has) continue;
    if (!st.is_ordered())
      throw ValueError("substitution: site " + st.label + " holds " + element_symbol(a) + " or " + element_symbol(b) +
                       " on a mixed or partially occupied site; only fully occupied sites are substituted");
    sites.push_back(i);
  }
  if (sites.empty())
    throw ValueError(std::string("substitution: the structure has no site of ") + element_symbol(a) + " or " + element_symbol(b));
  return sites;
}

/// The compositions of `spec` on a supercell with `sites` sublattice sites.
inline CompositionPlan plan_compositions(const SubstitutionSpec& spec, long sites, CompositionRounding rule,
                                         double x_tol = 1e-3) {
  if (sites < 1) throw ValueError("substitution: the sublattice has no sites");
  CompositionPlan plan;
  auto add = [&](SeriesComposition c) {
    for (const auto& u : plan.used)
      if (u.count == c.count) {
        c.how = "same count as x = " + std::to_string(u.requested);
        plan.skipped.push_back(c);
        return;
      }
    plan.used.push_back(c);
  };
  for (long k : spec.counts) {
    if (k > sites)
      throw ValueError("substitution: " + std::to_string(k) + " atoms do not fit on the " + std::to_string(sites) + " sublattice sites");
    add({static_cast<double>(k) / static_cast<double>(sites), k, sites, "explicit"});
  }
  for (double x : spec.fractions) {
    const long k = std::lround(x * static_cast<double>(sites));
    const double err = std::abs(x - static_cast<double>(k) / static_cast<double>(sites));
    if (err <= x_tol) add({x, k, sites, "exact"});
    else if (rule == CompositionRounding::Nearest) add({x, k, sites, "nearest"});
    else
      plan.skipped.push_back({x, k, sites, "not representable: x N = " + std::to_string(x * static_cast<double>(sites)) +
                                               " is not an integer (N = " + std::to_string(sites) + ")"});
  }
  return plan;
}

/// The parent with B fraction k/N on every sublattice site (labels "A/B": one site class).
/// Occupancies are the exact fraction, so the amounts in the index-n supercell are k and N − k.
inline Structure substitute(const Structure& parent, int a, int b, const SeriesComposition& c) {
  const auto sites = sublattice_sites(parent, a, b);
  Structure s = parent;
  const double x = c.x();
  const std::string label = std::string(element_symbol(a)) + "/" + element_symbol(b);
  for (std::size_t i : sites) {
    Site& st = s[i];
    const auto ox = st.species[0].oxidation;
    st.species = {SiteSpecies{a, 1.0 - x, ox}, SiteSpecies{b, x, ox}};
    st.label = label;
  }
  return s;
}

}  // namespace enumerate
NERNST_NAMESPACE_END
