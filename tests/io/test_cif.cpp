#include "io_test_support.hpp"

#include <nernst/io/cif.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

using namespace nernst;

namespace {

std::filesystem::path structures() { return nernst_test::shared_dir() / "structures"; }

/// "Li6 In2.03 Cl12" -> {3: 6, 49: 2.03, 17: 12} (the file's own formula, an independent record).
std::map<int, double> parse_formula_sum(const std::string& s) {
  std::map<int, double> m;
  std::stringstream ss(s);
  std::string tok;
  while (ss >> tok) {
    std::size_t i = 0;
    while (i < tok.size() && std::isalpha(static_cast<unsigned char>(tok[i]))) ++i;
    m[atomic_number(tok.substr(0, i))] += i < tok.size() ? std::stod(tok.substr(i)) : 1.0;
  }
  return m;
}

void check_composition(const Structure& s, const std::map<int, double>& want) {
  const auto got = s.composition();
  REQUIRE(got.size() == want.size());
  for (const auto& entry : want) {  // no structured binding: doctest's INFO/CAPTURE capture it (nvcc refuses)
    const auto& z = entry.first;
    const auto& n = entry.second;
    INFO(element_symbol(z));
    REQUIRE(got.count(z));
    CHECK(got.at(z) == doctest::Approx(n).epsilon(1e-9));
  }
}

/// Every site's multiplicity must equal the count of sites that carry its label.
void check_multiplicities(const Structure& s) {
  std::map<std::string, int> count;
  for (const auto& site : s.sites()) ++count[site.label];
  for (const auto& site : s.sites()) {
    INFO(site.label);
    CHECK(site.multiplicity == count[site.label]);
  }
}

const Site* find_label(const Structure& s, const std::string& label) {
  for (const auto& site : s.sites())
    if (site.label == label) return &site;
  return nullptr;
}

double occ_of(const Site& s, int z) {
  double o = 0;
  for (const auto& sp : s.species)
    if (sp.z == z) o += sp.occupancy;
  return o;
}

std::string formula_sum_of(const std::string& path) {
  auto blocks = io::detail::parse_cif_text(io::detail::read_text_file(path), path);
  return blocks.at(0).item("_chemical_formula_sum")->text;
}

std::set<std::string> op_keys(const std::vector<io::SymOp>& ops) {
  std::set<std::string> keys;
  for (const auto& op : ops) {
    std::ostringstream os;
    for (int i = 0; i < 9; ++i) os << op.rotation(i / 3, i % 3) << ' ';
    for (int k = 0; k < 3; ++k) os << ' ' << std::lround(12 * (op.translation[k] - std::floor(op.translation[k] + 1e-9)));
    keys.insert(os.str());
  }
  return keys;
}

}  // namespace

TEST_CASE("cif: Li3YCl6 P-3m1 (Schlem 2021) formula, multiplicities, occupancies") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto path = (structures() / "Li3YCl6_P-3m1_Schlem2021_obelix-ei3.cif").string();
  const auto d = io::read_cif_data(path);
  CHECK(d.warnings.empty());
  CHECK(d.operations.size() == 12);
  const Structure& s = d.structure;
  check_composition(s, parse_formula_sum(formula_sum_of(path)));
  CHECK(s.size() == 6 + 6 + 2 + 2 + 1 + 3 * 6);
  check_multiplicities(s);
  CHECK(find_label(s, "Li0")->multiplicity == 6);
  CHECK(find_label(s, "Y4")->multiplicity == 1);
  CHECK(find_label(s, "Y2")->species[0].occupancy == doctest::Approx(0.56592));
  CHECK(!s.is_ordered());
  // Lattice from the cell parameters (hexagonal).
  const auto ang = s.lattice().angles();
  CHECK(ang[2] == doctest::Approx(120.0));
  CHECK(s.lattice().volume() == doctest::Approx(std::stod(io::detail::parse_cif_text(io::detail::read_text_file(path), path)[0]
                                                              .item("_cell_volume")->text))
                                     .epsilon(1e-7));
}

