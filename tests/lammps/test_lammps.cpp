// pair_style nernst in LAMMPS (lmp_nernst) against the library itself (C API), LAMMPS' own
// lj/cut, finite differences of the energy, energy conservation and 1 vs 2 MPI ranks.
// Built and registered only when LAMMPS is found (examples/lammps/CMakeLists.txt).
#include "../test_support.hpp"

#include <nernst/capi/nernst.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

constexpr double nktv2p = 1.6021765e6;  // LAMMPS metal: eV/Å³ -> bar

struct Cell {
  std::vector<int> z;
  std::vector<double> x;
  std::array<double, 9> L{};  // rows, lower-triangular (LAMMPS restricted triclinic)
  int n() const { return static_cast<int>(z.size()); }
  double volume() const { return L[0] * L[4] * L[8]; }
};

Cell li3ycl6_40() {
  const auto ref = nlohmann::json::parse(std::ifstream(nernst_test::shared_dir() / "reference" / "m3gnet" / "li3ycl6_ordered_40.json"));
  const auto& s = ref["structure"];
  Cell c;
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) c.L[static_cast<std::size_t>(3 * a + b)] = s["lattice"][a][b].get<double>();
  for (const auto& el : s["species"]) c.z.push_back(el == "Li" ? 3 : el == "Y" ? 39 : 17);
  for (const auto& p : s["positions"])
    for (int k = 0; k < 3; ++k) c.x.push_back(p[k].get<double>());
  // Small deterministic rattle so that every force and virial component is non-trivial; wrapped
  // into the (orthorhombic) cell as LAMMPS stores it: with threebody=matgl the edge order, and so
  // the energy at the 1e-5 eV level, depends on which periodic image of an atom is given.
  for (std::size_t k = 0; k < c.x.size(); ++k) {
    const double L = c.L[4 * (k % 3)];
    c.x[k] += 0.05 * std::sin(1.7 * double(k) + 0.3);
    c.x[k] -= L * std::floor(c.x[k] / L);
  }
  return c;
}

/// x_a += h x_b on positions and cell (a <= b keeps the cell lower-triangular).
Cell strained(const Cell& c, int a, int b, double h) {
  Cell s = c;
  for (int i = 0; i < c.n(); ++i) s.x[3 * static_cast<std::size_t>(i) + static_cast<std::size_t>(a)] += h * c.x[3 * static_cast<std::size_t>(i) + static_cast<std::size_t>(b)];
  for (int r = 0; r < 3; ++r) s.L[static_cast<std::size_t>(3 * r + a)] += h * c.L[static_cast<std::size_t>(3 * r + b)];
  return s;
}

int type_of(int z) { return z == 3 ? 1 : z == 39 ? 2 : 3; }

void write_data(const Cell& c, const fs::path& p) {
  std::ofstream o(p);
  o.precision(17);
  o << "nernst test cell\n\n" << c.n() << " atoms\n3 atom types\n\n";
  o << "0 " << c.L[0] << " xlo xhi\n0 " << c.L[4] << " ylo yhi\n0 " << c.L[8] << " zlo zhi\n";
  o << c.L[3] << " " << c.L[6] << " " << c.L[7] << " xy xz yz\n\nMasses\n\n1 6.94\n2 88.906\n3 35.45\n\nAtoms # atomic\n\n";
  for (int i = 0; i < c.n(); ++i)
    o << i + 1 << " " << type_of(c.z[static_cast<std::size_t>(i)]) << " " << c.x[3 * static_cast<std::size_t>(i)] << " "
      << c.x[3 * static_cast<std::size_t>(i) + 1] << " " << c.x[3 * static_cast<std::size_t>(i) + 2] << "\n";
}

struct LmpResult {
  std::map<std::string, double> v;  // pe, pxx, ..., etotal series below
  std::vector<double> f;            // 3n by atom id
  std::vector<double> etotal;       // NVE series
};

fs::path workdir() {
  const fs::path d = fs::path(NERNST_LAMMPS_WORKDIR);
  fs::create_directories(d);
  return d;
}

