#pragma once
/// \file
/// \brief CIF reader and writer: cell, symmetry (explicit operations or spglib's database from
/// the space-group symbol/number), asymmetric-unit expansion with duplicate merging, partial
/// occupancies, mixed sites, oxidation states, labels and Wyckoff multiplicities.

#include <nernst/core/structure.hpp>
#include <nernst/io/detail/cif_syntax.hpp>
#include <nernst/io/detail/symop.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace io {

struct CifOptions {
  /// Images of one site closer than this (Å) are one atom (special positions); sites of
  /// different rows closer than this share the site (mixed occupancy).
  double merge_tolerance = 1e-2;
  /// Two sites closer than this (Å) whose occupancies sum above 1 are an error ("atoms
  /// coincide"): split positions with partial occupancy are allowed, full atoms on top of
  /// each other are not.
  double clash_distance = 0.5;
  /// Occupancy sums up to 1 + this are accepted (refinements round).
  double occupancy_tolerance = 1e-3;
  /// Which data block (name after data_); empty: the first block that has atom sites.
  std::string block;
};

/// What read_cif_data returns beside the structure.
struct CifData {
  Structure structure;
  std::string block;                       ///< data block name
  std::vector<SymOp> operations;           ///< as used for the expansion
  std::string symmetry_source;             ///< tag or "spglib database (Hall n)" or "none (P1)"
  int space_group_number = 0;              ///< from the file, 0 if absent
  std::string space_group_symbol;          ///< H-M symbol from the file, if any
  std::vector<std::string> warnings;       ///< e.g. multiplicity disagreements
};

namespace detail {

struct CifContext {
  const std::string& file;
  [[noreturn]] void fail(std::size_t line, const std::string& msg) const { throw ParseError(file, line, msg); }
  double number(const CifValue& v, const std::string& what) const {
    double x;
    if (v.missing()) fail(v.line, what + " is '" + v.text + "' (unknown)");
    if (!try_parse_cif_number(v.text, x)) fail(v.line, "expected a number for " + what + ", found '" + v.text + "'");
    return x;
  }
};

/// "Li1+", "Cl1-", "O2-", "Fe3+", "Li" -> (element symbol, charge). Returns false when no
/// element can be read.
inline bool split_type_symbol(const std::string& s, int& z, std::optional<double>& ox) {
  std::size_t i = 0;
  while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
  std::string el = s.substr(0, i);
  z = try_atomic_number(el);
  if (z == 0 && el.size() > 1) {
    z = try_atomic_number(el.substr(0, 2));
    if (z == 0) z = try_atomic_number(el.substr(0, 1));
  }
  if (z == 0) return false;
  ox.reset();
  if (i < s.size()) {
    std::size_t j = i;
    while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '.')) ++j;
    if (j < s.size() && (s[j] == '+' || s[j] == '-')) {
      double mag = 1.0;
      if (j > i) {
        try {
          mag = std::stod(s.substr(i, j - i));
        } catch (...) {
          return true;
        }
      }
      ox = s[j] == '-' ? -mag : mag;
    }
  }
  return true;
}

/// Species symbol from a label like "Li1", "Cl_2", "Y9a".
inline int z_from_label(const std::string& label) {
  int z;
  std::optional<double> ox;
  if (!split_type_symbol(label, z, ox)) return 0;
  return z;
}

inline double periodic_distance(const Lattice& lat, const Eigen::Vector3d& a, const Eigen::Vector3d& b) {
  Eigen::Vector3d d = a - b;
  for (int k = 0; k < 3; ++k) d[k] -= std::round(d[k]);
  return lat.minimum_image(lat.to_cart(d)).norm();
}

/// Whether two fractional points are closer than `tol` Å. Exact for tol below half the
/// smallest perpendicular width (then the nearest image is the rounded one); cheap rejection
/// per axis first, since |Δf_a| · width_a bounds the distance from below.
struct CloseTest {
  explicit CloseTest(const Lattice& l) : lat(l), widths(l.perpendicular_widths()) {}
  bool operator()(const Eigen::Vector3d& a, const Eigen::Vector3d& b, double tol) const {
    Eigen::Vector3d d = a - b;
    for (int k = 0; k < 3; ++k) {
      d[k] -= std::round(d[k]);
      if (std::abs(d[k]) * widths[static_cast<std::size_t>(k)] >= tol) return false;
    }
    if (2 * tol >= std::min({widths[0], widths[1], widths[2]})) return periodic_distance(lat, a, b) < tol;
    return lat.to_cart(d).squaredNorm() < tol * tol;
  }
  const Lattice& lat;
  std::array<double, 3> widths;
};

