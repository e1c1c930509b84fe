// The composition series (enumerate/substitution.hpp, composition_series.hpp,
// series_analysis.hpp, series_report.hpp): composition plans, the number of distinct orderings
// of a substitution against a brute-force orbit count with the supercell's own spglib group,
// Ewald energies against the direct Ewald sum, the hull / E_hull against a brute-force binary
// hull, the ΔE table against per-parent minima, resume per composition, the training set.
#include "../test_support.hpp"

#include <nernst/enumerate/series_report.hpp>
#include <nernst/io/cif.hpp>
#include <nernst/potential/rigid_ion.hpp>

#include <algorithm>
#include <bitset>
#include <fstream>
#include <set>

using namespace nernst;
using namespace nernst::enumerate;

namespace {

constexpr int Li = 3, Cl = 17, Br = 35, Y = 39;

Structure lyc() {
  return io::read_cif((nernst_test::shared_dir() / "structures" / "Li3YCl6_P-3m1_Schlem2021_obelix-ei3.cif").string());
}

/// Rock-salt LiCl, conventional cell.
Structure rocksalt() {
  Structure s(Lattice(Eigen::Matrix3d::Identity() * 5.13));
  const double f[4][3] = {{0, 0, 0}, {0, 0.5, 0.5}, {0.5, 0, 0.5}, {0.5, 0.5, 0}};
  for (const auto& p : f) {
    s.add_site(Li, Eigen::Vector3d(p[0], p[1], p[2]));
    s.add_site(Cl, Eigen::Vector3d(p[0] + 0.5, p[1], p[2]));
  }
  return s;
}

/// The ordered sites of LYC only (Y4 and the three Cl orbits): an ordered parent, 18 Cl.
Structure lyc_ordered_sites() {
  const Structure s = lyc();
  Structure o(s.lattice());
  for (const auto& st : s.sites())
    if (st.is_ordered()) o.add_site(st.species[0].z, st.frac);
  return o;
}

/// `s` with one label per atom ("Cl_7"), as a P1 file of an ordering (nernst's own output, a
/// relaxed cell) has: the labels must not hide the parent's symmetry from the enumerator.
Structure with_unique_labels(const Structure& s) {
  Structure o(s.lattice());
  for (std::size_t i = 0; i < s.size(); ++i)
    o.add_site(s[i].species[0].z, s[i].frac, std::string(element_symbol(s[i].species[0].z)) + "_" + std::to_string(i));
  return o;
}

/// The diagonal supercell d of s, built directly (not through the enumerator).
Structure supercell(const Structure& s, const Eigen::Vector3i& d) {
  Eigen::Matrix3d m = s.lattice().matrix();
  for (int i = 0; i < 3; ++i) m.row(i) *= d[i];
  Structure out{Lattice(m)};
  for (int a = 0; a < d[0]; ++a)
    for (int b = 0; b < d[1]; ++b)
      for (int c = 0; c < d[2]; ++c)
        for (const auto& st : s.sites()) {
          const Eigen::Vector3d f = (st.frac + Eigen::Vector3d(a, b, c)).cwiseQuotient(d.cast<double>());
          out.add_site(st.species[0].z, f);
        }
  return out;
}

/// Index of the site of `sites` at fractional position f (mod 1), or -1.
int find_site(const std::vector<Eigen::Vector3d>& sites, const Eigen::Vector3d& f) {
  for (std::size_t i = 0; i < sites.size(); ++i) {
    Eigen::Vector3d d = sites[i] - f;
    for (int k = 0; k < 3; ++k) d[k] -= std::round(d[k]);
    if (d.norm() < 1e-4) return static_cast<int>(i);
  }
  return -1;
}

/// The A sites of a supercell and spglib's group of that supercell as permutations of them:
/// the brute-force side, independent of the enumerator's parent group × translations.
struct SubsetOrbits {
  std::vector<Eigen::Vector3d> asites;
  std::vector<std::vector<int>> perms;

