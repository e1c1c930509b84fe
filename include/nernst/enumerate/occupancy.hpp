#pragma once
/// \file
/// \brief From a disordered structure (partial occupancies, mixed sites, vacancies) to a
/// labeling problem: which labels each site allows and exactly how many of each a supercell
/// holds, under an explicit counting policy and an explicit rounding mode.
///
/// Counting policies (published counts differ by up to 30x between them):
///  - PerOrbit: every CIF row (one species on one Wyckoff orbit) keeps its own number of atoms
///    (the `supercell` program's convention). Each orbit has its own vacancies.
///  - PerElement: one number per element over all sites it may occupy (pymatgen / enumlib).
/// Fully ordered sites are spectators. Amounts occ × multiplicity × index that are not integral
/// are an error unless a rounding mode is chosen, and every change is reported.

#include <nernst/core/structure.hpp>
#include <nernst/enumerate/enumerator.hpp>

#include <cmath>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace enumerate {

enum class OccupancyMode { PerOrbit, PerElement };

/// How non-integral amounts become atom counts.
enum class Rounding {
  Error,    ///< refuse (default): the user decides
  Nearest,  ///< round half away from zero, item by item
  Floor,
  Ceil,
  Balanced  ///< per element: floor every item, then give the remaining atoms of the element (its
            ///< rounded total, so the parent's stoichiometry and charge balance are kept) to the
            ///< items with the largest fractional parts (ties: file order)
};

inline Rounding parse_rounding(const std::string& s) {
  if (s == "error") return Rounding::Error;
  if (s == "nearest") return Rounding::Nearest;
  if (s == "floor") return Rounding::Floor;
  if (s == "ceil") return Rounding::Ceil;
  if (s == "balanced") return Rounding::Balanced;
  throw ValueError("unknown rounding mode '" + s + "' (error, nearest, floor, ceil, balanced)");
}
inline OccupancyMode parse_occupancy_mode(const std::string& s) {
  if (s == "per-orbit") return OccupancyMode::PerOrbit;
  if (s == "per-element") return OccupancyMode::PerElement;
  throw ValueError("unknown occupancy mode '" + s + "' (per-orbit, per-element)");
}

struct OrderingOptions {
  OccupancyMode mode = OccupancyMode::PerOrbit;
  Rounding rounding = Rounding::Error;
  /// Explicit atom counts in the supercell by CIF row label (per-orbit) or by row label or
  /// element symbol (per-element, row counts are summed per element). Overrides rounding.
  std::map<std::string, long> counts;
  double integral_tolerance = 1e-3;  ///< |amount − round(amount)| accepted as integral
  double symprec = 1e-3;             ///< Å, for spglib
};

/// One counted item (a CIF row in per-orbit mode, an element in per-element mode).
struct CountItem {
  std::string name;     ///< row label or element symbol
  int z = 0;
  double exact = 0;     ///< occupancy-weighted amount in the supercell
  long used = 0;        ///< atoms placed
  std::string how;      ///< "integral", "nearest", "floor", "ceil", "balanced", "explicit"
};

/// A disordered structure prepared for enumeration.
class OrderingModel {
 public:
  OrderingModel(const Structure& s, OrderingOptions opt) : s_(s), opt_(std::move(opt)) { build(); }

  const Multilattice& multilattice() const { return ml_; }
  const std::vector<std::string>& label_names() const { return label_name_; }
  const OrderingOptions& options() const { return opt_; }
  const Structure& structure() const { return s_; }
  /// Derivative options for enumeration of this model (no label exchange, all labelings kept
  /// unless `remove_superperiodic`), exact counts from the policy at each index.
  DerivativeOptions derivative_options(bool remove_superperiodic) const {
    DerivativeOptions o = DerivativeOptions::full();
    o.remove_superperiodic = remove_superperiodic;
    o.symprec = opt_.symprec;
    const OrderingModel* self = this;
    o.exact_counts = [self](long n) { return self->label_counts(n); };
    return o;
  }