/// Sites binned on a periodic fractional grid whose bins are at least `width` Å thick, so that
/// every site within `width` of a point lies in the 27 bins around it (linear-time merging and
/// clash checks for large cells).
class PeriodicBins {
 public:
  PeriodicBins(const Lattice& lat, double width) {
    const auto w = lat.perpendicular_widths();
    for (int a = 0; a < 3; ++a) {
      // compared as doubles before the cast: a cell edge of 1e9 Å (or NaN) must not overflow int
      const double m = std::floor(w[static_cast<std::size_t>(a)] / std::max(width, 1e-6));
      n_[a] = m >= 48 ? 48 : (m >= 1 ? static_cast<int>(m) : 1);
    }
    bins_.resize(static_cast<std::size_t>(n_[0] * n_[1] * n_[2]));
  }
  void insert(std::size_t idx, const Eigen::Vector3d& f) { bins_[flat(cell(f))].push_back(idx); }
  /// Calls fn(index) for every stored site in the bins around f (each once).
  template <class Fn>
  void visit(const Eigen::Vector3d& f, Fn&& fn) const {
    const auto c = cell(f);
    std::vector<std::size_t> seen;
    for (int i = -1; i <= 1; ++i)
      for (int j = -1; j <= 1; ++j)
        for (int k = -1; k <= 1; ++k) {
          const std::size_t b = flat({c[0] + i, c[1] + j, c[2] + k});
          if (std::find(seen.begin(), seen.end(), b) != seen.end()) continue;
          seen.push_back(b);
          for (std::size_t idx : bins_[b]) fn(idx);
        }
  }

 private:
  std::array<int, 3> cell(const Eigen::Vector3d& f) const {
    std::array<int, 3> c{};
    for (int a = 0; a < 3; ++a) {
      const double x = f[a] - std::floor(f[a]);
      c[static_cast<std::size_t>(a)] = std::min(n_[a] - 1, static_cast<int>(x * n_[a]));
    }
    return c;
  }
  std::size_t flat(std::array<int, 3> c) const {
    for (int a = 0; a < 3; ++a) c[static_cast<std::size_t>(a)] = ((c[static_cast<std::size_t>(a)] % n_[a]) + n_[a]) % n_[a];
    return static_cast<std::size_t>((c[0] * n_[1] + c[1]) * n_[2] + c[2]);
  }
  int n_[3] = {1, 1, 1};
  std::vector<std::vector<std::size_t>> bins_;
};

}  // namespace detail