  SubsetOrbits(const Structure& sc, int a) {
    std::vector<Eigen::Vector3d> frac;
    std::vector<int> types;
    for (const auto& st : sc.sites()) {
      frac.push_back(st.frac);
      types.push_back(st.species[0].z);
      if (st.species[0].z == a) asites.push_back(st.frac);
    }
    for (const auto& op : symmetry::get_symmetry_operations(sc.lattice(), frac, types, 1e-3)) {
      std::vector<int> p;
      for (const auto& f : asites) p.push_back(find_site(asites, op.apply(f)));
      REQUIRE(std::find(p.begin(), p.end(), -1) == p.end());
      perms.push_back(p);
    }
    REQUIRE(asites.size() <= 24);
  }
  /// The smallest image of a subset (bit i: A site i substituted) under the group.
  std::uint64_t canonical(std::uint64_t m) const {
    std::uint64_t best = m;
    for (const auto& p : perms) {
      std::uint64_t img = 0;
      for (std::size_t i = 0; i < p.size(); ++i)
        if (m >> i & 1ULL) img |= 1ULL << p[i];
      best = std::min(best, img);
    }
    return best;
  }
  /// Every orbit of the k-subsets, as its canonical mask.
  std::set<std::uint64_t> orbits(int k) const {
    std::set<std::uint64_t> reps;
    for (std::uint64_t m = 0; m < (1ULL << asites.size()); ++m)
      if (static_cast<int>(std::bitset<64>(m).count()) == k) reps.insert(canonical(m));
    return reps;
  }
  /// The canonical mask of an enumerated configuration (B atoms at A sites; the enumerator's
  /// supercell of a diagonal HNF has the same lattice, so positions map directly).
  std::uint64_t mask_of(const Structure& config, int b) const {
    std::uint64_t m = 0;
    for (const auto& st : config.sites())
      if (st.species[0].z == b) {
        const int i = find_site(asites, st.frac);
        REQUIRE(i >= 0);
        m |= 1ULL << i;
      }
    return canonical(m);
  }
};

SeriesOptions options(const std::string& spec, const Eigen::Vector3i& d = Eigen::Vector3i(1, 1, 1)) {
  SeriesOptions o;
  o.substitution = parse_substitution(spec);
  o.supercell = IMat3::Zero();
  for (int i = 0; i < 3; ++i) o.supercell(i, i) = d[i];
  o.ordering.mode = OccupancyMode::PerElement;
  return o;
}

const std::map<int, double> kCharges{{Li, 1}, {Y, 3}, {Cl, -1}, {Br, -1}};

/// A rigid-ion model that tells Br from Cl (the formal charges do not): the Li-Y-Cl
/// Tosi-Fumi set of rigid_ion.hpp with Br pairs of the Tosi-Fumi radius 1.716 Å. A test model.
RigidIonParameters li_y_cl_br_rigid_ion() {
  RigidIonParameters p = li_y_cl_rigid_ion();
  constexpr double rho = 0.342, sLi = 0.816, sCl = 1.585, sBr = 1.716, sY = 1.37, mayer = 0.62415;
  p.ewald.charges[Br] = -1.0;
  p.short_range.set(Li, Br, tosi_fumi_pair(sLi, sBr, rho, 1.375, 2.5 * mayer));
  p.short_range.set(Br, Br, tosi_fumi_pair(sBr, sBr, rho, 0.75, 185.0 * mayer));
  p.short_range.set(Cl, Br, tosi_fumi_pair(sCl, sBr, rho, 0.75, 140.0 * mayer));
  p.short_range.set(Y, Br, tosi_fumi_pair(sY, sBr, rho, 1.25, 0.0));
  return p;
}

/// Direct Ewald energy of a structure with the formal charges.
double direct_ewald(const Structure& s) {
  std::vector<Eigen::Vector3d> r;
  std::vector<double> q;
  for (std::size_t i = 0; i < s.size(); ++i) r.push_back(s.cart(i)), q.push_back(kCharges.at(s[i].species[0].z));
  return ewald_sum(s.lattice(), r, q, EwaldParameters{}, false, false).energy;
}

}  // namespace