/// Runs lmp_nernst on `script` (data file "data.lmp" in the work dir) with np ranks.
LmpResult run_lammps(const std::string& name, const std::string& script, int np = 1) {
  const fs::path d = workdir();
  const fs::path in = d / (name + ".in"), log = d / (name + ".log");
  std::ofstream(in) << script;
  std::string cmd;
  if (np > 1) {
    cmd = std::string(NERNST_MPIEXEC) + (geteuid() == 0 ? " --allow-run-as-root" : "") + " --oversubscribe -np " + std::to_string(np) + " ";
  }
  cmd += std::string(NERNST_LMP_NERNST) + " -in " + in.string() + " -screen none -log " + log.string() + " > " + (d / (name + ".out")).string() + " 2>&1";
  const int rc = std::system(("cd " + d.string() + " && " + cmd).c_str());
  std::ifstream lg(log);
  std::stringstream all;
  all << lg.rdbuf();
  const std::string text = all.str();
  INFO("LAMMPS log of " << name << ":\n" << text.substr(text.size() > 3000 ? text.size() - 3000 : 0));
  REQUIRE(rc == 0);
  LmpResult r;
  std::istringstream ls(text);
  std::string line;
  while (std::getline(ls, line)) {
    if (line.rfind("RESULT ", 0) == 0) {
      std::istringstream q(line.substr(7));
      std::string key;
      double val;
      while (q >> key >> val) r.v[key] = val;
    } else if (line.rfind("ETOTAL ", 0) == 0) {
      r.etotal.push_back(std::stod(line.substr(7)));
    }
  }
  const fs::path dump = d / (name + ".forces");
  if (fs::exists(dump)) {
    std::ifstream df(dump);
    std::string l;
    std::vector<std::array<double, 4>> rows;
    bool atoms = false;
    while (std::getline(df, l)) {
      if (l.rfind("ITEM: ATOMS", 0) == 0) { atoms = true; continue; }
      if (l.rfind("ITEM:", 0) == 0) { atoms = false; continue; }
      if (!atoms) continue;
      std::istringstream q(l);
      std::array<double, 4> a{};
      q >> a[0] >> a[1] >> a[2] >> a[3];
      rows.push_back(a);
    }
    r.f.assign(3 * rows.size(), 0.0);
    for (const auto& a : rows)
      for (int k = 0; k < 3; ++k) r.f[3 * (static_cast<std::size_t>(a[0]) - 1) + static_cast<std::size_t>(k)] = a[static_cast<std::size_t>(k) + 1];
  }
  return r;
}

/// ${key} prints thermo keyword `key` with 17 digits (LAMMPS' format-style variables).
std::string formatted(std::initializer_list<const char*> keys) {
  std::string s;
  for (const char* k : keys) s += std::string("variable q_") + k + " equal " + k + "\nvariable " + k + " format q_" + k + " %.17g\n";
  return s;
}

std::string header(const std::string& pair) {
  return "units metal\natom_style atomic\nboundary p p p\nbox tilt large\natom_modify sort 0 0.0\nread_data data.lmp\nnewton on\n" + pair +
         "\nthermo_style custom step pe ke etotal pxx pyy pzz pxy pxz pyz\n"
         + formatted({"pe", "pxx", "pyy", "pzz", "pxy", "pxz", "pyz"});
}

std::string run0(const std::string& name) {
  return "run 0\nprint \"RESULT pe ${pe} pxx ${pxx} pyy ${pyy} pzz ${pzz} pxy ${pxy} pxz ${pxz} pyz ${pyz}\"\n"
         "write_dump all custom " + name + ".forces id fx fy fz modify sort id format float %.17g\n";
}

std::string model_dir(const char* name) { return (nernst_test::shared_dir() / "models" / name).string(); }

std::string model_pair(const std::string& dir, const std::string& opts, const std::string& ghost) {
  return "pair_style nernst " + dir + (opts.empty() ? "" : " options " + opts) + " ghost " + ghost + "\npair_coeff * * Li Y Cl";
}

std::string m3gnet_pair(const std::string& opts, const std::string& ghost = "gather") {
  return model_pair(model_dir("m3gnet-mp-2021.2.8-pes"), opts, ghost);
}

std::string tensornet_pair(const std::string& ghost) { return model_pair(model_dir("tensornet-matpes-pbe-v2025.1-pes"), "", ghost); }

/// The small MACE debugging model (r_max 5 Å, 2 interactions: a 10 Å ghost shell).
std::string mace_file() { return model_dir("mace-random/mace-small-random.model"); }
std::string mace_pair(const std::string& ghost) { return model_pair(mace_file(), "", ghost); }

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (std::size_t k = 0; k < a.size(); ++k) m = std::max(m, std::abs(a[k] - b[k]));
  return m;
}