/// Reads a CIF into a (possibly disordered) Structure plus its symmetry. `text` is the file's
/// content; `file` names it in messages.
inline CifData parse_cif(std::string_view text, const std::string& file, const CifOptions& opt = {}) {
  using namespace detail;
  CifContext ctx{file};
  const auto blocks = parse_cif_text(text, file);
  if (blocks.empty()) throw ParseError(file, 0, "no data_ block (empty or not a CIF)");
  const CifBlock* blk = nullptr;
  for (const auto& b : blocks) {
    if (!opt.block.empty() ? b.name == opt.block : b.loop_with("_atom_site_label") || b.loop_with("_atom_site_type_symbol")) {
      blk = &b;
      break;
    }
  }
  if (!blk) {
    if (!opt.block.empty()) throw ParseError(file, 0, "no data block named '" + opt.block + "'");
    throw ParseError(file, 0, "no data block holds an _atom_site_ loop");
  }
  CifData out;
  out.block = blk->name;

  // --- cell ---------------------------------------------------------------------------------
  auto cell_value = [&](const char* tag, bool angle) {
    const CifValue* v = blk->item(tag);
    if (!v || v->missing()) {
      if (angle) return 90.0;
      ctx.fail(blk->line, std::string("missing ") + tag);
    }
    const double x = ctx.number(*v, tag);
    if (angle ? !(x > 0 && x < 180) : !(x > 0)) ctx.fail(v->line, std::string(tag) + " out of range: " + v->text);
    return x;
  };
  const double a = cell_value("_cell_length_a", false), b = cell_value("_cell_length_b", false),
               c = cell_value("_cell_length_c", false);
  const double al = cell_value("_cell_angle_alpha", true), be = cell_value("_cell_angle_beta", true),
               ga = cell_value("_cell_angle_gamma", true);
  Lattice lat;
  try {
    const double d2r = M_PI / 180.0, ca = std::cos(al * d2r), cb = std::cos(be * d2r), cg = std::cos(ga * d2r);
    if (1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg < 1e-8)
      throw ValueError("cell angles " + std::to_string(al) + ", " + std::to_string(be) + ", " + std::to_string(ga) +
                       " give zero volume");
    lat = Lattice::from_parameters(a, b, c, al, be, ga);
  } catch (const ValueError& e) {
    ctx.fail(blk->item("_cell_length_a")->line, std::string("singular cell: ") + e.what());
  }
  const bool rhombohedral_cell = std::abs(a - b) < 1e-6 && std::abs(b - c) < 1e-6 && std::abs(al - be) < 1e-6 &&
                                 std::abs(be - ga) < 1e-6 && std::abs(al - 90) > 1e-6;

  // --- symmetry -----------------------------------------------------------------------------
  if (const CifValue* v = blk->first_item({"_symmetry_int_tables_number", "_space_group_it_number",
                                           "_space_group.it_number"})) {
    double x;
    if (!try_parse_cif_number(v->text, x) || x != std::floor(x) || x < 1 || x > 230)
      ctx.fail(v->line, "space-group number '" + v->text + "' is not an integer in 1-230");
    out.space_group_number = static_cast<int>(x);
  }
  if (const CifValue* v = blk->first_item({"_symmetry_space_group_name_h-m", "_space_group_name_h-m_alt",
                                           "_space_group.name_h-m_alt"}))
    out.space_group_symbol = v->text;
  for (const char* tag : {"_symmetry_equiv_pos_as_xyz", "_space_group_symop_operation_xyz",
                          "_space_group_symop.operation_xyz", "_symmetry_equiv.pos_as_xyz"}) {
    std::vector<const CifValue*> vals;
    if (const CifLoop* l = blk->loop_with(tag)) {
      const int col = l->column(tag);
      for (const auto& row : l->rows) vals.push_back(&row[static_cast<std::size_t>(col)]);
    } else if (const CifValue* v = blk->item(tag)) {
      vals.push_back(v);
    }
    if (vals.empty()) continue;
    for (const CifValue* v : vals) {
      std::string why;
      auto op = parse_symop(v->text, why);
      if (!op) ctx.fail(v->line, "malformed symmetry operation '" + v->text + "': " + why);
      out.operations.push_back(*op);
    }
    out.symmetry_source = tag;
    break;
  }
  if (out.operations.empty()) {
    int hall = 0;
    if (const CifValue* v = blk->first_item({"_symmetry_space_group_name_hall", "_space_group_name_hall",
                                             "_space_group.name_hall"})) {
      hall = hall_from_hall_symbol(v->text);
      if (!hall) ctx.fail(v->line, "unknown Hall symbol '" + v->text + "'");
    }
    if (!hall && !out.space_group_symbol.empty()) {
      hall = hall_from_hm(out.space_group_symbol, rhombohedral_cell);
      if (!hall && !out.space_group_number)
        ctx.fail(blk->first_item({"_symmetry_space_group_name_h-m", "_space_group_name_h-m_alt",
                                  "_space_group.name_h-m_alt"})->line,
                 "unknown space-group symbol '" + out.space_group_symbol + "' and no operations");
    }
    if (!hall && out.space_group_number) {
      hall = hall_from_number(out.space_group_number, rhombohedral_cell);
      if (!hall) ctx.fail(blk->line, "space-group number " + std::to_string(out.space_group_number) + " out of range");
    }
    if (hall) {
      out.operations = symops_from_hall(hall);
      out.symmetry_source = "spglib database (Hall " + std::to_string(hall) + ")";
    } else {
      out.operations.push_back(SymOp{});
      out.symmetry_source = "none (P1 assumed)";
      out.warnings.push_back("no symmetry information: P1 assumed");
    }
  }

  // --- oxidation states from _atom_type_ --------------------------------------------------------
  std::map<std::string, double> ox_by_type;
  if (const CifLoop* l = blk->loop_with("_atom_type_oxidation_number")) {
    const int cs = l->column("_atom_type_symbol"), co = l->column("_atom_type_oxidation_number");
    if (cs >= 0)
      for (const auto& row : l->rows) {
        const auto& vo = row[static_cast<std::size_t>(co)];
        if (vo.missing()) continue;
        ox_by_type[row[static_cast<std::size_t>(cs)].text] = ctx.number(vo, "_atom_type_oxidation_number");
      }
  }

  // --- atom sites ------------------------------------------------------------------------------
  const CifLoop* sl = blk->loop_with("_atom_site_fract_x");
  bool cartesian = false;
  if (!sl) {
    sl = blk->loop_with("_atom_site_cartn_x");
    cartesian = sl != nullptr;
  }
  if (!sl) {
    const CifLoop* any = blk->loop_with("_atom_site_label");
    if (!any) any = blk->loop_with("_atom_site_type_symbol");
    ctx.fail(any ? any->line : blk->line, "no _atom_site_fract_x (or _atom_site_Cartn_x) loop");
  }
  const std::string px = cartesian ? "_atom_site_cartn_" : "_atom_site_fract_";
  const int cx = sl->column(px + "x"), cy = sl->column(px + "y"), cz = sl->column(px + "z");
  if (cy < 0 || cz < 0) ctx.fail(sl->line, "atom-site loop lacks " + px + "y or " + px + "z");
  const int clabel = sl->column("_atom_site_label"), ctype = sl->column("_atom_site_type_symbol"),
            cocc = sl->column("_atom_site_occupancy"), cmult = sl->column("_atom_site_symmetry_multiplicity"),
            cwy = sl->column("_atom_site_wyckoff_symbol"), ccalc = sl->column("_atom_site_calc_flag");
  if (clabel < 0 && ctype < 0) ctx.fail(sl->line, "atom-site loop has neither _atom_site_label nor _atom_site_type_symbol");

  struct Row {
    Eigen::Vector3d frac;
    SiteSpecies sp;
    std::string label;
    int file_mult = 0;
    std::string wyckoff;
    std::size_t line;
  };
  std::vector<Row> rows;
  auto col = [](const std::vector<CifValue>& r, int c) -> const CifValue& { return r[static_cast<std::size_t>(c)]; };
  for (const auto& r : sl->rows) {
    Row row;
    row.line = r[0].line;
    if (ccalc >= 0 && to_lower(col(r, ccalc).text) == "dum") continue;  // dummy atoms
    row.label = clabel >= 0 ? col(r, clabel).text : std::string();
    std::string type = ctype >= 0 && !col(r, ctype).missing() ? col(r, ctype).text : row.label;
    int z;
    std::optional<double> ox;
    if (!split_type_symbol(type, z, ox)) {
      const std::size_t ln = ctype >= 0 ? col(r, ctype).line : col(r, clabel).line;
      ctx.fail(ln, "unknown element '" + type + "'");
    }
    if (auto it = ox_by_type.find(type); it != ox_by_type.end()) ox = it->second;
    if (row.label.empty()) row.label = type;
    for (int k = 0; k < 3; ++k) {
      const CifValue& v = col(r, k == 0 ? cx : k == 1 ? cy : cz);
      row.frac[k] = ctx.number(v, px + char('x' + k) + " of " + row.label);
    }
    if (cartesian) row.frac = lat.to_frac(row.frac);
    double occ = 1.0;
    if (cocc >= 0 && !col(r, cocc).missing()) {
      occ = ctx.number(col(r, cocc), "the occupancy of " + row.label);
      if (!(occ > 0) || occ > 1.0 + opt.occupancy_tolerance)
        ctx.fail(col(r, cocc).line, "occupancy of " + row.label + " is " + col(r, cocc).text + " (must be in (0, 1])");
      occ = std::min(occ, 1.0);
    }
    row.sp = SiteSpecies{z, occ, ox};
    if (cmult >= 0 && !col(r, cmult).missing()) {
      double m;
      if (!try_parse_cif_number(col(r, cmult).text, m) || m < 1 || m > 1e6 || m != std::floor(m))
        ctx.fail(col(r, cmult).line, "bad multiplicity '" + col(r, cmult).text + "' for " + row.label);
      row.file_mult = static_cast<int>(m);
    }
    if (cwy >= 0 && !col(r, cwy).missing()) row.wyckoff = col(r, cwy).text;
    rows.push_back(std::move(row));
  }
  if (rows.empty()) ctx.fail(sl->line, "the atom-site loop holds no atoms");

  // --- expansion --------------------------------------------------------------------------------
  // Each row becomes its orbit (images within merge_tolerance are one atom); an orbit site that
  // falls on an existing site of another row joins it (mixed site).
  struct Placed {
    Site site;
    std::size_t line;
  };
  std::vector<Placed> placed;
  PeriodicBins bins(lat, std::max(opt.merge_tolerance, opt.clash_distance));
  const CloseTest close(lat);
  for (const auto& row : rows) {
    std::vector<Eigen::Vector3d> orbit;
    for (const auto& op : out.operations) {
      const Eigen::Vector3d f = Lattice::wrap_frac(op.apply(row.frac));
      bool dup = false;
      for (const auto& g : orbit)
        if (close(f, g, opt.merge_tolerance)) {
          dup = true;
          break;
        }
      if (!dup) orbit.push_back(f);
    }
    const int mult = static_cast<int>(orbit.size());
    if (row.file_mult && row.file_mult != mult)
      out.warnings.push_back(file + ":" + std::to_string(row.line) + ": site " + row.label + " has multiplicity " +
                             std::to_string(mult) + " after expansion, the file says " + std::to_string(row.file_mult));
    for (const auto& f : orbit) {
      Placed* host = nullptr;
      std::size_t best = placed.size();
      bins.visit(f, [&](std::size_t k) {
        if (k < best && close(f, placed[k].site.frac, opt.merge_tolerance)) best = k;
      });
      if (best < placed.size()) host = &placed[best];
      if (host) {
        Site& s = host->site;
        if (s.total_occupancy() + row.sp.occupancy > 1.0 + opt.occupancy_tolerance)
          ctx.fail(row.line, "occupancy sum " + std::to_string(s.total_occupancy() + row.sp.occupancy) +
                                 " > 1 on the site shared by " + s.label + " and " + row.label +
                                 " (atoms coincide after symmetry expansion)");
        bool merged = false;
        for (auto& sp : s.species)
          if (sp.z == row.sp.z && sp.oxidation == row.sp.oxidation) {
            sp.occupancy += row.sp.occupancy;
            merged = true;
          }
        if (!merged) s.species.push_back(row.sp);
        if (("/" + s.label + "/").find("/" + row.label + "/") == std::string::npos) s.label += "/" + row.label;
        continue;
      }
      Site s;
      s.frac = f;
      s.species.push_back(row.sp);
      s.label = row.label;
      s.multiplicity = mult;
      s.wyckoff = row.wyckoff.empty() ? std::string() : (std::isdigit(static_cast<unsigned char>(row.wyckoff[0]))
                                                             ? row.wyckoff
                                                             : std::to_string(mult) + row.wyckoff);
      bins.insert(placed.size(), f);
      placed.push_back({std::move(s), row.line});
    }
  }
  // Clamp rounding excess (sum within tolerance above 1).
  for (auto& p : placed) {
    const double t = p.site.total_occupancy();
    if (t > 1.0)
      for (auto& sp : p.site.species) sp.occupancy /= t;
  }
  // Full atoms on top of each other (beyond the merge tolerance but unphysically close).
  for (std::size_t i = 0; i < placed.size(); ++i)
    bins.visit(placed[i].site.frac, [&](std::size_t j) {
      if (j <= i) return;
      const double occ = placed[i].site.total_occupancy() + placed[j].site.total_occupancy();
      if (occ <= 1.0 + opt.occupancy_tolerance) return;
      if (!close(placed[i].site.frac, placed[j].site.frac, opt.clash_distance)) return;
      const double d = periodic_distance(lat, placed[i].site.frac, placed[j].site.frac);
      {
        std::ostringstream os;
        os << "atoms " << placed[i].site.label << " and " << placed[j].site.label << " coincide after symmetry expansion ("
           << d << " Å apart, occupancies sum to " << occ << ")";
        ctx.fail(placed[j].line, os.str());
      }
    });

  out.structure = Structure(lat);
  for (auto& p : placed) {
    try {
      out.structure.add_site(std::move(p.site));
    } catch (const ValueError& e) {
      ctx.fail(p.line, e.what());
    }
  }
  return out;
}