TEST_CASE("cif: Li3InCl6 C2/m (Li 2019): In/vacancy disorder") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto path = (structures() / "Li3InCl6_C2m_Li2019_obelix-de5.cif").string();
  const auto d = io::read_cif_data(path);
  CHECK(d.warnings.empty());
  check_composition(d.structure, parse_formula_sum(formula_sum_of(path)));
  CHECK(d.structure.size() == 4 + 2 + 4 + 2 + 8 + 4);
  check_multiplicities(d.structure);
  CHECK(find_label(d.structure, "In3")->species[0].occupancy == doctest::Approx(0.875));
}

TEST_CASE("cif: Li3YBr6 C2/m: mixed Li/Y sites") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto path = (structures() / "Li3YBr6_C2m_Schlem2021_obelix-elz.cif").string();
  const auto d = io::read_cif_data(path);
  CHECK(d.warnings.empty());
  const Structure& s = d.structure;
  check_composition(s, parse_formula_sum(formula_sum_of(path)));
  CHECK(s.size() == 8 + 4 + 4 + 2 + 8 + 4);  // Li2/Y3 and Y4/Li5 share sites
  check_multiplicities(s);
  const Site* m = find_label(s, "Li2/Y3");
  REQUIRE(m);
  CHECK(m->species.size() == 2);
  CHECK(occ_of(*m, 3) == doctest::Approx(0.75378));
  CHECK(occ_of(*m, 39) == doctest::Approx(0.11935));
  const Site* m2 = find_label(s, "Y4/Li5");
  REQUIRE(m2);
  CHECK(m2->multiplicity == 2);
  CHECK(m2->total_occupancy() == doctest::Approx(0.76129 + 0.0456));
}

TEST_CASE("cif: Li3YCl3Br3 (GEMDAT, GSAS-II): Cl/Br mixing, su numbers, near-coincident Li/Y") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto d = io::read_cif_data((structures() / "Li3YCl3Br3_C2m_GEMDAT.cif").string());
  CHECK(d.warnings.empty());
  CHECK(d.symmetry_source == "_space_group_symop_operation_xyz");
  const Structure& s = d.structure;
  check_composition(s, {{3, 6.0}, {39, 2.0}, {17, 6.0}, {35, 6.0}});
  CHECK(s.size() == 8 + 4 + 4 + 4 + 2 + 8);
  check_multiplicities(s);
  const auto len = s.lattice().lengths();
  CHECK(len[0] == doctest::Approx(6.752));  // "6.752(6)": uncertainty stripped
  CHECK(s.lattice().angles()[1] == doctest::Approx(109.774));
  const Site* halide = find_label(s, "Br1/Cl6");
  REQUIRE(halide);
  CHECK(occ_of(*halide, 17) == doctest::Approx(0.5));
  CHECK(occ_of(*halide, 35) == doctest::Approx(0.5));
  const Site* liy = find_label(s, "Li2/Y9");  // 4e-5 apart in y: one site
  REQUIRE(liy);
  CHECK(liy->multiplicity == 4);
  CHECK(occ_of(*liy, 3) == doctest::Approx(0.26));
  CHECK(occ_of(*liy, 39) == doctest::Approx(0.195));
}

TEST_CASE("cif: spglib database operations equal the files' explicit operations") {
  NERNST_REQUIRE_SHARED_DATA();
  for (const char* f : {"Li3YCl6_P-3m1_Schlem2021_obelix-ei3.cif", "Li3YBr6_C2m_Schlem2021_obelix-elz.cif",
                        "Li3YCl3Br3_C2m_GEMDAT.cif"}) {
    INFO(f);
    const auto d = io::read_cif_data((structures() / f).string());
    const int hall = io::detail::hall_from_hm(d.space_group_symbol);
    REQUIRE(hall > 0);
    CHECK(op_keys(io::detail::symops_from_hall(hall)) == op_keys(d.operations));
    if (d.space_group_number) {
      CHECK(op_keys(io::detail::symops_from_hall(io::detail::hall_from_number(d.space_group_number))) ==
            op_keys(d.operations));
    }
  }
}

