// Windowed MSD, diffusion fits and conductivity against the real-tool references
// (MDAnalysis EinsteinMSD / numpy double-precision direct MSD / pymatgen) on LAMMPS trajectories.
#include "../test_support.hpp"

#include <nernst/analysis/arrhenius.hpp>
#include <nernst/analysis/diffusion.hpp>
#include <nernst/analysis/msd.hpp>
#include <nernst/io/extxyz.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <map>
#include <utility>

using namespace nernst;
using nlohmann::json;

namespace {

struct Traj {
  std::vector<int> z;
  std::vector<std::vector<double>> pos;
  std::vector<Eigen::Matrix3d> cell;
};

const Traj& load(const std::string& name) {
  static std::map<std::string, Traj> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  Traj t;
  io::detail::LineReader r((nernst_test::shared_dir() / "reference/transport" / name).string());
  io::Frame f;
  while (io::read_extxyz_frame(r, f)) {
    if (t.z.empty()) t.z = f.structure.atomic_numbers();
    std::vector<double> p(3 * f.structure.size());
    for (std::size_t i = 0; i < f.structure.size(); ++i) {
      const auto c = f.structure.cart(i);
      for (int k = 0; k < 3; ++k) p[3 * i + k] = c[k];
    }
    t.pos.push_back(std::move(p));
    t.cell.push_back(f.structure.lattice().matrix());
  }
  return cache.emplace(name, std::move(t)).first->second;
}

json load_json(const std::string& name) {
  std::ifstream in(nernst_test::shared_dir() / "reference/transport" / name);
  return json::parse(in);
}

template <class Alg>
analysis::MSDResult run(const Traj& t, analysis::MSDOptions o) {
  analysis::Estimator<analysis::WindowedMSD<Alg>> est(t.z.size(), analysis::species_groups(t.z), o);
  for (std::size_t f = 0; f < t.pos.size(); ++f) est.push(t.pos[f], t.cell[f]);
  return est.result();
}

/// NAME_reference.json and the FFT MSD of NAME.extxyz at the reference's frame spacing.
std::pair<json, analysis::MSDResult> reference_msd(const std::string& name, std::size_t block_frames = 0) {
  const Traj& t = load(name + ".extxyz");
  json ref = load_json(name + "_reference.json");
  analysis::MSDOptions o;
  o.dt_ps = ref["dt_frame_ps"].get<double>();
  o.block_frames = block_frames;
  return {std::move(ref), run<analysis::FFTCorrelation>(t, o)};
}

double max_rel(const std::vector<double>& a, const std::vector<double>& ref, std::size_t from = 1) {
  REQUIRE(a.size() == ref.size());
  double m = 0;
  for (std::size_t i = from; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - ref[i]) / std::abs(ref[i]));
  return m;
}

}  // namespace

TEST_CASE("WindowedMSD matches the double-precision reference MSD of the NVT LJ trajectory (FFT and direct)") {
  NERNST_REQUIRE_SHARED_DATA();
  const Traj& t = load("lj_binary_nvt120.extxyz");
  const json ref = load_json("lj_binary_nvt120_reference.json");
  REQUIRE(t.pos.size() == ref["n_frames"].get<std::size_t>());
  analysis::MSDOptions o;
  o.dt_ps = ref["dt_frame_ps"].get<double>();
  o.block_frames = 250;
  const auto fft = run<analysis::FFTCorrelation>(t, o);
  const auto dir = run<analysis::DirectSum>(t, o);
  REQUIRE(fft.n_lags() == t.pos.size());
  for (const char* sp : {"Li", "Ar", "all"}) {
    const auto& r = ref["msd_A2"][sp];
    const auto& gf = fft.group(sp);
    const auto& gd = dir.group(sp);
    const double e_xyz = max_rel(gf.tensor.xyz(), r["numpy_direct_xyz"].get<std::vector<double>>());
    const double e_dir = max_rel(gd.tensor.xyz(), r["numpy_direct_xyz"].get<std::vector<double>>());
    const double e_fd = max_rel(gf.tensor.xyz(), gd.tensor.xyz());
    MESSAGE(std::string(sp) << ": FFT vs reference " << e_xyz << ", direct vs reference " << e_dir << ", FFT vs direct " << e_fd);
    CHECK(e_xyz < 1e-8);
    CHECK(e_dir < 1e-8);
    CHECK(e_fd < 1e-10);
    const char* ax[3] = {"numpy_direct_x", "numpy_direct_y", "numpy_direct_z"};
    for (int a = 0; a < 3; ++a) {
      CHECK(max_rel(gf.tensor.axis(a), r[ax[a]].get<std::vector<double>>()) < 1e-8);
      CHECK(max_rel(gd.tensor.axis(a), r[ax[a]].get<std::vector<double>>()) < 1e-8);
      // Cubic cell: lattice directions a, b, c are the Cartesian axes.
      CHECK(max_rel(fft.lattice_direction(sp, a), r[ax[a]].get<std::vector<double>>()) < 1e-8);
    }
    // Against MDAnalysis itself (float32 input): the stated 6e-9 float32 rounding level.
    CHECK(max_rel(gf.tensor.xyz(), r["mdanalysis_fft_xyz"].get<std::vector<double>>()) < 2e-8);
    // Blocks: FFT and direct agree.
    REQUIRE(gf.blocks.size() == 4);
    for (std::size_t b = 0; b < 4; ++b) CHECK(max_rel(gf.blocks[b].xyz(), gd.blocks[b].xyz()) < 1e-10);
  }
}