  /// The counted items at index n (what was rounded, and how).
  std::vector<CountItem> items(long n) const {
    std::vector<CountItem> it;
    std::map<std::string, std::size_t> by_name;
    for (const auto& r : rows_) {
      const double amount = r.occ * static_cast<double>(r.n_parent_sites * n);
      const std::string key = opt_.mode == OccupancyMode::PerOrbit ? r.label : element_symbol(r.z);
      auto f = by_name.find(key);
      if (f == by_name.end()) {
        by_name[key] = it.size();
        it.push_back({key, r.z, amount, 0, ""});
      } else {
        it[f->second].exact += amount;
      }
    }
    // Explicit counts: by item name; in per-element mode row labels add up per element.
    std::map<std::string, long> explicit_items;
    for (const auto& [k, v] : opt_.counts) {
      if (v < 0) throw ValueError("--counts: negative count for " + k);
      if (by_name.count(k)) {
        explicit_items[k] += v;
        continue;
      }
      const Row* row = nullptr;
      for (const auto& r : rows_)
        if (r.label == k) row = &r;
      if (!row) {
        std::string known;
        for (const auto& x : it) known += (known.empty() ? "" : ", ") + x.name;
        throw ValueError("--counts: '" + k + "' is not a partially occupied row of the structure (known: " + known + ")");
      }
      explicit_items[element_symbol(row->z)] += v;
    }
    std::vector<std::string> bad;
    for (auto& x : it) {
      const double r = std::round(x.exact);
      if (explicit_items.count(x.name)) {
        x.used = explicit_items[x.name];
        x.how = "explicit";
      } else if (std::abs(x.exact - r) <= opt_.integral_tolerance) {
        x.used = static_cast<long>(r);
        x.how = "integral";
      } else {
        switch (opt_.rounding) {
          case Rounding::Error: {
            std::ostringstream os;
            os << x.name << " = " << x.exact;
            bad.push_back(os.str());
            break;
          }
          case Rounding::Nearest: x.used = std::lround(x.exact), x.how = "nearest"; break;
          case Rounding::Floor: x.used = static_cast<long>(std::floor(x.exact)), x.how = "floor"; break;
          case Rounding::Ceil: x.used = static_cast<long>(std::ceil(x.exact)), x.how = "ceil"; break;
          case Rounding::Balanced: x.used = static_cast<long>(std::floor(x.exact)), x.how = "balanced"; break;
        }
      }
    }
    if (!bad.empty()) {
      std::string msg = "non-integral atom counts in the index-" + std::to_string(n) + " supercell (";
      for (std::size_t k = 0; k < bad.size(); ++k) msg += (k ? "; " : "") + bad[k];
      throw ValueError(msg + "): choose --rounding nearest|floor|ceil|balanced or give --counts LABEL=N,...");
    }
    if (opt_.rounding == Rounding::Balanced) {
      std::map<int, double> total;
      std::map<int, long> placed;
      for (const auto& x : it) total[x.z] += x.exact, placed[x.z] += x.used;
      for (auto& [z, t] : total) {
        long missing = std::lround(t) - placed[z];
        while (missing > 0) {
          CountItem* best = nullptr;
          for (auto& x : it)
            if (x.z == z && x.how == "balanced" && static_cast<double>(x.used) < x.exact &&
                (!best || x.exact - static_cast<double>(x.used) > best->exact - static_cast<double>(best->used) + 1e-12))
              best = &x;
          if (!best) break;
          ++best->used;
          --missing;
        }
      }
    }
    return it;
  }