TEST_CASE("series: parsing the substitution and the composition plan") {
  const auto s = parse_substitution("Cl:Br=0..1:0.0833");
  CHECK(s.a == Cl);
  CHECK(s.b == Br);
  REQUIRE(s.fractions.size() == 13);
  // N = 18 (LYC 1x1x1): x = i/12 is k/18 only for even i (k = 1.5 i).
  const auto skip = plan_compositions(s, 18, CompositionRounding::Skip);
  REQUIRE(skip.used.size() == 7);
  CHECK(skip.skipped.size() == 6);
  for (std::size_t i = 0; i < skip.used.size(); ++i) CHECK(skip.used[i].count == static_cast<long>(3 * i));
  for (const auto& c : skip.skipped) CHECK(c.how.find("not representable") != std::string::npos);
  // Nearest: k = round(1.5 i) (half away from zero, after the 0.0833 approximation of 1/12).
  const auto near = plan_compositions(s, 18, CompositionRounding::Nearest);
  std::vector<long> want;
  for (int i = 0; i <= 12; ++i) {
    const long k = std::lround(0.0833 * i * 18);
    if (std::find(want.begin(), want.end(), k) == want.end()) want.push_back(k);
  }
  REQUIRE(near.used.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) CHECK(near.used[i].count == want[i]);
  // N = 36 (1x1x2): every twelfth is representable.
  const auto all = plan_compositions(s, 36, CompositionRounding::Skip);
  CHECK(all.used.size() == 13);
  CHECK(all.skipped.empty());
  // Explicit counts, duplicates once.
  const auto ex = plan_compositions(parse_substitution("Cl:Br=36,30,24,30"), 36, CompositionRounding::Skip);
  REQUIRE(ex.used.size() == 3);
  CHECK(ex.used[1].count == 30);
  CHECK(ex.used[1].x() == doctest::Approx(30.0 / 36));
  CHECK(ex.skipped.size() == 1);
  CHECK_THROWS_AS(plan_compositions(parse_substitution("Cl:Br=37"), 36, CompositionRounding::Skip), ValueError);
  for (const char* bad : {"Cl:Br", "ClBr=0..1:0.5", "Cl:Xx=0..1:0.5", "Cl:Cl=0..1:0.5", "Cl:Br=0..1:0", "Cl:Br=0..2:0.5",
                          "Cl:Br=1..0:0.5", "Cl:Br=0..1:a", "Cl:Br=1.5", "Cl:Br=-1", "Cl:Br="})
    CHECK_THROWS_AS(parse_substitution(bad), ValueError);
  CHECK(parse_composition_rounding("nearest") == CompositionRounding::Nearest);
  CHECK_THROWS_AS(parse_composition_rounding("up"), ValueError);
}

TEST_CASE("series: substituted structures and their atom counts") {
  NERNST_REQUIRE_SHARED_DATA();
  const Structure p = lyc();
  CHECK(sublattice_sites(p, Cl, Br).size() == 18);
  CHECK(sublattice_sites(p, Br, Cl).size() == 18);  // the sublattice is A's or B's sites
  CHECK_THROWS_AS(sublattice_sites(p, Li, 11), ValueError);  // Li is on partially occupied sites
  CHECK_THROWS_AS(sublattice_sites(p, 9, 53), ValueError);   // neither F nor I in LYC
  const Structure s = substitute(p, Cl, Br, SeriesComposition{0.5, 6, 18, "exact"});
  OrderingOptions oo;
  oo.mode = OccupancyMode::PerElement;
  const OrderingModel m(s, oo);
  std::map<std::string, long> used;
  for (const auto& it : m.items(1)) used[it.name] = it.used;
  CHECK(used["Br"] == 6);
  CHECK(used["Cl"] == 12);
  CHECK(used["Li"] == 9);
  CHECK(used["Y"] == 2);  // the 2 partially occupied Y of the disordered 2d sites (Y4 is ordered)
  const auto items2 = m.items(2);
  for (const auto& it : items2)
    if (it.name == "Br") CHECK(it.used == 12);
}

TEST_CASE("series: distinct orderings equal a brute-force orbit count (rock salt 2x1x1, LYC ordered sites; also with one label per atom)") {
  NERNST_REQUIRE_SHARED_DATA();
  struct Case {
    Structure parent;
    Eigen::Vector3i d;
  };
  for (const Case& cs : {Case{rocksalt(), Eigen::Vector3i(2, 1, 1)}, Case{lyc_ordered_sites(), Eigen::Vector3i(1, 1, 1)},
                         Case{with_unique_labels(rocksalt()), Eigen::Vector3i(2, 1, 1)},
                         Case{with_unique_labels(lyc_ordered_sites()), Eigen::Vector3i(1, 1, 1)}}) {
    const Structure sc = supercell(cs.parent, cs.d);
    const SubsetOrbits orbits(sc, Cl);
    long n_cl = 0;
    for (const auto& st : sc.sites()) n_cl += st.species[0].z == Cl;
    SeriesOptions o = options("Cl:Br=0..1:0.001", cs.d);
    o.rounding = CompositionRounding::Skip;
    const SeriesParent parent{"p", cs.parent};
    const auto plan = series_plan(parent, o);
    REQUIRE(plan.used.size() == static_cast<std::size_t>(n_cl + 1));
    const auto all = ewald_series_ranker(1000000, kCharges);
    for (const auto& c : plan.used) {
      if (n_cl > 12 && c.count > 6 && c.count < n_cl - 6) continue;  // keep the brute force to seconds
      const auto r = run_composition(parent, c, o, all);
      const auto reps = orbits.orbits(static_cast<int>(c.count));
      INFO("parent atoms " << cs.parent.size() << ", k = " << c.count);
      CHECK(r.orderings == reps.size());
      REQUIRE(r.configs.size() == reps.size());
      std::set<std::uint64_t> got;
      for (const auto& cf : r.configs) got.insert(orbits.mask_of(cf.structure, Br));
      CHECK(got == reps);
    }
  }
}

