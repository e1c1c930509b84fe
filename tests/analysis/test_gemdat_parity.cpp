// Estimator<SiteAnalysis> against GEMDAT 1.7.2's own outputs on the reference case of
// shared/reference/jumps (Li3YCl6-like trajectory, 5000 frames, 27 Li; oct sites with the default
// radius, oct sites with per-label radii / inner fraction / minimal residence, oct+tet sites).
// Integer results (states, events, jumps, matrices, counts) must agree exactly, real ones to
// 1e-9 relative. The reference JSONs are read in place, never copied.
#include "../test_support.hpp"

#include <nernst/analysis/site_analysis.hpp>
#include <nernst/analysis/site_list.hpp>
#include <nernst/core/elements.hpp>
#include <nernst/io/extxyz.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace nernst;
using nlohmann::json;

namespace {

constexpr double kTol = 1e-9;

std::filesystem::path ref_dir() { return nernst_test::shared_dir() / "reference" / "jumps"; }

json load_case(const std::string& name) {
  std::ifstream in(ref_dir() / name);
  REQUIRE_MESSAGE(in.good(), "cannot open " << (ref_dir() / name));
  return json::parse(in);
}

/// A JSON number, or GEMDAT's "inf" / "-inf" / "nan" strings.
double num(const json& v) {
  if (v.is_string()) {
    const auto s = v.get<std::string>();
    if (s == "inf") return std::numeric_limits<double>::infinity();
    if (s == "-inf") return -std::numeric_limits<double>::infinity();
    return std::numeric_limits<double>::quiet_NaN();
  }
  return v.get<double>();
}

/// Relative difference (0 for equal infinities and for two NaNs).
double rel_diff(double got, double want) {
  if (std::isnan(want)) return std::isnan(got) ? 0.0 : std::numeric_limits<double>::infinity();
  if (std::isinf(want)) return got == want ? 0.0 : std::numeric_limits<double>::infinity();
  if (want == 0) return std::abs(got);
  return std::abs(got - want) / std::abs(want);
}

/// Largest relative difference per quantity of the current case (the parity table of docs/jumps.md).
std::map<std::string, double>& parity_table() {
  static std::map<std::string, double> t;
  return t;
}

void print_parity(const std::string& name) {
  std::ostringstream os;
  os << "parity " << name << " (max rel. diff.):";
  for (const auto& [q, d] : parity_table()) os << "\n  " << q << ": " << d;
  MESSAGE(os.str());
  parity_table().clear();
}

/// `what` names the value; the quantity for the parity table is its text before any " of ".
void check_close(double got, const json& want, const std::string& what) {
  const double w = num(want);
  const double d = rel_diff(got, w);
  double& worst = parity_table()[what.substr(0, what.find(" of "))];
  worst = std::max(worst, d);
  CHECK_MESSAGE(d <= kTol, what << ": nernst " << got << ", GEMDAT " << w);
}

/// The trajectory, read once: frames as Structures (the driver pushes the same).
struct Trajectory {
  std::vector<Structure> frames;
  std::vector<std::size_t> li;
  double dt_fs = 0;
};

const Trajectory& trajectory() {
  static Trajectory t;
  if (!t.frames.empty()) return t;
  io::ExtXYZReader reader((ref_dir() / "li3ycl6_T500.extxyz").string());
  io::Frame f;
  std::vector<double> times;
  while (reader.next(f)) {
    times.push_back(std::stod(f.info.at("Time")));
    t.frames.push_back(std::move(f.structure));
  }
  const auto z = t.frames.front().atomic_numbers();
  for (std::size_t i = 0; i < z.size(); ++i)
    if (z[i] == atomic_number("Li")) t.li.push_back(i);
  t.dt_fs = (times[1] - times[0]) * 1000.0;
  return t;
}

analysis::SiteAnalysisOptions options_of(const json& ref) {
  const json& in = ref["inputs"];
  analysis::SiteAnalysisOptions o;
  if (in["site_radius"].is_number()) o.radius_A = in["site_radius"].get<double>();
  if (in["site_radius"].is_object())
    for (const auto& [k, v] : in["site_radius"].items()) o.label_radii.emplace_back(k, v.get<double>());
  o.inner_fraction = in["site_inner_fraction"].get<double>();
  o.min_residence = in["minimal_residence"].get<std::size_t>();
  o.n_parts = in["n_parts"].get<std::size_t>();
  o.dim = in["dimensions"].get<int>();
  o.temperature_K = in["temperature_K"].get<double>();
  o.fraction_of_overlap = in["fraction_of_overlap"].get<double>();
  o.collective_max_dist_A = in["collective_max_dist_A"].get<std::vector<double>>();
  return o;
}

struct Run {
  analysis::SiteAnalysisResult r;
  double seconds = 0;
};

Run analyse(const json& ref, bool fix_remap = false) {
  const Trajectory& t = trajectory();
  auto sites = analysis::read_site_list((ref_dir() / ref["inputs"]["sites_cif"].get<std::string>()).string());
  // The CIF's coordinates are GEMDAT's to the last bit.
  const json& fc = ref["sites"]["frac_coords"];
  REQUIRE(sites.size() == fc.size());
  for (std::size_t k = 0; k < sites.size(); ++k) {
    CHECK(sites.labels[k] == ref["sites"]["labels"][k].get<std::string>());
    for (int a = 0; a < 3; ++a) CHECK(sites.frac[k][a] == fc[k][static_cast<std::size_t>(a)].get<double>());
  }
  auto o = options_of(ref);
  o.dt_fs = t.dt_fs;
  o.fix_integer_remap = fix_remap;
  const auto t0 = std::chrono::steady_clock::now();
  analysis::Estimator<analysis::SiteAnalysis> est(t.li, std::move(sites), o);
  for (const auto& s : t.frames) est.push(s);
  Run run{est.result(), 0};
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return run;
}

/// Per-atom run-length encoding [first_frame, state] → atom-major states.
std::vector<int> expand_rle(const json& rle, std::size_t N) {
  std::vector<int> s;
  for (const auto& atom : rle)
    for (std::size_t i = 0; i < atom.size(); ++i) {
      const auto begin = atom[i][0].get<std::size_t>();
      const auto end = i + 1 < atom.size() ? atom[i + 1][0].get<std::size_t>() : N;
      s.insert(s.end(), end - begin, atom[i][1].get<int>());
    }
  return s;
}

std::size_t count_differences(const std::vector<int>& a, const std::vector<int>& b) {
  if (a.size() != b.size()) return std::max(a.size(), b.size());
  std::size_t d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d += a[i] != b[i];
  return d;
}

/// States, events, jumps, matrix, counts, D_J, f, occupancy, rates, E_A of one result against a
/// GEMDAT block (the case itself, or its variant_integer_remap_fixed).
void check_site_block(const analysis::SiteAnalysisResult& r, const json& ref, const std::string& name) {
  INFO(name);
  const std::size_t N = r.n_frames, S = r.n_sites();
  CHECK(count_differences(r.states, expand_rle(ref["states"]["rle"], N)) == 0);
  const json& inner = ref["states"]["inner_rle"];
  CHECK(count_differences(r.inner_states, inner.is_null() ? r.states : expand_rle(inner, N)) == 0);

  const json& ev = ref["events"]["rows"];
  REQUIRE(r.events.size() == ev.size());
  std::size_t bad_events = 0;
  for (std::size_t i = 0; i < ev.size(); ++i) {
    const auto& e = r.events[i];
    const json& w = ev[i];
    bad_events += e.atom != w[0].get<std::size_t>() || e.start != w[1].get<int>() || e.dest != w[2].get<int>() ||
                  e.start_inner != w[3].get<int>() || e.dest_inner != w[4].get<int>() || e.t != w[5].get<long>();
  }
  CHECK(bad_events == 0);

  const json& jr = ref["jumps"]["rows"];
  REQUIRE(r.jumps.size() == jr.size());
  std::size_t bad_jumps = 0;
  for (std::size_t i = 0; i < jr.size(); ++i) {
    const auto& j = r.jumps[i];
    const json& w = jr[i];
    bad_jumps += j.atom != w[0].get<std::size_t>() || j.start != w[1].get<int>() || j.dest != w[2].get<int>() ||
                 j.start_time != w[3].get<long>() || j.stop_time != w[4].get<long>() || j.residence_time != w[5].get<long>();
  }
  CHECK(bad_jumps == 0);

  std::vector<std::size_t> m(S * S, 0);
  for (const auto& t : ref["jumps"]["matrix_sparse"]) m[t[0].get<std::size_t>() * S + t[1].get<std::size_t>()] = t[2].get<std::size_t>();
  CHECK(m == r.jump_matrix);
  if (ref["jumps"].contains("counter")) {
    std::map<std::string, std::size_t> counter;
    for (const auto& [k, v] : ref["jumps"]["counter"].items()) counter[k] = v.get<std::size_t>();
    CHECK(counter == r.jump_counts);
  }

  check_close(r.jump_diffusivity_m2_s, ref["jump_diffusivity_m2_s"], "jump diffusivity");
  check_close(r.correlation_factor, ref["correlation_factor"], "correlation factor");
  const json& occ = ref["occupancy"]["per_site"];
  REQUIRE(occ.size() == S);
  for (std::size_t k = 0; k < S; ++k) check_close(r.occupancy[k], occ[k], "occupancy of site " + std::to_string(k));
  for (const auto& [l, v] : ref["occupancy"]["by_site_type"].items()) check_close(r.occupancy_by_site_type.at(l), v, "occupancy by type of " + l);
  for (const auto& [l, v] : ref["occupancy"]["atom_locations"].items()) check_close(r.atom_locations.at(l), v, "atom locations of " + l);

  REQUIRE(r.rates_per_s.size() == ref["rates_per_s"].size());
  for (const auto& [k, v] : ref["rates_per_s"].items()) {
    check_close(r.rates_per_s.at(k).value, v["rates"], "rate of " + k);
    check_close(r.rates_per_s.at(k).std, v["std"], "rate std of " + k);
  }
  const json& graph = ref["graph_e_act_eV"];
  REQUIRE(r.graph.size() == graph.size());
  for (std::size_t i = 0; i < graph.size(); ++i) {
    CHECK(r.graph[i].from == graph[i][0].get<std::size_t>());
    CHECK(r.graph[i].to == graph[i][1].get<std::size_t>());
    check_close(r.graph[i].e_act_eV, graph[i][2], "graph E_A of edge " + std::to_string(i));
  }
  const json& col = ref["collective"];
  REQUIRE(r.collective.size() == col.size());
  for (std::size_t c = 0; c < col.size(); ++c) {
    INFO("collective, max_dist " << col[c]["max_dist_A"].get<double>());
    CHECK(r.collective[c].max_dist_A == col[c]["max_dist_A"].get<double>());
    CHECK(r.collective[c].max_steps == col[c]["max_steps"].get<long>());
    CHECK(r.collective[c].n_solo == col[c]["n_solo_jumps"].get<std::size_t>());
    CHECK(r.collective[c].n_coll == col[c]["n_coll_jumps"].get<std::size_t>());
    std::vector<std::pair<std::size_t, std::size_t>> pairs;
    for (const auto& p : col[c]["collective_event_pairs"]) pairs.emplace_back(p[0].get<std::size_t>(), p[1].get<std::size_t>());
    CHECK(pairs == r.collective[c].pairs);
  }
  REQUIRE(r.activation_energies_eV.size() == ref["activation_energies_eV"].size());
  for (const auto& [k, v] : ref["activation_energies_eV"].items()) {
    check_close(r.activation_energies_eV.at(k).value, v["energy"], "E_A of " + k);
    check_close(r.activation_energies_eV.at(k).std, v["std"], "E_A std of " + k);
  }
}

/// The whole-trajectory metrics, radius and parts of a case.
void check_case(const analysis::SiteAnalysisResult& r, const json& ref) {
  const json& tm = ref["trajectory_metrics"];
  CHECK(r.n_frames == tm["n_frames"].get<std::size_t>());
  CHECK(r.n_atoms == tm["n_floating"].get<std::size_t>());
  check_close(r.time_step_s, tm["time_step_s"], "time step");
  check_close(r.total_time_s, tm["total_time_s"], "total time");
  check_close(r.vibration_amplitude_A, tm["vibration_amplitude_A"], "vibration amplitude");
  CHECK(r.n_amplitudes == tm["amplitudes_summary"]["count"].get<std::size_t>());
  check_close(r.attempt_frequency_Hz, tm["attempt_frequency_Hz"], "attempt frequency");
  check_close(r.attempt_frequency_std_Hz, tm["attempt_frequency_std_Hz"], "attempt frequency std");
  for (std::size_t a = 0; a < r.n_atoms; ++a)
    check_close(r.attempt_frequency_per_atom_Hz[a], tm["attempt_frequency_per_atom_Hz"][a], "attempt frequency of atom " + std::to_string(a));
  check_close(r.tracer_diffusivity_m2_s, tm["tracer_diffusivity_m2_s"], "tracer diffusivity");
  check_close(r.tracer_diffusivity_m2_s, ref["tracer_diffusivity_m2_s"], "tracer diffusivity");

  const json& sr = ref["site_radius"];
  CHECK(r.radius.source == sr["source"].get<std::string>());
  check_close(r.radius.min_site_distance_A, sr["min_site_distance_all_pairs_A"], "smallest site distance");
  REQUIRE(r.radius.labels.size() == sr["radius_A"].size());
  for (std::size_t g = 0; g < r.radius.labels.size(); ++g) {
    check_close(r.radius.radius_A[g], sr["radius_A"][r.radius.labels[g]], "radius of '" + r.radius.labels[g] + "'");
    check_close(r.radius.inner_fraction[g], sr["inner_fraction"][r.radius.labels[g]], "inner fraction of '" + r.radius.labels[g] + "'");
  }
  for (const auto& [l, c] : sr["integer_remap_check"].items()) {
    CHECK(r.remap_check.at(l).n_sites == c["n_sites"].get<std::size_t>());
    CHECK(r.remap_check.at(l).n_seen_outer == c["n_seen_outer"].get<std::size_t>());
    CHECK(r.remap_check.at(l).n_seen_inner == c["n_seen_inner"].get<std::size_t>());
  }

  check_site_block(r, ref, "GEMDAT output");

  const json& parts = ref["parts"];
  REQUIRE(r.parts.size() == parts.size());
  for (std::size_t p = 0; p < parts.size(); ++p) {
    INFO("part " << p);
    const auto& mine = r.parts[p];
    CHECK(mine.n_frames_states == parts[p]["n_frames_states"].get<std::size_t>());
    CHECK(mine.n_frames_trajectory == parts[p]["n_frames_trajectory"].get<std::size_t>());
    CHECK(mine.n_events == parts[p]["n_events"].get<std::size_t>());
    CHECK(mine.n_jumps == parts[p]["n_jumps"].get<std::size_t>());
    std::map<std::string, std::size_t> counter;
    for (const auto& [k, v] : parts[p]["counter"].items()) counter[k] = v.get<std::size_t>();
    CHECK(counter == mine.counter);
    for (const auto& [l, v] : parts[p]["atom_locations"].items()) check_close(mine.atom_locations.at(l), v, "part atom locations of " + l);
  }
}

}  // namespace