  /// Label counts over the active sites of an index-n supercell (spectator labels: -1).
  std::vector<long> label_counts(long n) const {
    const auto it = items(n);
    std::vector<long> c(label_name_.size(), -1);
    auto item_used = [&](const std::string& name) {
      for (const auto& x : it)
        if (x.name == name) return x.used;
      return 0L;
    };
    if (opt_.mode == OccupancyMode::PerOrbit) {
      for (std::size_t k = 0; k < classes_.size(); ++k) {
        const auto& cl = classes_[k];
        if (cl.ordered) continue;
        long sum = 0;
        for (std::size_t r : cl.rows) {
          const long u = item_used(rows_[r].label);
          c[static_cast<std::size_t>(rows_[r].label_id)] = u;
          sum += u;
        }
        const long sites = static_cast<long>(cl.parent_sites.size()) * n;
        if (cl.vac_label >= 0) c[static_cast<std::size_t>(cl.vac_label)] = sites - sum;
        if (sum > sites)
          throw ValueError("orbit " + cl.name + ": " + std::to_string(sum) + " atoms do not fit on its " + std::to_string(sites) + " sites");
        if (cl.vac_label < 0 && sum != sites)
          throw ValueError("orbit " + cl.name + " is fully occupied but the counts place " + std::to_string(sum) + " atoms on " +
                           std::to_string(sites) + " sites");
      }
    } else {
      long sum = 0, sites = 0;
      for (const auto& [z, id] : element_label_) {
        c[static_cast<std::size_t>(id)] = item_used(element_symbol(z));
        sum += c[static_cast<std::size_t>(id)];
      }
      for (const auto& cl : classes_)
        if (!cl.ordered) sites += static_cast<long>(cl.parent_sites.size()) * n;
      if (vac_label_ >= 0) c[static_cast<std::size_t>(vac_label_)] = sites - sum;
      if (sum > sites) throw ValueError("the counts place " + std::to_string(sum) + " atoms on " + std::to_string(sites) + " disordered sites");
    }
    return c;
  }

  /// Charge of each label from the oxidation states (CIF) or `charges` by atomic number.
  std::vector<double> label_charges(const std::map<int, double>& charges) const {
    std::vector<double> q(label_name_.size(), 0.0);
    for (std::size_t l = 0; l < label_name_.size(); ++l) {
      const int z = ml_.label_z[l];
      if (z == 0) continue;
      if (auto f = charges.find(z); f != charges.end()) q[l] = f->second;
      else if (label_ox_[l]) q[l] = *label_ox_[l];
      else throw ValueError(std::string("no charge known for ") + element_symbol(z) + " (give --charges)");
    }
    return q;
  }

 private:
  struct Row {
    std::string label;
    int z = 0;
    double occ = 0;
    std::optional<double> ox;
    std::size_t cls = 0;
    long n_parent_sites = 0;
    int label_id = -1;
  };
  struct SiteClass {
    std::string name;
    std::vector<std::size_t> parent_sites, rows;
    bool ordered = false;
    int vac_label = -1;
  };

  int add_label(const std::string& name, int z, std::optional<double> ox) {
    label_name_.push_back(name);
    ml_.label_z.push_back(z);
    label_ox_.push_back(ox);
    return static_cast<int>(label_name_.size()) - 1;
  }