/// `run 0` of the 40-atom cell with `pair` equals the library (C API) on model `dir`: energy and
/// forces to 1e-8, the LAMMPS pressure (no velocities: virial only, W / V in bar, order xx yy zz
/// xy xz yz) to the library's virial within 1e-7 eV.
void check_run0_equals_library(const std::string& dir, const std::string& pair, const std::string& name) {
  const Cell c = li3ycl6_40();
  write_data(c, workdir() / "data.lmp");
  nernst::capi::Potential pot(dir);
  const auto ref = pot.compute(c.z, c.x, c.L);
  const auto r = run_lammps(name, header(pair) + run0(name));
  const double dE = std::abs(r.v.at("pe") - ref.energy), dF = max_abs_diff(r.f, ref.forces);
  MESSAGE(name << ": LAMMPS vs library: |ΔE| = " << dE << " eV, max |ΔF| = " << dF << " eV/Å");
  CHECK(dE < 1e-8);
  CHECK(dF < 1e-8);
  const double V = c.volume();
  const std::pair<const char*, int> comp[6] = {{"pxx", 0}, {"pyy", 4}, {"pzz", 8}, {"pxy", 1}, {"pxz", 2}, {"pyz", 5}};
  for (const auto& entry : comp) {  // no structured binding: doctest's INFO/CAPTURE capture it (nvcc refuses)
    const auto& key = entry.first;
    const auto& k = entry.second;
    CAPTURE(key);
    CHECK(std::abs(r.v.at(key) * V / nktv2p - ref.virial[static_cast<std::size_t>(k)]) < 1e-7);
  }
}

/// `run 0` of the 40-atom cell with `ghost shell` on 1 and (with MPI) 2 ranks equals `ghost
/// gather` on 1 rank: energy and forces to 1e-8, pressure to 1e-3 bar. `pair(ghost)` is the
/// pair_style/pair_coeff lines; `prefix` names the runs.
template <class PairOf>
void check_shell_equals_gather(PairOf&& pair, const std::string& prefix, const std::string& what) {
  const Cell c = li3ycl6_40();
  write_data(c, workdir() / "data.lmp");
  const auto g = run_lammps(prefix + "_gather", header(pair("gather")) + run0(prefix + "_gather"));
  std::vector<int> ranks = {1};
  if (!std::string(NERNST_MPIEXEC).empty()) ranks.push_back(2);
  for (int n : ranks) {
    const std::string name = prefix + "_shell" + std::to_string(n);
    const auto s = run_lammps(name, header(pair("shell")) + run0(name), n);
    const double dE = std::abs(s.v.at("pe") - g.v.at("pe")), dF = max_abs_diff(s.f, g.f);
    MESSAGE(what << " shell (" << n << " ranks) vs gather: |ΔE| = " << dE << " eV, max |ΔF| = " << dF << " eV/Å");
    CHECK(dE < 1e-8);
    CHECK(dF < 1e-8);
    for (const char* k : {"pxx", "pyy", "pzz", "pxy", "pxz", "pyz"}) CHECK(std::abs(s.v.at(k) - g.v.at(k)) < 1e-3);  // bar
  }
}

}  // namespace

TEST_CASE("lammps: M3GNet through pair_style nernst (run 0) equals the library to 1e-8 eV and eV/Å") {
  NERNST_REQUIRE_SHARED_DATA();
  check_run0_equals_library(model_dir("m3gnet-mp-2021.2.8-pes"), m3gnet_pair(""), "m3gnet_run0");
}