TEST_CASE("series: Ewald ranking equals the direct Ewald sum of every ordering, sorted") {
  NERNST_REQUIRE_SHARED_DATA();
  const SeriesParent parent{"lyc", lyc()};
  SeriesOptions o = options("Cl:Br=1");
  const auto c = series_plan(parent, o).used.at(0);
  const auto all = run_composition(parent, c, o, ewald_series_ranker(1000000, kCharges));
  const auto top = run_composition(parent, c, o, ewald_series_ranker(10, kCharges));
  REQUIRE(all.configs.size() == all.orderings);
  std::vector<std::pair<double, std::uint64_t>> ref;
  for (const auto& cf : all.configs) {
    const double e = direct_ewald(cf.structure);
    CHECK(cf.energy == doctest::Approx(e).epsilon(1e-8));
    ref.emplace_back(e / cf.atoms(), cf.ordering);
  }
  std::stable_sort(ref.begin(), ref.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  REQUIRE(top.configs.size() == 10);
  for (std::size_t i = 0; i < 10; ++i) CHECK(top.configs[i].energy_per_atom() == doctest::Approx(ref[i].first).epsilon(1e-9));
}

TEST_CASE("series: LYC 1x1x1 Cl->Br end to end (hull, E_hull, ΔE, resume, training set, outputs)") {
  NERNST_REQUIRE_SHARED_DATA();
  const Structure p = lyc();
  // Static rigid-ion energies (Li-Y-Cl-Br), the 3 lowest per composition. Parent 2: the lowest
  // ordering of LYC 1x1x1 by the same energy, an ordered cell of the same composition.
  auto pot = make_rigid_ion<>(li_y_cl_br_rigid_ion());
  RelaxRankingOptions ro;
  ro.relax_top = 0;
  const auto rank = model_series_ranker(pot, 3, ModelScreenOptions{}, ro, kCharges);
  SeriesOptions o = options("Cl:Br=0,1,17,18");
  o.ranker_fingerprint = "rigid-ion Li-Y-Cl-Br static top 3";
  const auto first = run_composition({"lyc", p}, series_plan({"lyc", p}, o).used.at(0), o, rank);
  const std::vector<SeriesParent> parents{{"P-3m1", p}, {"ordered", first.configs.at(0).structure}};
  nernst_test::TempDir dir("nernst_series");
  o.state_dir = dir.path() / "state";
  const auto results = run_series(parents, o, rank);
  REQUIRE(results.size() == 8);
  // The energies see Br: the best energy per atom changes along the series.
  CHECK(std::abs(results[3].configs[0].energy_per_atom() - results[0].configs[0].energy_per_atom()) > 0.01);
  for (const auto& r : results)
    for (const auto& c : r.configs) {
      auto sys = System<DefaultMemorySpace>::from_structure(c.structure);
      ComputeRequest req;
      req.forces = false;
      CHECK(pot.compute(sys, req).energy == c.energy);
    }

  // Hull and E_hull against a brute-force binary hull over the same entries.
  const SeriesAnalysis a = analyse_series(results);
  REQUIRE(a.has_hull);
  double e0 = 1e300, e1 = 1e300;
  for (const auto& r : results)
    for (const auto& c : r.configs) {
      if (r.composition.count == 0) e0 = std::min(e0, c.energy_per_atom());
      if (r.composition.count == 18) e1 = std::min(e1, c.energy_per_atom());
    }
  std::vector<std::pair<double, double>> xe;  // (x, E_f)
  for (const auto& r : results)
    for (const auto& c : r.configs) {
      const double x = r.composition.x();
      xe.emplace_back(x, c.energy_per_atom() - (1 - x) * e0 - x * e1);
    }
  REQUIRE(xe.size() == a.points.size());
  std::size_t on = 0;
  for (std::size_t i = 0; i < xe.size(); ++i) {
    const double x = xe[i].first;
    double h = 1e300;
    for (const auto& [xi, fi] : xe)
      for (const auto& [xj, fj] : xe) {
        if (xi > x + 1e-12 || xj < x - 1e-12) continue;
        h = std::min(h, xj - xi < 1e-12 ? std::min(fi, fj) : fi + (fj - fi) * (x - xi) / (xj - xi));
      }
    CHECK(a.points[i].x == doctest::Approx(x));
    CHECK(a.points[i].formation == doctest::Approx(xe[i].second).epsilon(1e-12).scale(1));
    CHECK(a.points[i].e_above_hull == doctest::Approx(std::max(0.0, xe[i].second - h)).epsilon(1e-10).scale(1));
    on += a.points[i].on_hull;
  }
  CHECK(on >= 2);

  // ΔE table against the per-parent minima.
  REQUIRE(a.delta.size() == 4);
  CHECK(a.parent1 == "P-3m1");
  for (const auto& d : a.delta) {
    double m1 = 1e300, m2 = 1e300;
    for (const auto& r : results)
      if (std::abs(r.composition.x() - d.x) < 1e-9)
        for (const auto& c : r.configs) (r.parent == "P-3m1" ? m1 : m2) = std::min(r.parent == "P-3m1" ? m1 : m2, c.energy_per_atom());
    CHECK(d.e_b == m1);
    CHECK(d.e_a == m2);
    CHECK(d.delta_meV == doctest::Approx(1000 * (m1 - m2)));
  }
  // Ordered parent at x = 0 is one ordering, the disordered one 124 (docs/enumeration.md).
  CHECK(results[0].orderings == 124);
  CHECK(results[4].orderings == 1);

  // Resume: a rerun reads every composition back, identical.
  const auto again = run_series(parents, o, rank);
  REQUIRE(again.size() == results.size());
  for (std::size_t i = 0; i < again.size(); ++i) {
    CHECK(again[i].reused);
    REQUIRE(again[i].configs.size() == results[i].configs.size());
    for (std::size_t k = 0; k < again[i].configs.size(); ++k) {
      CHECK(again[i].configs[k].energy == results[i].configs[k].energy);
      CHECK(again[i].configs[k].structure.size() == results[i].configs[k].structure.size());
    }
  }
  SeriesOptions other = o;
  other.ranker_fingerprint = "rigid-ion Li-Y-Cl-Br static top 4";
  CHECK_THROWS_AS(run_series(parents, other, model_series_ranker(pot, 4, ModelScreenOptions{}, ro, kCharges)), ValueError);
  {
    std::ofstream(o.state_dir / "compositions" / "P-3m1_k0.json") << "{\"inputs\": 3}";
  }
  CHECK_THROWS_AS(run_series(parents, o, rank), ParseError);

  // Training set: 4 selected, each with 2 strained copies within ±3 %.
  TrainingSetOptions to;
  to.select = 4, to.strained = 2, to.temperature = 3000;
  const auto frames = training_set(results, a, to);
  REQUIRE(frames.size() == 12);
  std::set<std::string> picked;
  for (std::size_t i = 0; i < frames.size(); i += 3) {
    picked.insert(frames[i].info.at("config"));
    const Eigen::Matrix3d h0 = frames[i].structure.lattice().matrix();
    for (int k = 1; k <= 2; ++k) {
      const Eigen::Matrix3d eps = h0.inverse() * frames[i + static_cast<std::size_t>(k)].structure.lattice().matrix() - Eigen::Matrix3d::Identity();
      CHECK(eps.cwiseAbs().maxCoeff() <= 0.03 + 1e-12);
      CHECK((eps - eps.transpose()).norm() < 1e-12);
      CHECK(eps.norm() > 0);
    }
  }
  CHECK(picked.size() == 4);

  // Outputs.
  const auto out = dir.path() / "out";
  const nlohmann::json j = write_series_outputs(out, results, a, to);
  for (const char* f : {"series.json", "table.md", "hull.svg", "delta_e.svg", "training_set.extxyz"})
    CHECK(std::filesystem::exists(out / f));
  CHECK(j["compositions"].size() == 8);
  CHECK(j["delta_e"].size() == 4);
  CHECK(io::read_extxyz_all((out / "training_set.extxyz").string()).size() == 12);
  std::ifstream t(out / "table.md");
  std::string table((std::istreambuf_iterator<char>(t)), std::istreambuf_iterator<char>());
  CHECK(std::count(table.begin(), table.end(), '\n') == 2 + 4 + 2);
}

TEST_CASE("series: a series without an end member has no hull, and says so") {
  NERNST_REQUIRE_SHARED_DATA();
  SeriesOptions o = options("Cl:Br=1,2");
  const auto results = run_series({{"lyc", lyc()}}, o, ewald_series_ranker(2, kCharges));
  const auto a = analyse_series(results);
  CHECK_FALSE(a.has_hull);
  CHECK(a.hull_note.find("x = 0") != std::string::npos);
  CHECK(a.delta.empty());
  CHECK_THROWS_AS(training_set(results, a, {}), ValueError);
}

TEST_CASE("series: ranking by a potential (rigid ion) keeps the lowest relaxed energies") {
  NERNST_REQUIRE_SHARED_DATA();
  auto pot = make_rigid_ion<>();
  SeriesOptions o = options("Cl:Br=0");
  // LYC x = 0 alone (124 orderings) with Br absent: the rigid-ion parameters know Li, Y, Cl.
  ModelScreenOptions so;
  RelaxRankingOptions ro;
  ro.relax_top = 3;
  ro.max_steps = 30;
  nernst_test::TempDir dir("nernst_series_model");
  ro.out_dir = dir.path() / "relaxed";
  const auto results = run_series({{"lyc", lyc()}}, o, model_series_ranker(pot, 2, so, ro, kCharges));
  REQUIRE(results.size() == 1);
  REQUIRE(results[0].configs.size() == 2);
  CHECK(results[0].orderings == 124);
  for (const auto& c : results[0].configs) {
    auto sys = System<DefaultMemorySpace>::from_structure(c.structure);
    ComputeRequest req;
    req.forces = false;
    // The reported energy is the potential's energy of the relaxed structure read back (CIF precision).
    CHECK(pot.compute(sys, req).energy == doctest::Approx(c.energy).epsilon(1e-5));
  }
  CHECK(results[0].configs[0].energy_per_atom() <= results[0].configs[1].energy_per_atom());
}

// ---------------------------------------------------------------------------------------------
// Two substitutions at once: the composition grid and the ternary hull (composition_grid.hpp)

namespace {

constexpr int Na = 11;

/// Rock-salt (Li,Na)(Cl,Br): the Li-Y-Cl-Br test model with Tosi-Fumi Na pairs (σ_Na = 1.170 Å,
/// Pauling factors 1 + z_i/n_i + z_j/n_j). A test model.
RigidIonParameters li_na_cl_br_rigid_ion() {
  RigidIonParameters p = li_y_cl_br_rigid_ion();
  constexpr double rho = 0.342, sLi = 0.816, sNa = 1.170, sCl = 1.585, sBr = 1.716, mayer = 0.62415;
  p.ewald.charges[Na] = 1.0;
  p.short_range.set(Na, Cl, tosi_fumi_pair(sNa, sCl, rho, 1.0, 11.2 * mayer));
  p.short_range.set(Na, Br, tosi_fumi_pair(sNa, sBr, rho, 1.0, 14.5 * mayer));
  p.short_range.set(Na, Na, tosi_fumi_pair(sNa, sNa, rho, 1.25, 1.68 * mayer));
  p.short_range.set(Li, Na, tosi_fumi_pair(sLi, sNa, rho, 1.625, 0.3 * mayer));
  return p;
}

/// The lower hull at (x, y) as the upper envelope of the supporting planes: the largest value
/// at (x, y) of a plane through three points (non-degenerate in (x, y)) that no point lies below.
/// The dual of ConvexHull's "lowest simplex containing the point": an independent computation.
double supporting_plane_hull(const std::vector<std::array<double, 3>>& p, double x, double y) {
  double best = -1e300;
  for (std::size_t i = 0; i < p.size(); ++i)
    for (std::size_t j = i + 1; j < p.size(); ++j)
      for (std::size_t k = j + 1; k < p.size(); ++k) {
        Eigen::Matrix3d A;
        A << 1, p[i][0], p[i][1], 1, p[j][0], p[j][1], 1, p[k][0], p[k][1];
        if (std::abs(A.determinant()) < 1e-9) continue;
        const Eigen::Vector3d c = A.inverse() * Eigen::Vector3d(p[i][2], p[j][2], p[k][2]);  // z = c0 + c1 x + c2 y
        bool below = true;
        for (const auto& q : p) below &= q[2] >= c[0] + c[1] * q[0] + c[2] * q[1] - 1e-10;
        if (below) best = std::max(best, c[0] + c[1] * x + c[2] * y);
      }
  return best;
}

SeriesOptions grid_options() {
  SeriesOptions o = options("Cl:Br=0..1:0.25");
  o.second = parse_substitution("Li:Na=0..1:0.25");
  return o;
}

}  // namespace

TEST_CASE("series grid: the plan, the end-member triangle and its refusals") {
  const GridPlan g = plan_grid(parse_substitution("Cl:Br=0..1:0.5"), 4, parse_substitution("Li:Na=0..1:0.5"), 4, CompositionRounding::Skip);
  CHECK(g.used.size() == 6);     // (0,0) (0,.5) (0,1) (.5,0) (.5,.5) (1,0)
  CHECK(g.outside.size() == 3);  // x + y > 1
  for (const auto& c : g.used) CHECK(c.x() + c.y() <= 1.0);
  for (const auto& c : g.outside) CHECK(c.x() + c.y() > 1.0);
  // Not representable on one axis: skipped there (1/3 of 4 sites), the grid still has its corners.
  const GridPlan h = plan_grid(parse_substitution("Cl:Br=0,4"), 4, parse_substitution("Li:Na=0..1:0.3333"), 4, CompositionRounding::Skip, 1e-3);
  CHECK(h.second.skipped.size() == 2);
  CHECK(h.used.size() == 3);
  CHECK_THROWS_WITH_AS(plan_grid(parse_substitution("Cl:Br=0..0.5:0.5"), 4, parse_substitution("Li:Na=0..1:0.5"), 4, CompositionRounding::Skip),
                       doctest::Contains("no point at (x, y) = (1, 0)"), ValueError);
  CHECK_THROWS_WITH_AS(plan_grid(parse_substitution("Cl:Br=0..1:0.5"), 4, parse_substitution("Cl:I=0..1:0.5"), 4, CompositionRounding::Skip),
                       doctest::Contains("share Cl"), ValueError);
  // The substituted cell: both sublattices mixed, with the exact fractions.
  const Structure s = substitute_grid(rocksalt(), parse_substitution("Cl:Br=1"), parse_substitution("Li:Na=1"), g.used.at(4));
  for (const auto& st : s.sites()) {
    REQUIRE(st.species.size() == 2);
    CHECK(st.species[1].occupancy == doctest::Approx(st.species[0].z == Li ? g.used[4].y() : g.used[4].x()));
  }
}

TEST_CASE("series grid: rock-salt (Li,Na)(Cl,Br) ternary hull against supporting planes and the binary edge") {
  auto pot = make_rigid_ion<>(li_na_cl_br_rigid_ion());
  RelaxRankingOptions ro;
  ro.relax_top = 0;
  std::map<int, double> q = kCharges;
  q[Na] = 1;
  const auto rank = model_series_ranker(pot, 2, ModelScreenOptions{}, ro, q);
  SeriesOptions o = grid_options();
  o.ranker_fingerprint = "rigid-ion Li-Na-Cl-Br static top 2";
  nernst_test::TempDir dir("nernst_series_grid");
  o.state_dir = dir.path() / "state";
  const std::vector<SeriesParent> parents{{"rs", rocksalt()}};
  const auto results = run_series(parents, o, rank);
  REQUIRE(results.size() == 15);  // x + y ≤ 1 on the 5 × 5 grid of quarters
  const SeriesAnalysis a = analyse_series(results);
  REQUIRE(a.has_hull);
  REQUIRE(a.ternary);
  CHECK(a.end_member_formulas == std::vector<std::string>{"LiCl", "LiBr", "NaCl"});

  // Formation energies by the direct formula, E_hull by the supporting-plane envelope.
  double e[3] = {1e300, 1e300, 1e300};
  for (const auto& r : results)
    for (const auto& c : r.configs) {
      const int corner = r.composition.count == 0 && r.second->count == 0 ? 0 : r.second->count == 0 && r.composition.count == 4 ? 1
                         : r.composition.count == 0 && r.second->count == 4                                             ? 2 : -1;
      if (corner >= 0) e[corner] = std::min(e[corner], c.energy_per_atom());
    }
  std::vector<std::array<double, 3>> pts;
  for (const auto& r : results)
    for (const auto& c : r.configs) {
      const double x = r.composition.x(), y = r.second->x();
      pts.push_back({x, y, c.energy_per_atom() - (1 - x - y) * e[0] - x * e[1] - y * e[2]});
    }
  REQUIRE(pts.size() == a.points.size());
  std::size_t on = 0;
  double spread = 0;
  for (std::size_t i = 0; i < pts.size(); ++i) {
    CHECK(a.points[i].x == pts[i][0]);
    CHECK(a.points[i].y == pts[i][1]);
    CHECK(a.points[i].formation == doctest::Approx(pts[i][2]).epsilon(1e-12).scale(1));
    const double eh = std::max(0.0, pts[i][2] - supporting_plane_hull(pts, pts[i][0], pts[i][1]));
    CHECK(a.points[i].e_above_hull == doctest::Approx(eh).epsilon(1e-9).scale(1));
    on += a.points[i].on_hull;
    spread = std::max(spread, std::abs(pts[i][2]));
  }
  CHECK(on >= 3);
  CHECK(spread > 1e-3);  // the model sees the mixing: formation energies are not all zero

  // The facets: supporting planes through hull vertices, covering the triangle (areas sum to
  // 1/2 in (x, y) when no four vertices are coplanar).
  REQUIRE(!a.hull_facets.empty());
  double area = 0;
  for (const auto& f : a.hull_facets) {
    std::vector<std::array<double, 3>> tri;
    for (std::size_t i : f) {
      CHECK(a.points[i].on_hull);
      tri.push_back(pts[i]);
    }
    area += 0.5 * std::abs((tri[1][0] - tri[0][0]) * (tri[2][1] - tri[0][1]) - (tri[2][0] - tri[0][0]) * (tri[1][1] - tri[0][1]));
    Eigen::Matrix3d A;
    A << 1, tri[0][0], tri[0][1], 1, tri[1][0], tri[1][1], 1, tri[2][0], tri[2][1];
    const Eigen::Vector3d c = A.inverse() * Eigen::Vector3d(tri[0][2], tri[1][2], tri[2][2]);
    for (const auto& p : pts) CHECK(p[2] >= c[0] + c[1] * p[0] + c[2] * p[1] - 1e-8);
  }
  CHECK(area >= 0.5 - 1e-9);

  // The y = 0 edge is the binary Cl:Br series: same energies, formation energies and E_hull.
  const auto binary = run_series(parents, options("Cl:Br=0..1:0.25"), rank);
  const SeriesAnalysis b = analyse_series(binary);
  REQUIRE(b.has_hull);
  std::size_t matched = 0;
  for (const auto& pb : b.points)
    for (const auto& pa : a.points)
      if (pa.y == 0 && pa.x == pb.x && results[pa.result].configs[pa.config].rank == binary[pb.result].configs[pb.config].rank) {
        CHECK(pa.energy_per_atom == doctest::Approx(pb.energy_per_atom).epsilon(1e-12));
        CHECK(pa.formation == doctest::Approx(pb.formation).epsilon(1e-12).scale(1));
        CHECK(pa.e_above_hull == doctest::Approx(pb.e_above_hull).epsilon(1e-9).scale(1));
        ++matched;
      }
  CHECK(matched == b.points.size());

  // ΔE per grid point: a second parent with every energy raised by (1 + x + 2y) meV/atom gives
  // ΔE = E(rs) − E(rs2) = −(1 + x + 2y) at each of the 15 points, rows carrying their y.
  {
    std::vector<CompositionResult> two = results;
    for (const auto& r : results) {
      CompositionResult s = r;
      s.parent = "rs2";
      for (auto& c : s.configs) c.energy += 1e-3 * (1 + r.composition.x() + 2 * r.second->x()) * c.atoms();
      two.push_back(s);
    }
    const SeriesAnalysis d = analyse_series(two);
    REQUIRE(d.delta.size() == 15);
    REQUIRE(d.delta_y.size() == 15);
    std::set<std::pair<double, double>> seen;
    for (std::size_t i = 0; i < d.delta.size(); ++i) {
      CHECK(d.delta[i].delta_meV == doctest::Approx(-(1 + d.delta[i].x + 2 * d.delta_y[i])).epsilon(1e-9));
      seen.insert({d.delta[i].x, d.delta_y[i]});
    }
    CHECK(seen.size() == 15);
    const std::string table = delta_table_markdown(d);
    CHECK(std::count(table.begin(), table.end(), '|') == 6 * (2 + 15));  // x | y | E1 | E2 | ΔE
  }

  // Resume per grid point, files named by both counts.
  CHECK(std::filesystem::exists(o.state_dir / "compositions" / "rs_k1_2.json"));
  const auto again = run_series(parents, o, rank);
  REQUIRE(again.size() == results.size());
  for (std::size_t i = 0; i < again.size(); ++i) {
    CHECK(again[i].reused);
    REQUIRE(again[i].second);
    CHECK(again[i].second->count == results[i].second->count);
    CHECK(again[i].configs.at(0).energy == results[i].configs.at(0).energy);
  }

  // Outputs: the triangle figure (one polygon per facet + the frame), y in the JSON and frames.
  TrainingSetOptions to;
  to.select = 3, to.strained = 1;
  const auto out = dir.path() / "out";
  const nlohmann::json j = write_series_outputs(out, results, a, to);
  CHECK(j["composition_space"] == "ternary");
  CHECK(j["compositions"].size() == 15);
  CHECK(j["hull_facets"].size() == a.hull_facets.size());
  CHECK(j["compositions"][1]["y"].get<double>() == doctest::Approx(0.25));
  std::ifstream svg(out / "hull.svg");
  const std::string text((std::istreambuf_iterator<char>(svg)), std::istreambuf_iterator<char>());
  std::size_t polygons = 0;
  for (auto p = text.find("<polygon"); p != std::string::npos; p = text.find("<polygon", p + 1)) ++polygons;
  CHECK(polygons == a.hull_facets.size() + 1);
  CHECK(text.find("NaCl") != std::string::npos);
  CHECK(std::filesystem::exists(out / "hull.png") == analysis::png_available());
  const auto frames = io::read_extxyz_all((out / "training_set.extxyz").string());
  REQUIRE(frames.size() == 6);
  CHECK(frames[0].info.count("y") == 1);
}