TEST_CASE("cif: symmetry from symbol, number or Hall symbol; syntax corners") {
  const std::string head =
      "# comment\n"
      "data_NaCl\n"
      "_cell_length_a 5.64(1)\n_cell_length_b 5.64\n_cell_length_c 5.64\n"
      "_cell_angle_alpha 90\n_cell_angle_beta 90.0\n_cell_angle_gamma 90\n"
      "_publ_section_title\n;\n Rock salt; a 'test' with # no comment\n;\n"
      "_journal_name 'Phys. Rev.  B'\n_note \"it's fine\"\n_unknown ?\n";
  const std::string atoms =
      "loop_\n_atom_type_symbol\n_atom_type_oxidation_number\nNa1+ 1\nCl1- -1\n"
      "loop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n"
      "_atom_site_fract_z\n_atom_site_occupancy\n_atom_site_Wyckoff_symbol\n"
      "Na1 Na1+ 0 0 0 1.0 a\nCl1 Cl1- 0.5 0.5 0.5(0) . b\n";
  for (const std::string sym : {"_symmetry_space_group_name_H-M 'F m -3 m'\n", "_space_group_IT_number 225\n",
                                "_symmetry_space_group_name_Hall '-F 4 2 3'\n", "_space_group_name_H-M_alt 'Fm-3m'\n"}) {
    INFO(sym);
    const auto d = io::parse_cif(head + sym + atoms, "nacl.cif");
    CHECK(d.operations.size() == 192);
    const Structure& s = d.structure;
    CHECK(s.size() == 8);
    CHECK(s.formula() == "Na4Cl4");
    CHECK(s.is_ordered());
    CHECK(s[0].multiplicity == 4);
    CHECK(s[0].wyckoff == "4a");
    REQUIRE(s[0].species[0].oxidation);
    CHECK(*s[0].species[0].oxidation == 1.0);
    CHECK(*s[7].species[0].oxidation == -1.0);
    CHECK(s.lattice().lengths()[0] == doctest::Approx(5.64));
  }
  // No symmetry at all: P1 with a warning.
  const auto p1 = io::parse_cif(head + atoms, "p1.cif");
  CHECK(p1.structure.size() == 2);
  CHECK(p1.warnings.size() == 1);
}

TEST_CASE("cif: symmetry-operation syntax") {
  std::string why;
  auto op = io::detail::parse_symop("1/2+x, -Y+x, -z+0.25", why);
  REQUIRE(op);
  CHECK(op->rotation(0, 0) == 1);
  CHECK(op->rotation(1, 0) == 1);
  CHECK(op->rotation(1, 1) == -1);
  CHECK(op->rotation(2, 2) == -1);
  CHECK(op->translation[0] == doctest::Approx(0.5));
  CHECK(op->translation[2] == doctest::Approx(0.25));
  for (const char* bad : {"x,y", "x,y,z,x", "x,y,w", "x,x,z", "x,y,1/0+z", "x+,y,z", ""}) {
    INFO(bad);
    CHECK_FALSE(io::detail::parse_symop(bad, why));
  }
}

TEST_CASE("cif: round trip through write_cif keeps mixed sites, labels and oxidation states") {
  NERNST_REQUIRE_SHARED_DATA();
  const Structure s = io::read_cif((structures() / "Li3YBr6_C2m_Schlem2021_obelix-elz.cif").string());
  Structure so = s;
  so[0].species[0].oxidation = 1.0;
  std::ostringstream os;
  io::write_cif(os, so);
  const Structure r = io::parse_cif(os.str(), "roundtrip.cif").structure;
  REQUIRE(r.size() == so.size());
  for (std::size_t i = 0; i < r.size(); ++i) {
    INFO(i);
    CHECK((r[i].frac - so[i].frac).norm() < 1e-10);
    // Labels stay unique in P1: the first image keeps the label, later ones get a suffix.
    std::string stem;
    for (std::size_t c = 0; c < r[i].label.size(); ++c) {
      if (r[i].label[c] == '_')
        while (c + 1 < r[i].label.size() && std::isdigit(static_cast<unsigned char>(r[i].label[c + 1]))) ++c;
      else
        stem.push_back(r[i].label[c]);
    }
    CHECK(stem == so[i].label);
    REQUIRE(r[i].species.size() == so[i].species.size());
    for (std::size_t k = 0; k < r[i].species.size(); ++k) {
      CHECK(r[i].species[k].z == so[i].species[k].z);
      CHECK(r[i].species[k].occupancy == doctest::Approx(so[i].species[k].occupancy).epsilon(1e-12));
      CHECK(r[i].species[k].oxidation == so[i].species[k].oxidation);
    }
  }
  CHECK((r.lattice().matrix() - so.lattice().matrix()).norm() < 1e-9);
}