TEST_CASE("lammps: pair_style nernst virial sign and Voigt order pinned by finite differences of E") {
  NERNST_REQUIRE_SHARED_DATA();
  const Cell c = li3ycl6_40();
  write_data(c, workdir() / "data.lmp");
  const auto r = run_lammps("fd_center", header(m3gnet_pair("threebody=smooth")) + run0("fd_center"));
  const double V = c.volume(), h = 1e-4;
  // LAMMPS W_ab = −∂E/∂ε_ab; strain x_a += h x_b with a <= b.
  const std::tuple<const char*, int, int> comp[6] = {{"pxx", 0, 0}, {"pyy", 1, 1}, {"pzz", 2, 2}, {"pxy", 0, 1}, {"pxz", 0, 2}, {"pyz", 1, 2}};
  for (const auto& [key, a, b] : comp) {
    double e[2];
    for (int s = 0; s < 2; ++s) {
      write_data(strained(c, a, b, s == 0 ? h : -h), workdir() / "data.lmp");
      e[s] = run_lammps("fd_strain", header(m3gnet_pair("threebody=smooth")) + "run 0\nprint \"RESULT pe ${pe}\"\n").v.at("pe");
    }
    const double W_fd = -(e[0] - e[1]) / (2 * h), W = r.v.at(key) * V / nktv2p;
    MESSAGE(key << ": LAMMPS W = " << W << " eV, −dE/dε = " << W_fd << " eV");
    CHECK(std::abs(W - W_fd) < 2e-5 * std::max(1.0, std::abs(W)));
  }
}

TEST_CASE("lammps: NVE with the M3GNet pair style conserves energy; 2 MPI ranks give the 1-rank trajectory") {
  NERNST_REQUIRE_SHARED_DATA();
  const Cell c = li3ycl6_40();
  write_data(c, workdir() / "data.lmp");
  // 100 fs of NVE at 300 K with dt = 1 fs and 0.5 fs: velocity Verlet's energy fluctuation must be
  // small and shrink as dt² (a force inconsistent with the energy would show up as a drift that
  // does not shrink).
  auto md = [](double dt, int steps) {
    return "velocity all create 300 4928459 loop geom\nfix 1 all nve\ntimestep " + std::to_string(dt) +
           "\nvariable q_et equal etotal\nvariable et format q_et %.17g\nthermo 10\nfix p all print " + std::to_string(steps / 20) +
           " \"ETOTAL ${et}\"\nrun " + std::to_string(steps) + "\n";
  };
  auto rms = [](const std::vector<double>& e) {
    double m = 0, s = 0;
    for (double v : e) m += v / double(e.size());
    for (double v : e) s += (v - m) * (v - m) / double(e.size());
    return std::sqrt(s);
  };
  const auto one = run_lammps("nve_np1", header(m3gnet_pair("threebody=smooth")) + md(0.001, 100) + run0("nve_np1"));
  const auto half = run_lammps("nve_half", header(m3gnet_pair("threebody=smooth")) + md(0.0005, 200));
  REQUIRE(one.etotal.size() >= 21);  // every 5 steps, 0..100 (+ the final run 0)
  REQUIRE(half.etotal.size() >= 21);
  const double r1 = rms(std::vector<double>(one.etotal.begin(), one.etotal.begin() + 21));
  const double r2 = rms(std::vector<double>(half.etotal.begin(), half.etotal.begin() + 21));
  MESSAGE("NVE 100 fs, 40 atoms, 300 K: rms(E_tot − mean) = " << r1 << " eV at 1 fs, " << r2 << " eV at 0.5 fs");
  CHECK(r1 < 2e-3);     // 0.05 meV/atom
  CHECK(r1 / r2 > 3.0);  // ~4 for a consistent force field

  if (std::string(NERNST_MPIEXEC).empty()) return;
  const auto two = run_lammps("nve_np2", header(m3gnet_pair("threebody=smooth")) + md(0.001, 100) + run0("nve_np2"), 2);
  const double dE = std::abs(two.v.at("pe") - one.v.at("pe")), dF = max_abs_diff(two.f, one.f);
  MESSAGE("after 100 NVE steps, 2 ranks vs 1: |ΔE| = " << dE << " eV, max |ΔF| = " << dF << " eV/Å");
  CHECK(dE < 1e-8);
  CHECK(dF < 1e-8);
}