TEST_CASE("Einstein fits, He et al. error, block D and Nernst-Einstein match the NVT reference") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto [ref, res] = reference_msd("lj_binary_nvt120", 250);
  const auto lag = res.lag_ps();
  for (const char* sp : {"Li", "Ar", "all"}) {
    const auto& g = res.group(sp);
    for (const char* comp : {"xyz", "x", "y", "z"}) {
      const bool xyz = std::string(comp) == "xyz";
      const std::vector<double> msd = xyz ? g.tensor.xyz() : g.tensor.axis(comp[0] - 'x');
      for (const auto& w : ref["fits"][sp][comp]) {
        analysis::DiffusionOptions d;
        d.dim = xyz ? 3 : 1;
        d.fit_start_ps = w["t_lo_ps"].get<double>();
        d.fit_end_ps = w["t_hi_ps"].get<double>();
        const auto fit = analysis::fit_diffusion(lag, msd, g.n_atoms, d);
        CHECK(fit.n_points == w["n_points"].get<std::size_t>());
        CHECK(fit.line.slope == doctest::Approx(w["slope_A2_per_ps"].get<double>()).epsilon(1e-9));
        CHECK(fit.line.intercept == doctest::Approx(w["intercept_A2"].get<double>()).epsilon(1e-7));
        CHECK(fit.line.slope_err == doctest::Approx(w["slope_stderr_OLS"].get<double>()).epsilon(1e-7));
        CHECK(fit.D_cm2_s == doctest::Approx(w["D_cm2_per_s"].get<double>()).epsilon(1e-9));
      }
    }
  }
  // Default window = the project window [2 ps, min(0.7 t, 500 ps)] when the start is given.
  const auto& li = res.group("Li");
  analysis::DiffusionOptions d;
  d.fit_start_ps = 2.0;
  std::vector<std::vector<double>> blocks;
  for (const auto& b : li.blocks) blocks.push_back(b.xyz());
  const auto fit = analysis::fit_diffusion(lag, li.tensor.xyz(), li.n_atoms, d, blocks);
  CHECK(fit.t_end_ps == doctest::Approx(140.0));
  CHECK(fit.D_cm2_s == doctest::Approx(ref["fits"]["Li"]["xyz"][0]["D_cm2_per_s"].get<double>()).epsilon(1e-9));
  const auto& he = ref["he2018_Li"];
  CHECK(fit.n_eff == doctest::Approx(he["N_eff"].get<double>()).epsilon(1e-9));
  CHECK(fit.rsd_he == doctest::Approx(he["RSD_D"].get<double>()).epsilon(1e-9));
  for (int a = 0; a < 3; ++a) {
    analysis::DiffusionOptions da = d;
    da.dim = 1;
    const auto fa = analysis::fit_diffusion(lag, li.tensor.axis(a), li.n_atoms, da);
    CHECK(fa.rsd_he == doctest::Approx(he["RSD_D_axes"][static_cast<std::size_t>(a)].get<double>()).epsilon(1e-9));
  }
  REQUIRE(fit.D_blocks_cm2_s.size() == 4);
  MESSAGE("block D (4 x 250 frames, window [2 ps, 0.7 t_block]): mean " << fit.D_block_mean_cm2_s << " sem "
                                                                       << fit.D_block_sem_cm2_s << "; reference mean "
                                                                       << ref["block_D"]["Li"][0]["mean"].get<double>());
  CHECK(fit.D_block_mean_cm2_s == doctest::Approx(ref["block_D"]["Li"][0]["mean"].get<double>()).epsilon(1e-9));
  CHECK(fit.D_block_sem_cm2_s == doctest::Approx(ref["block_D"]["Li"][0]["sem"].get<double>()).epsilon(1e-7));
  for (std::size_t b = 0; b < 4; ++b)
    CHECK(fit.D_blocks_cm2_s[b] == doctest::Approx(ref["block_D"]["Li"][0]["D_blocks_cm2_per_s"][b].get<double>()).epsilon(1e-9));
  // Automatic start lies in the diffusive regime and D is close to the project window's.
  const auto fauto = analysis::fit_diffusion(lag, li.tensor.xyz(), li.n_atoms);
  MESSAGE("automatic fit start " << fauto.t_start_ps << " ps, D = " << fauto.D_cm2_s);
  CHECK(fauto.t_start_ps >= 1.0);
  CHECK(fauto.D_cm2_s == doctest::Approx(fit.D_cm2_s).epsilon(0.05));
  // Nernst-Einstein.
  const auto& ne = ref["nernst_einstein_Li"];
  const double s = analysis::nernst_einstein_mS_cm(fit.D_cm2_s, ne["N"].get<double>(), ne["q_e"].get<double>(),
                                                   res.mean_volume, ne["T_K"].get<double>());
  CHECK(res.mean_volume == doctest::Approx(ne["V_A3"].get<double>()).epsilon(1e-12));
  CHECK(s == doctest::Approx(ne["sigma_mS_per_cm"].get<double>()).epsilon(1e-9));
  CHECK(analysis::nernst_einstein_mS_cm(1.0, 100, 1, ne["V_A3"].get<double>(), 120.0) ==
        doctest::Approx(ref["pymatgen_DiffusionAnalyzer"]["conversion_factor_mS_cm_per_cm2_s"].get<double>()).epsilon(1e-8));
}