/// Reads a CIF file with its symmetry metadata and warnings.
inline CifData read_cif_data(const std::string& path, const CifOptions& opt = {}) {
  return parse_cif(detail::read_text_file(path), path, opt);
}

/// Reads a CIF file into a Structure (the full conventional cell, disordered sites kept).
inline Structure read_cif(const std::string& path, const CifOptions& opt = {}) {
  return read_cif_data(path, opt).structure;
}

namespace detail {
inline std::string cif_type_symbol(const SiteSpecies& sp) {
  std::string s = element_symbol(sp.z);
  if (sp.oxidation) {
    const double q = *sp.oxidation;
    std::ostringstream os;
    os << std::abs(q) << (q < 0 ? "-" : "+");
    s += os.str();
  }
  return s;
}
inline std::string cif_quote(const std::string& s) {
  if (s.empty()) return "''";
  const std::string low = to_lower(s.substr(0, 5));
  const bool reserved = s == "?" || s == "." || low == "data_" || low == "loop_" || low == "save_" ||
                        to_lower(s) == "global_" || to_lower(s) == "stop_";
  if (!reserved && s.find_first_of(" \t\r\n") == std::string::npos && std::string("_#$'\";[]").find(s[0]) == std::string::npos)
    return s;
  if (s.find('\'') == std::string::npos) return "'" + s + "'";
  return "\"" + s + "\"";
}
}  // namespace detail