TEST_CASE("lammps: ghost shell on 1 and 2 ranks equals LAMMPS' own lj/cut (pe, pressure, forces)") {
  const std::string lattice =
      "units metal\natom_style atomic\nboundary p p p\nlattice fcc 5.3\nregion box block 0 3 0 3 0 3\ncreate_box 2 box\n"
      "create_atoms 1 box\nset type 1 type/fraction 2 0.5 12345\nmass * 35.0\ndisplace_atoms all random 0.1 0.1 0.1 777 units box\n"
      "newton on\natom_modify sort 0 0.0\n";
  const std::string tail =
      "\nthermo_style custom step pe pxy\n" + formatted({"pe", "pxy"}) + "velocity all create 300 4928459 loop geom\nfix 1 all nve\nrun 50\n"
      "print \"RESULT pe ${pe} pxy ${pxy}\"\n";
  for (int np : {1, 2}) {
    if (np == 2 && std::string(NERNST_MPIEXEC).empty()) continue;
    // Same rank count for the reference: create_atoms numbers atoms per rank.
    const std::string rname = "lj_ref" + std::to_string(np);
    const auto ref = run_lammps(rname, lattice + "pair_style lj/cut 8.0\npair_coeff * * 0.0103 3.4\npair_modify shift yes" + tail +
                                           "write_dump all custom " + rname + ".forces id fx fy fz modify sort id format float %.17g\n",
                                np);
    for (const char* ghost : {"gather", "shell"}) {
      const std::string name = std::string("lj_") + ghost + std::to_string(np);
      const auto r = run_lammps(name, lattice + "pair_style nernst lj:epsilon=0.0103,sigma=3.4,cutoff=8.0 ghost " + ghost +
                                          "\npair_coeff * * Ar Ar" + tail + "write_dump all custom " + name +
                                          ".forces id fx fy fz modify sort id format float %.17g\n",
                                np);
      CAPTURE(name);
      CHECK(std::abs(r.v.at("pe") - ref.v.at("pe")) < 1e-8);
      CHECK(std::abs(r.v.at("pxy") - ref.v.at("pxy")) < 1e-4);  // bar
      CHECK(max_abs_diff(r.f, ref.f) < 1e-8);
    }
  }
}

// Slow (about 30 s and 2 x 2 GB): M3GNet with the ghost shell (15 Å of LAMMPS ghosts, smooth
// three-body) on 2 ranks equals the gathered periodic evaluation on 1 rank.
TEST_CASE("lammps: M3GNet ghost shell on 2 ranks equals gather on 1 rank" * doctest::test_suite("slow")) {
  NERNST_REQUIRE_SHARED_DATA();
  if (std::string(NERNST_MPIEXEC).empty()) return;
  const Cell c = li3ycl6_40();
  write_data(c, workdir() / "data.lmp");
  const auto g = run_lammps("m3_gather", header(m3gnet_pair("threebody=smooth", "gather")) + run0("m3_gather"));
  const auto s = run_lammps("m3_shell2", header(m3gnet_pair("threebody=smooth", "shell")) + run0("m3_shell2"), 2);
  const double dE = std::abs(s.v.at("pe") - g.v.at("pe")), dF = max_abs_diff(s.f, g.f);
  MESSAGE("shell (2 ranks) vs gather (1 rank): |ΔE| = " << dE << " eV, max |ΔF| = " << dF << " eV/Å");
  CHECK(dE < 1e-8);
  CHECK(dF < 1e-8);
  for (const char* k : {"pxx", "pyy", "pzz", "pxy", "pxz", "pyz"}) CHECK(std::abs(s.v.at(k) - g.v.at(k)) < 1e-3);  // bar
}

TEST_CASE("lammps: TensorNet-MatPES through pair_style nernst (run 0) equals the library") {
  NERNST_REQUIRE_SHARED_DATA();
  check_run0_equals_library(model_dir("tensornet-matpes-pbe-v2025.1-pes"), tensornet_pair("gather"), "tn_run0");
}

TEST_CASE("lammps: TensorNet ghost shell (1 and 2 ranks) equals gather" * doctest::test_suite("slow")) {
  NERNST_REQUIRE_SHARED_DATA();
  check_shell_equals_gather(tensornet_pair, "tn", "TensorNet");
}

TEST_CASE("lammps: MACE (.model) through pair_style nernst (run 0) equals the library") {
  NERNST_REQUIRE_SHARED_DATA();
  check_run0_equals_library(mace_file(), mace_pair("gather"), "mace_run0");
}

// Ghosts to num_interactions x r_max = 10 Å (LAMMPS' comm cutoff from nernst_potential_ghost_cutoff):
// each rank's owned-atom energies and forces add up to the periodic (gathered) evaluation.
TEST_CASE("lammps: MACE ghost shell (1 and 2 ranks) equals gather") {
  NERNST_REQUIRE_SHARED_DATA();
  check_shell_equals_gather(mace_pair, "mace", "MACE");
}