TEST_CASE("NpT trajectory: minimum-image unwrapping in the new cell reproduces the TOR reference") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto [ref, res] = reference_msd("lj_binary_npt120");
  for (const char* sp : {"Li", "Ar", "all"}) {
    const auto& r = ref["msd_A2"]["TOR_min_image_increments"][sp];
    const auto& g = res.group(sp);
    const double e = max_rel(g.tensor.xyz(), r["xyz"].get<std::vector<double>>());
    MESSAGE(std::string(sp) << ": NpT TOR MSD max rel diff " << e);
    CHECK(e < 1e-8);
    CHECK(max_rel(g.tensor.axis(0), r["x"].get<std::vector<double>>()) < 1e-8);
    CHECK(max_rel(g.tensor.axis(2), r["z"].get<std::vector<double>>()) < 1e-8);
    const auto& w = ref["fits"]["TOR_min_image_increments"][sp]["xyz"][0];
    analysis::DiffusionOptions d;
    d.fit_start_ps = w["t_lo_ps"].get<double>();
    d.fit_end_ps = w["t_hi_ps"].get<double>();
    const auto fit = analysis::fit_diffusion(res.lag_ps(), g.tensor.xyz(), g.n_atoms, d);
    CHECK(fit.D_cm2_s == doctest::Approx(w["D_cm2_per_s"].get<double>()).epsilon(1e-9));
  }
  CHECK(res.mean_volume == doctest::Approx(ref["volume_A3"]["mean"].get<double>()).epsilon(1e-9));
}