  void build() {
    if (s_.empty()) throw ValueError("enumerate: the structure has no sites");
    ml_.lattice = s_.lattice();
    // Site classes: sites with the same label string (the CIF reader writes "Li2/Y3" for a site
    // shared by rows Li2 and Y3) and the same content.
    std::vector<int> site_class(s_.size());
    for (std::size_t i = 0; i < s_.size(); ++i) {
      const Site& st = s_[i];
      std::ostringstream key;
      key << st.label << "|";
      for (const auto& sp : st.species) key << sp.z << ":" << std::lround(sp.occupancy * 1e5) << ",";
      std::size_t k = 0;
      for (; k < classes_.size(); ++k)
        if (classes_[k].name == key.str()) break;
      if (k == classes_.size()) {
        SiteClass c;
        c.name = key.str();
        c.ordered = st.is_ordered();
        classes_.push_back(c);
      }
      classes_[k].parent_sites.push_back(i);
      site_class[i] = static_cast<int>(k);
    }
    // Rows of each disordered class: split the label on '/', one per species.
    for (std::size_t k = 0; k < classes_.size(); ++k) {
      auto& c = classes_[k];
      const Site& st = s_[c.parent_sites[0]];
      c.name = st.label;
      if (c.ordered) continue;
      std::vector<std::string> parts;
      {
        std::string cur;
        for (char ch : st.label) {
          if (ch == '/') parts.push_back(cur), cur.clear();
          else cur += ch;
        }
        parts.push_back(cur);
      }
      for (std::size_t j = 0; j < st.species.size(); ++j) {
        Row r;
        r.label = parts.size() == st.species.size() ? parts[j] : st.label + ":" + element_symbol(st.species[j].z);
        r.z = st.species[j].z;
        r.occ = st.species[j].occupancy;
        r.ox = st.species[j].oxidation;
        r.cls = k;
        r.n_parent_sites = static_cast<long>(c.parent_sites.size());
        c.rows.push_back(rows_.size());
        rows_.push_back(r);
      }
    }
    if (rows_.empty()) throw ValueError("enumerate: the structure is fully ordered; nothing to enumerate");
    // Labels. Spectators: one label per (element, oxidation) of the ordered sites.
    std::map<std::pair<int, double>, int> spectator;
    std::vector<std::vector<int>> allowed(s_.size());
    if (opt_.mode == OccupancyMode::PerElement) {
      for (const auto& r : rows_)
        if (!element_label_.count(r.z)) element_label_[r.z] = add_label(element_symbol(r.z), r.z, r.ox);
      for (const auto& c : classes_)
        if (!c.ordered && s_[c.parent_sites[0]].total_occupancy() < 1.0 - 1e-6 && vac_label_ < 0) vac_label_ = add_label("vacancy", 0, std::nullopt);
    }
    for (auto& c : classes_) {
      std::vector<int> al;
      if (c.ordered) {
        const auto& sp = s_[c.parent_sites[0]].species[0];
        const auto key = std::make_pair(sp.z, sp.oxidation ? *sp.oxidation : 1e9);
        if (!spectator.count(key)) spectator[key] = add_label(std::string(element_symbol(sp.z)) + "(ordered)", sp.z, sp.oxidation);
        al.push_back(spectator[key]);
      } else if (opt_.mode == OccupancyMode::PerOrbit) {
        for (std::size_t r : c.rows) {
          rows_[r].label_id = add_label(rows_[r].label, rows_[r].z, rows_[r].ox);
          al.push_back(rows_[r].label_id);
        }
        if (s_[c.parent_sites[0]].total_occupancy() < 1.0 - 1e-6) {
          c.vac_label = add_label("vacancy@" + c.name, 0, std::nullopt);
          al.push_back(c.vac_label);
        }
      } else {
        for (std::size_t r : c.rows) al.push_back(element_label_[rows_[r].z]);
        if (s_[c.parent_sites[0]].total_occupancy() < 1.0 - 1e-6) al.push_back(vac_label_);
      }
      std::sort(al.begin(), al.end());
      al.erase(std::unique(al.begin(), al.end()), al.end());
      for (std::size_t i : c.parent_sites) allowed[i] = al;
    }
    if (label_name_.size() > 255) throw ValueError("enumerate: more than 255 labels");
    const auto type = symmetry_types(site_class);
    for (std::size_t i = 0; i < s_.size(); ++i) {
      ml_.frac.push_back(s_[i].frac);
      ml_.allowed.push_back(allowed[i]);
      ml_.type.push_back(type[i]);
    }
    ml_.n_labels = static_cast<int>(label_name_.size());
  }

  /// The site types the parent's symmetry must preserve (1-based). A site's content (species and
  /// occupancies) always; its CIF row only where the row matters: a disordered site in per-orbit
  /// mode, whose row keeps its own count. Ordered sites and per-element disorder are keyed by
  /// content alone, so a P1 file with one row per atom (an ordering nernst wrote, a relaxed cell)
  /// keeps its symmetry: otherwise every atom would be its own type and the group trivial.
  std::vector<int> symmetry_types(const std::vector<int>& site_class) const {
    std::map<std::string, int> id;
    std::vector<int> type(s_.size());
    for (std::size_t i = 0; i < s_.size(); ++i) {
      const auto& cls = classes_[static_cast<std::size_t>(site_class[i])];
      std::ostringstream key;
      if (!cls.ordered && opt_.mode == OccupancyMode::PerOrbit) key << "row " << site_class[i] << "|";
      for (const auto& sp : s_[i].species)
        key << sp.z << ":" << std::lround(sp.occupancy * 1e5) << ":" << (sp.oxidation ? std::to_string(*sp.oxidation) : "-") << ",";
      type[i] = id.emplace(key.str(), static_cast<int>(id.size()) + 1).first->second;
    }
    return type;
  }

  Structure s_;
  OrderingOptions opt_;
  Multilattice ml_;
  std::vector<SiteClass> classes_;
  std::vector<Row> rows_;
  std::vector<std::string> label_name_;
  std::vector<std::optional<double>> label_ox_;
  std::map<int, int> element_label_;
  int vac_label_ = -1;
};

}  // namespace enumerate
NERNST_NAMESPACE_END