TEST_CASE("GEMDAT parity: oct sites, default radius from the vibration amplitude") {
  NERNST_REQUIRE_SHARED_DATA();
  const json ref = load_case("li3ycl6_T500_oct_default.json");
  const Run run = analyse(ref);
  MESSAGE("oct_default: site analysis of 5000 frames x 27 Li on 45 sites in " << run.seconds << " s (push + result)");
  check_case(run.r, ref);
  print_parity("oct_default");
  CHECK_FALSE(run.r.integer_remap_shifted);
  CHECK(run.seconds < 5.0);  // about 0.1 s in Release on one core (docs/jumps.md); generous for Debug and sanitizers
}

TEST_CASE("GEMDAT parity: oct+tet sites, default radius") {
  NERNST_REQUIRE_SHARED_DATA();
  const json ref = load_case("li3ycl6_T500_octtet_default.json");
  const Run run = analyse(ref);
  MESSAGE("octtet_default: 5000 frames x 27 Li on 153 sites in " << run.seconds << " s");
  check_case(run.r, ref);
  print_parity("octtet_default");
}

TEST_CASE("GEMDAT parity: per-label radii, inner fraction, minimal residence (GEMDAT's integer remap)") {
  NERNST_REQUIRE_SHARED_DATA();
  const json ref = load_case("li3ycl6_T500_oct_custom.json");
  const Run gemdat = analyse(ref);
  check_case(gemdat.r, ref);
  print_parity("oct_custom");
  CHECK(gemdat.r.integer_remap_shifted);  // one oct_M site is never reached: GEMDAT shifts the indices
  CHECK_FALSE(gemdat.r.warnings.empty());

  // The corrected mapping reproduces GEMDAT patched with key[k] (variant_integer_remap_fixed).
  const Run fixed = analyse(ref, /*fix_remap=*/true);
  check_site_block(fixed.r, ref["variant_integer_remap_fixed"], "integer remap fixed");
  print_parity("oct_custom, integer remap fixed");
  CHECK(rel_diff(fixed.r.jump_diffusivity_m2_s, gemdat.r.jump_diffusivity_m2_s) > 0.1);  // 1.05e-9 vs 1.22e-9
}