TEST_CASE("Arrhenius fit reproduces pymatgen (linear) and the Mo-group weighted fit with 300 K interval") {
  NERNST_REQUIRE_SHARED_DATA();
  const json ref = load_json("lj_binary_arrhenius_reference.json");
  std::vector<analysis::ArrheniusPoint> pts;
  for (const auto& p : ref["data"]) {
    const double D = p["D_OLS_2ps_to_0.7ttot_cm2_s"].get<double>();
    pts.push_back({p["T_K"].get<double>(), D, D * p["He2018_RSD_a3A"].get<double>()});
  }
  const auto lin = analysis::fit_arrhenius(pts, false);
  const auto& pl = ref["pymatgen_fit_arrhenius_linear"];
  CHECK(lin.Ea_eV == doctest::Approx(pl["Ea_eV"].get<double>()).epsilon(1e-8));
  CHECK(lin.D0_cm2_s == doctest::Approx(pl["prefactor_cm2_s"].get<double>()).epsilon(1e-8));
  CHECK(lin.Ea_err_eV == doctest::Approx(pl["Ea_std_eV"].get<double>()).epsilon(1e-6));
  CHECK(lin.D_at(300.0) == doctest::Approx(ref["pymatgen_extrapolated_D_300K_cm2_s"].get<double>()).epsilon(1e-8));
  const double V = ref["data"][0]["volume_A3"].get<double>();
  CHECK(analysis::nernst_einstein_mS_cm(lin.D_at(300.0), 100, 1, V, 300.0) ==
        doctest::Approx(ref["pymatgen_extrapolated_sigma_300K_mS_cm"].get<double>()).epsilon(1e-8));

  const auto w = analysis::fit_arrhenius(pts, true);
  const auto& mo = ref["weighted_log10_fit_mogroup_convention"];
  CHECK(w.Ea_eV == doctest::Approx(mo["Ea_eV"].get<double>()).epsilon(1e-8));
  CHECK(w.Ea_err_eV == doctest::Approx(mo["Ea_sigma_eV"].get<double>()).epsilon(1e-6));
  CHECK(w.D_at(300.0) == doctest::Approx(mo["D300_cm2_s"].get<double>()).epsilon(1e-8));
  const auto iv = w.D_interval(300.0);
  CHECK(iv.first == doctest::Approx(mo["D300_range_with_covariance"][0].get<double>()).epsilon(1e-6));
  CHECK(iv.second == doctest::Approx(mo["D300_range_with_covariance"][1].get<double>()).epsilon(1e-6));
}

#include <nernst/analysis/density_map.hpp>

TEST_CASE("DensityMap reproduces pymatgen ProbabilityDensityAnalysis of Li on the NVT trajectory") {
  NERNST_REQUIRE_SHARED_DATA();
  const Traj& t = load("lj_binary_nvt120.extxyz");
  const json ref = load_json("lj_binary_nvt120_pda_Li.json");
  std::vector<std::size_t> li;
  for (std::size_t i = 0; i < t.z.size(); ++i)
    if (t.z[i] == 3) li.push_back(i);
  analysis::DensityMapOptions o;
  o.interval_A = ref["interval_A"].get<double>();
  analysis::Estimator<analysis::DensityMap> est(li, t.cell[0], o);
  for (std::size_t f = 0; f < t.pos.size(); f += 10) est.push(t.pos[f].data(), t.cell[f]);
  const auto sh = est.shape();
  for (std::size_t a = 0; a < 3; ++a) CHECK(sh[a] == ref["grid_shape"][a].get<std::size_t>());
  const auto P = est.density();
  double mx = 0, sum = 0;
  std::size_t nz = 0;
  for (double v : P) {
    mx = std::max(mx, v);
    sum += v;
    nz += v > 0;
  }
  CHECK(nz == ref["n_nonzero_voxels"].get<std::size_t>());
  CHECK(mx == doctest::Approx(ref["P_max_A^-3"].get<double>()).epsilon(1e-12));
  CHECK(sum / P.size() == doctest::Approx(ref["P_mean_A^-3"].get<double>()).epsilon(1e-12));
  const char* keys[3] = {"projection_mean_over_a_bc_plane", "projection_mean_over_b_ac_plane", "projection_mean_over_c_ab_plane"};
  for (int ax = 0; ax < 3; ++ax) {
    const auto proj = est.projection(ax);
    const auto& r = ref[keys[ax]];
    double err = 0;
    for (std::size_t i = 0; i < proj.shape()[0]; ++i)
      for (std::size_t j = 0; j < proj.shape()[1]; ++j)
        err = std::max(err, std::abs(proj(i, j) - r[i][j].get<double>()));
    // Atoms written with 4 decimals sometimes sit exactly halfway between two grid points (5 of
    // the 10 100 samples, e.g. y = 2.25 Å with 0.5 Å spacing); such ties are broken by rounding
    // noise, so allow a single sample to land on the other, equidistant point.
    const double one_sample = static_cast<double>(P.size()) /
                              (101.0 * static_cast<double>(li.size()) * std::abs(t.cell[0].determinant())) /
                              static_cast<double>(sh[static_cast<std::size_t>(ax)]);
    CHECK(err <= one_sample * (1 + 1e-9));
  }
}