/// Writes a Structure as a P1 CIF (every site listed; a mixed site becomes one row per species
/// at the same position, as pymatgen writes it). Oxidation states go to _atom_type_.
inline void write_cif(std::ostream& out, const Structure& s, const std::string& block_name = {}) {
  using namespace detail;
  std::string name;
  for (char ch : block_name.empty() ? s.formula() : block_name)
    if (!std::isspace(static_cast<unsigned char>(ch))) name.push_back(ch);
  const auto len = s.lattice().lengths();
  const auto ang = s.lattice().angles();
  out << "# generated by nernst\n";
  out << "data_" << (name.empty() ? "structure" : name) << "\n";
  out << "_symmetry_space_group_name_H-M   'P 1'\n_symmetry_Int_Tables_number   1\n";
  out << std::setprecision(12);
  out << "_cell_length_a   " << len[0] << "\n_cell_length_b   " << len[1] << "\n_cell_length_c   " << len[2] << "\n";
  out << "_cell_angle_alpha   " << ang[0] << "\n_cell_angle_beta   " << ang[1] << "\n_cell_angle_gamma   " << ang[2]
      << "\n";
  out << "_cell_volume   " << s.lattice().volume() << "\n";
  out << "loop_\n _symmetry_equiv_pos_site_id\n _symmetry_equiv_pos_as_xyz\n  1  'x, y, z'\n";
  std::map<std::string, double> types;
  for (const auto& site : s.sites())
    for (const auto& sp : site.species)
      if (sp.oxidation) types[cif_type_symbol(sp)] = *sp.oxidation;
  if (!types.empty()) {
    out << "loop_\n _atom_type_symbol\n _atom_type_oxidation_number\n";
    for (const auto& [t, q] : types) out << "  " << t << "  " << q << "\n";
  }
  out << "loop_\n _atom_site_type_symbol\n _atom_site_label\n _atom_site_symmetry_multiplicity\n"
         " _atom_site_fract_x\n _atom_site_fract_y\n _atom_site_fract_z\n _atom_site_occupancy\n";
  std::set<std::string> used;
  std::size_t k = 0;
  for (const auto& site : s.sites()) {
    // Split "Li2/Y3" labels back over the species when the counts match.
    std::vector<std::string> labels;
    {
      std::stringstream ls(site.label);
      std::string part;
      while (std::getline(ls, part, '/')) labels.push_back(part);
    }
    for (std::size_t q = 0; q < site.species.size(); ++q) {
      const auto& sp = site.species[q];
      std::string label = labels.size() == site.species.size() ? labels[q] : std::string();
      if (label.empty()) label = std::string(element_symbol(sp.z)) + std::to_string(k);
      // CIF labels are unique: the images of an expanded orbit become Li1, Li1_2, Li1_3, ...
      for (int dup = 2; used.count(label); ++dup) label = labels.size() == site.species.size() && !labels[q].empty()
                                                                ? labels[q] + "_" + std::to_string(dup)
                                                                : label + "_";
      used.insert(label);
      out << "  " << cif_quote(cif_type_symbol(sp)) << "  " << cif_quote(label) << "  1  " << std::setprecision(12)
          << site.frac[0] << "  " << site.frac[1] << "  " << site.frac[2] << "  " << sp.occupancy << "\n";
      ++k;
    }
  }
}

inline void write_cif(const std::string& path, const Structure& s, const std::string& block_name = {}) {
  std::ofstream f(path);
  if (!f) throw IOError("cannot open '" + path + "' for writing");
  write_cif(f, s, block_name);
  if (!f) throw IOError("error writing '" + path + "'");
}

}  // namespace io
NERNST_NAMESPACE_END