// ---------------------------------------------------------------------------------------------
// Bad input: every error names the file it is about.

namespace {

doctest::Contains contains(const std::string& s) { return doctest::Contains(doctest::String(s.c_str())); }

std::string write_file(const nernst_test::TempDir& dir, const std::string& name, const std::string& text) {
  std::ofstream(dir.file(name)) << text;
  return dir.file(name);
}

std::string sites_cif(const std::string& rows, double a = 10.0) {
  return "data_sites\n_symmetry_space_group_name_H-M 'P 1'\n_cell_length_a " + std::to_string(a) +
         "\n_cell_length_b 10\n_cell_length_c 10\n_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n"
         "loop_\n_symmetry_equiv_pos_as_xyz\n'x, y, z'\nloop_\n_atom_site_type_symbol\n_atom_site_label\n"
         "_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n_atom_site_occupancy\n" +
         rows;
}

}  // namespace

TEST_CASE("GEMDAT parity: bad site input is refused with the file named") {
  nernst_test::TempDir dir("nernst_sites");
  SUBCASE("a site outside the cell") {
    const auto path = write_file(dir, "outside.cif", sites_cif("Li A 0.1 0.2 0.3 1\nLi B 1.4 0.5 0.5 1\n"));
    CHECK_THROWS_WITH_AS(analysis::read_site_list(path), contains(path + ":"), ValueError);
    CHECK_THROWS_WITH_AS(analysis::read_site_list(path), doctest::Contains("outside the cell"), ValueError);
  }
  SUBCASE("overlapping per-label radii") {
    const auto path = write_file(dir, "close.cif", sites_cif("Li A 0.1 0.1 0.1 1\nLi B 0.25 0.1 0.1 1\n"));
    const auto sites = analysis::read_site_list(path);
    analysis::SiteAnalysisOptions o;
    o.label_radii = {{"A", 1.0}, {"B", 1.0}};  // 1.5 Å apart, 2 Å of radii
    CHECK_THROWS_WITH_AS(analysis::site_detail::plan_site_radius(o, sites, sites.lattice, 0.2),
                         contains(path + ": the spheres of sites 'A' and 'B' overlap"), ValueError);
    analysis::SiteAnalysisOptions one;
    one.radius_A = 0.9;
    CHECK_THROWS_WITH_AS(analysis::site_detail::plan_site_radius(one, sites, sites.lattice, 0.2), contains(path), ValueError);
    analysis::SiteAnalysisOptions twice;
    twice.label_radii = {{"A", 0.5}, {"A", 0.6}};
    CHECK_THROWS_WITH_AS(analysis::site_detail::plan_site_radius(twice, sites, sites.lattice, 0.2),
                         "site analysis: the radius of 'A' is given twice", ValueError);
    analysis::SiteAnalysisOptions unknown;
    unknown.label_radii = {{"C", 0.5}};
    CHECK_THROWS_WITH_AS(analysis::site_detail::plan_site_radius(unknown, sites, sites.lattice, 0.2),
                         doctest::Contains("no site is labelled 'C'"), ValueError);
  }
  SUBCASE("a trajectory of another cell") {
    const auto path = write_file(dir, "cell.cif", sites_cif("Li A 0.1 0.1 0.1 1\n"));
    const auto sites = analysis::read_site_list(path);
    CHECK_NOTHROW(analysis::check_same_cell(sites, Lattice(Eigen::Matrix3d::Identity() * 10.0), "traj.extxyz"));
    CHECK_THROWS_WITH_AS(analysis::check_same_cell(sites, Lattice(Eigen::Matrix3d::Identity() * 20.0), "traj.extxyz"),
                         contains(path + ": the sites' cell"), ValueError);
  }
}

TEST_CASE("GEMDAT parity: a frame with fewer atoms is refused") {
  analysis::SiteList sites;
  sites.frac = {Eigen::Vector3d(0.1, 0.1, 0.1), Eigen::Vector3d(0.6, 0.6, 0.6)};
  sites.labels = {"A", "A"};
  sites.source = "sites.cif";
  sites.lattice = Lattice(Eigen::Matrix3d::Identity() * 10.0);
  analysis::SiteAnalysisOptions o;
  o.dt_fs = 1;
  o.radius_A = 1.0;
  o.trajectory_name = "traj.extxyz";
  analysis::Estimator<analysis::SiteAnalysis> est({0, 1}, sites, o);
  Structure s(sites.lattice);
  s.add_site(3, Eigen::Vector3d(0.1, 0.1, 0.1));
  s.add_site(3, Eigen::Vector3d(0.6, 0.6, 0.6));
  est.push(s);
  Structure small(sites.lattice);
  small.add_site(3, Eigen::Vector3d(0.1, 0.1, 0.1));
  CHECK_THROWS_WITH_AS(est.push(small), doctest::Contains("traj.extxyz: frame 1 has 1 atoms, the first frame 2"), ValueError);
}
