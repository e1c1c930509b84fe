#pragma once
/// \file
/// \brief Structure: a periodic crystal whose sites may hold several species with partial
/// occupancies, so disordered crystals (CIF with occupancies) are first-class.

#include <nernst/core/elements.hpp>
#include <nernst/core/lattice.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN

/// One species on a site. A vacancy is simply the missing occupancy (1 − Σ occupancies).
struct SiteSpecies {
  int z = 0;                           ///< atomic number
  double occupancy = 1.0;              ///< 0 < occ ≤ 1
  std::optional<double> oxidation;     ///< formal charge, if known
};

struct Site {
  Eigen::Vector3d frac = Eigen::Vector3d::Zero();  ///< fractional coordinates
  std::vector<SiteSpecies> species;                ///< one or more (mixed site)
  std::string label;                               ///< e.g. "Li1" from a CIF
  std::string wyckoff;                             ///< e.g. "6h" (letter with multiplicity), if known
  int multiplicity = 0;                            ///< Wyckoff multiplicity, 0 if unknown

  bool is_ordered() const {
    return species.size() == 1 && std::abs(species[0].occupancy - 1.0) < 1e-8;
  }
  double total_occupancy() const {
    double s = 0;
    for (const auto& sp : species) s += sp.occupancy;
    return s;
  }
  /// The atomic number of an ordered site.
  int z() const {
    if (species.empty()) throw ValueError("site '" + label + "' has no species");
    return species.front().z;
  }
};

class Structure {
 public:
  Structure() = default;
  explicit Structure(Lattice lattice) : lattice_(std::move(lattice)) {}

  /// Appends an ordered site from its atomic number and fractional coordinates.
  Site& add_site(int z, const Eigen::Vector3d& frac, std::string label = {}) {
    element(z);  // validates z
    Site s;
    s.frac = frac;
    s.species.push_back({z, 1.0, std::nullopt});
    s.label = label.empty() ? std::string(element_symbol(z)) : std::move(label);
    sites_.push_back(std::move(s));
    return sites_.back();
  }
  Site& add_site(Site s) {
    for (const auto& sp : s.species) element(sp.z);
    if (s.total_occupancy() > 1.0 + 1e-6)
      throw ValueError("site '" + s.label + "' has total occupancy " + std::to_string(s.total_occupancy()) + " > 1");
    sites_.push_back(std::move(s));
    return sites_.back();
  }
  /// Appends an ordered site from Cartesian coordinates (Å).
  Site& add_site_cart(int z, const Eigen::Vector3d& cart, std::string label = {}) {
    return add_site(z, lattice_.to_frac(cart), std::move(label));
  }

  const Lattice& lattice() const { return lattice_; }
  void set_lattice(const Lattice& l) { lattice_ = l; }
  /// Replaces the lattice keeping Cartesian positions (scale_sites = false) or fractional ones.
  void set_lattice(const Lattice& l, bool keep_fractional) {
    if (!keep_fractional)
      for (auto& s : sites_) s.frac = l.to_frac(lattice_.to_cart(s.frac));
    lattice_ = l;
  }

  std::size_t size() const { return sites_.size(); }
  bool empty() const { return sites_.empty(); }
  const Site& operator[](std::size_t i) const { return sites_[i]; }
  Site& operator[](std::size_t i) { return sites_[i]; }
  const std::vector<Site>& sites() const { return sites_; }
  std::vector<Site>& sites() { return sites_; }

  Eigen::Vector3d cart(std::size_t i) const { return lattice_.to_cart(sites_[i].frac); }

  bool is_ordered() const {
    return std::all_of(sites_.begin(), sites_.end(), [](const Site& s) { return s.is_ordered(); });
  }

  /// Atomic numbers of an ordered structure (throws for a disordered one).
  std::vector<int> atomic_numbers() const {
    std::vector<int> z;
    z.reserve(sites_.size());
    for (const auto& s : sites_) {
      if (!s.is_ordered())
        throw ValueError("structure is disordered (site '" + s.label + "'); order it first (nernst enumerate)");
      z.push_back(s.z());
    }
    return z;
  }

  /// Element -> amount (occupancy-weighted), keyed by atomic number.
  std::map<int, double> composition() const {
    std::map<int, double> c;
    for (const auto& s : sites_)
      for (const auto& sp : s.species) c[sp.z] += sp.occupancy;
    return c;
  }

  /// Total mass in amu (occupancy-weighted).
  double mass() const {
    double m = 0;
    for (const auto& [z, n] : composition()) m += n * atomic_mass(z);
    return m;
  }
  /// Density in g/cm³.
  double density() const {
    return mass() * 1.66053906660 / lattice_.volume();  // amu/Å³ -> g/cm³
  }

  /// Formula with elements in order of first appearance in the site list (the file's order);
  /// non-integral amounts (disordered sites) are printed with 4 significant digits.
  std::string formula(bool reduced = false) const {
    std::vector<int> order;
    std::map<int, double> c;
    for (const auto& s : sites_)
      for (const auto& sp : s.species) {
        if (!c.count(sp.z)) order.push_back(sp.z);
        c[sp.z] += sp.occupancy;
      }
    double divisor = 1.0;
    if (reduced) divisor = reduce_divisor(c);
    std::ostringstream os;
    for (int z : order) {
      const double n = c[z] / divisor;
      os << element_symbol(z);
      if (std::abs(n - std::round(n)) < 1e-6) {
        const long k = std::lround(n);
        if (k != 1) os << k;
      } else {
        std::ostringstream num;
        num.precision(4);
        num << n;
        os << num.str();
      }
    }
    return os.str();
  }

 private:
  static double reduce_divisor(const std::map<int, double>& c) {
    // gcd of the amounts when all are integral; otherwise 1.
    long g = 0;
    for (const auto& kv : c) {
      const double n = kv.second;
      if (std::abs(n - std::round(n)) > 1e-6) return 1.0;
      long k = std::lround(n), a = g;
      while (k) { long t = a % k; a = k; k = t; }
      g = a;
    }
    return g > 0 ? double(g) : 1.0;
  }

  Lattice lattice_;
  std::vector<Site> sites_;
};

NERNST_NAMESPACE_END