TEST_CASE("cif: malformed input names file, line and problem") {
  const std::string cell =
      "data_x\n_cell_length_a 4\n_cell_length_b 4\n_cell_length_c 4\n"
      "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n";  // lines 1-7
  const std::string loop_head =
      "loop_\n_atom_site_label\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n_atom_site_occupancy\n";
  using Case = nernst_test::MalformedCase;
  const std::vector<Case> cases = {
      {cell + loop_head + "Li1 0 0 0 0.7\nLi2 0 0 0 0.6\n", 15, "occupancy sum"},
      {cell + loop_head + "Xx1 0 0 0 1\n", 14, "unknown element"},
      {cell + loop_head + "Li1 0 0 0 1\nCl1 0.01 0 0 1\n", 15, "coincide"},
      {cell + loop_head + "Li1 0 0 0 1\nCl1 0.5 0.5\n", 15, "column count"},
      {cell + loop_head + "Li1 0 0 abc 1\n", 14, "expected a number"},
      {cell + loop_head + "Li1 0 0 0 1.5\n", 14, "occupancy of Li1"},
      {cell + "_note\n;\nnever closed\n", 9, "unterminated"},
      {cell + "_note 'open\n", 8, "unterminated"},
      {"data_x\n_cell_length_a 4\n_cell_length_b 4\n_cell_length_c 4\n_cell_angle_alpha 120\n"
       "_cell_angle_beta 120\n_cell_angle_gamma 120\n" + loop_head + "Li1 0 0 0 1\n",
       2, "singular cell"},
      {"_cell_length_a 4\n", 1, "before the first data_"},
      {cell + loop_head + "Li1 0 0 0 1\n_symmetry_equiv_pos_as_xyz 'x,y,q'\n", 15, "malformed symmetry"},
      {cell + "loop_\n_atom_site_label\n_atom_site_fract_y\nLi 0\n", 8, "no _atom_site_fract_x"},
      {"", 0, "no data_ block"},
  };
  nernst_test::check_malformed(cases, "bad.cif", [](const std::string& text, const std::string& file) { io::parse_cif(text, file); });
}

TEST_CASE("cif: a large expansion stays fast (binned merging, no quadratic search)") {
  // 300 general positions in Fm-3m (192 operations) in a 60 Å cell: 57,600 sites.
  std::ostringstream os;
  os << "data_big\n_cell_length_a 60\n_cell_length_b 60\n_cell_length_c 60\n"
        "_symmetry_space_group_name_H-M 'F m -3 m'\nloop_\n_atom_site_label\n_atom_site_fract_x\n"
        "_atom_site_fract_y\n_atom_site_fract_z\n_atom_site_occupancy\n";
  std::uint64_t state = 12345;
  auto rnd = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return 0.02 + 0.2 * static_cast<double>(state >> 11) / 9007199254740992.0;  // inside the asymmetric wedge region
  };
  for (int k = 0; k < 300; ++k) os << "Li" << k << ' ' << rnd() << ' ' << rnd() << ' ' << rnd() << " 0.01\n";
  const auto t0 = std::chrono::steady_clock::now();
  const auto d = io::parse_cif(os.str(), "big.cif");
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("expanded " << d.structure.size() << " sites in " << sec << " s");
  CHECK(d.structure.size() > 50000);
  check_multiplicities(d.structure);  // every orbit complete, no image lost or duplicated
}
