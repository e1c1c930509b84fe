// Ensemble statistics against the LAMMPS argon runs (../shared/reference/transport) and
// analytic results: canonical kinetic-energy variance, NVE drift ∝ Δt², NpT volume fluctuations.
//
// Statistical error of a short run: SEM = σ · sqrt(g Δt_sample / t_run) with the reference's
// statistical inefficiency g (its blocking analysis of the 1 ns LAMMPS run); means must agree
// within 4 SEM (combined with the reference SEM), standard deviations within the stated bands.
#include "md_test_support.hpp"

using namespace nernst;
using namespace mdt;

namespace {

template <class E>
std::shared_ptr<md::Statistics<>> run_stats(E ens, double dt, long equil, long steps, long every, System<>* out = nullptr,
                                            std::uint64_t seed = 4242) {
  System<> s = clone(liquid120());
  Potential<LennardJones> lj(argon());
  md::SimulationOptions o;
  o.timestep = dt;
  o.seed = seed;
  md::Simulation<E, Potential<LennardJones>> sim(s, lj, std::move(ens), o);
  sim.run(equil);
  auto st = std::make_shared<md::Statistics<>>(every, equil);
  sim.add_observer(st);
  sim.run(steps);
  if (out) *out = s;
  return st;
}

void compare_T(const md::Statistics<>& st, const nlohmann::json& ref, double run_ps, double std_tol) {
  const double m = md::Statistics<>::mean(st.T), sd = md::Statistics<>::stddev(st.T);
  const double rm = ref["mean"], rs = ref["std"], g = ref["statistical_inefficiency_g"];
  const double err = std::hypot(sem(rs, g, run_ps), double(ref["sem_blocking"]));
  MESSAGE("T mean " << m << " (LAMMPS " << rm << " ± " << err << "), std " << sd << " (LAMMPS " << rs << ")");
  CHECK(std::abs(m - rm) < 4 * err);
  CHECK(sd == doctest::Approx(rs).epsilon(std_tol));
}

}  // namespace

TEST_CASE("NVE: energy conserved, fluctuation of E_tot scales as dt^2, comparable to LAMMPS") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto ref = thermo_reference()["nve_energy_conservation"]["results"];
  double sd[3];
  const double dts[3] = {1.0, 2.0, 4.0};
  for (int k = 0; k < 3; ++k) {
    // 1 ps from the same start: the three trajectories stay close (the liquid's chaos needs longer
    // to separate them), so the comparison measures the integrator, not which states were sampled.
    const long n = static_cast<long>(1000 / dts[k]);
    auto st = run_stats(md::Ensemble<md::NVE>{}, dts[k], 0, n, 1);
    sd[k] = md::Statistics<>::stddev(st->E);
    MESSAGE("dt " << dts[k] << " fs: std(E/N) " << sd[k] * 1e3 << " meV, drift " << st->conserved_drift_per_ps() * 1e6
                  << " meV/atom/ns");
    CHECK(std::abs(st->conserved_drift_per_ps()) * 1e3 < 0.05);  // < 0.05 meV/atom/ns... per ps scale below
  }
  const double p1 = std::log(sd[1] / sd[0]) / std::log(2.0), p2 = std::log(sd[2] / sd[1]) / std::log(2.0);
  MESSAGE("exponents " << p1 << " " << p2);
  const double p = std::log(sd[2] / sd[0]) / std::log(4.0);  // fit over the whole dt range
  MESSAGE("exponent over 1-4 fs " << p);
  CHECK(p == doctest::Approx(2.0).epsilon(0.15));
  CHECK(p1 == doctest::Approx(2.0).epsilon(0.25));
  CHECK(p2 == doctest::Approx(2.0).epsilon(0.25));
  // LAMMPS, same liquid, dt = 2 fs: etotal std over 100 ps (includes slow drift, so an upper bound
  // of our short-run fluctuation within a factor of a few)
  const double lmp2 = double(ref["dt_2fs"]["etotal_std_meV_per_atom"]) * 1e-3;
  MESSAGE("dt 2 fs: std " << sd[1] << " eV/atom vs LAMMPS " << lmp2);
  CHECK(sd[1] < 3 * lmp2);
  CHECK(sd[1] > lmp2 / 10);
}

TEST_CASE("NVT Nose-Hoover: T mean and canonical KE variance vs LAMMPS and theory") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto ref = thermo_reference()["runs"]["ar_nvt_nh"];
  auto st = run_stats(md::Ensemble<md::NVT, md::NoseHoover>({120.0, 200.0, 3}), 2.0, 1000, 10000, 10);
  compare_T(*st, ref["T_K"], 20.0, 0.12);
  // canonical: std(T) = T sqrt(2/N_f)
  const double theory = 120.0 * std::sqrt(2.0 / 1497.0);
  CHECK(md::Statistics<>::stddev(st->T) == doctest::Approx(theory).epsilon(0.12));
  const double pe = md::Statistics<>::mean(st->U), rpe = ref["pe_eV_per_atom"]["mean"];
  const double perr = sem(double(ref["pe_eV_per_atom"]["std"]), double(ref["pe_eV_per_atom"]["statistical_inefficiency_g"]), 20.0);
  MESSAGE("PE/atom " << pe << " vs LAMMPS " << rpe << " ± " << perr);
  CHECK(std::abs(pe - rpe) < 4 * perr);
  const double P = md::Statistics<>::mean(st->P), rP = ref["P_bar"]["mean"];
  const double Perr = sem(double(ref["P_bar"]["std"]), double(ref["P_bar"]["statistical_inefficiency_g"]), 20.0);
  MESSAGE("P " << P << " bar vs LAMMPS " << rP << " ± " << Perr);
  CHECK(std::abs(P - rP) < 4 * Perr);
  MESSAGE("conserved drift " << st->conserved_drift_per_ps() << " eV/atom/ps");
  CHECK(std::abs(st->conserved_drift_per_ps()) < 1e-6);
}

TEST_CASE("NVT Langevin (BAOAB): T mean and canonical variance") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto ref = thermo_reference()["runs"]["ar_nvt_lang"];
  auto st = run_stats(md::Ensemble<md::NVT, md::Langevin>({120.0, 200.0, true}), 2.0, 500, 10000, 10);
  compare_T(*st, ref["T_K"], 20.0, 0.15);
  CHECK(std::abs(st->conserved_drift_per_ps()) < 2e-6);
}

TEST_CASE("NVT Berendsen: T mean and suppressed fluctuations like LAMMPS") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto ref = thermo_reference()["runs"]["ar_nvt_ber"];
  auto st = run_stats(md::Ensemble<md::NVT, md::Berendsen>({120.0, 200.0}), 2.0, 500, 10000, 10);
  compare_T(*st, ref["T_K"], 20.0, 0.2);
  CHECK(std::abs(st->conserved_drift_per_ps()) < 2e-6);
}

TEST_CASE("NpT MTK (iso): volume, pressure, conserved quantity vs LAMMPS") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto ref = thermo_reference()["runs"]["ar_npt_nh"];
  auto st = run_stats(md::Ensemble<md::NpT, md::NoseHoover>(mtk(120, 700, 200, 2000)), 2.0, 2500, 15000, 10);
  const double run_ps = 30;
  const double V = md::Statistics<>::mean(st->V), rV = ref["V_A3"]["mean"];
  const double Verr = sem(double(ref["V_A3"]["std"]), double(ref["V_A3"]["statistical_inefficiency_g"]), run_ps);
  MESSAGE("V " << V << " vs LAMMPS " << rV << " ± " << Verr << "; std " << md::Statistics<>::stddev(st->V) << " vs "
               << double(ref["V_A3"]["std"]));
  CHECK(std::abs(V - rV) < 4 * Verr);
  const double P = md::Statistics<>::mean(st->P);
  const double Perr = sem(double(ref["P_bar"]["std"]), double(ref["P_bar"]["statistical_inefficiency_g"]), run_ps);
  MESSAGE("P " << P << " vs target 700 ± " << Perr);
  CHECK(std::abs(P - 700) < 4 * Perr + 5);
  // volume fluctuations: std(V) of a 30 ps run is uncertain by ~25 % (few barostat periods)
  CHECK(md::Statistics<>::stddev(st->V) == doctest::Approx(double(ref["V_A3"]["std"])).epsilon(0.35));
  compare_T(*st, ref["T_K"], run_ps, 0.15);
  MESSAGE("MTK conserved drift " << st->conserved_drift_per_ps() << " eV/atom/ps");
  CHECK(std::abs(st->conserved_drift_per_ps()) < 2e-6);
}

TEST_CASE("NpT Berendsen: mean pressure and volume vs LAMMPS") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto ref = thermo_reference()["runs"]["ar_npt_ber"];
  md::Ensemble<md::NpT, md::Berendsen>::Parameters p;
  p.temperature = 120;
  p.pressure = 700;
  p.tdamp = 200;
  p.pdamp = 2000;
  p.modulus = 10000;
  auto st = run_stats(md::Ensemble<md::NpT, md::Berendsen>(p), 2.0, 2500, 10000, 10);
  const double V = md::Statistics<>::mean(st->V), rV = ref["V_A3"]["mean"];
  // Berendsen volume relaxes slowly (τ_int 3.6 ps in LAMMPS): 20 ps gives ~3 independent samples
  const double Verr = sem(double(ref["V_A3"]["std"]), double(ref["V_A3"]["statistical_inefficiency_g"]), 20.0);
  MESSAGE("V " << V << " vs LAMMPS " << rV << " ± " << Verr);
  CHECK(std::abs(V - rV) < 4 * Verr + 30);
  const double P = md::Statistics<>::mean(st->P);
  const double Perr = sem(double(ref["P_bar"]["std"]), double(ref["P_bar"]["statistical_inefficiency_g"]), 20.0);
  MESSAGE("P " << P << " vs 700 ± " << Perr);
  CHECK(std::abs(P - 700) < 4 * Perr + 10);
}

namespace {
/// Solid fcc argon at 40 K and 1 bar (the LAMMPS solid_fcc_npt references): MB velocities at
/// 80 K, `steps` of equilibration, then statistics over `steps` more (2 fs).
std::shared_ptr<md::Statistics<>> solid_npt(System<>& s, md::Coupling c, std::uint64_t seed, long steps) {
  md::maxwell_boltzmann(s, 80.0, seed);
  Potential<LennardJones> lj(argon());
  using E = md::Ensemble<md::NpT, md::NoseHoover>;
  md::Simulation<E, Potential<LennardJones>> sim(s, lj, E(mtk(40, 1, 200, 2000, c)), opts(2.0));
  sim.run(steps);
  auto st = std::make_shared<md::Statistics<>>(10, sim.step());
  sim.add_observer(st);
  sim.run(steps);
  return st;
}
}  // namespace

TEST_CASE("NpT MTK triclinic on a sheared fcc cell keeps the cell physical and relaxes the shear") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto ref = thermo_reference()["solid_fcc_npt"]["fcc_npt_tri"];
  System<> s = fcc(5, 5.30, 1.0);  // b tilted by 1 Å along x
  auto st = solid_npt(s, md::Coupling::Triclinic, 4242, 5000);
  const double V = md::Statistics<>::mean(st->V), rV = ref["V_A3"]["mean"];
  const double Verr = sem(double(ref["V_A3"]["std"]), double(ref["V_A3"]["statistical_inefficiency_g"]), 10.0);
  const auto ang = s.cell.angles();
  MESSAGE("tri: V " << V << " vs LAMMPS (unsheared start) " << rV << " ± " << Verr << "; angles " << ang[0] << " "
                    << ang[1] << " " << ang[2] << "; mean stress xy "
                    << "; drift " << st->conserved_drift_per_ps());
  CHECK(std::abs(V - rV) < 4 * Verr + 20);
  for (double a : ang) CHECK(std::abs(a - 90.0) < 6.0);
  CHECK(std::abs(st->conserved_drift_per_ps()) < 2e-6);
}

TEST_CASE("NpT MTK anisotropic fcc: per-axis lengths vs LAMMPS aniso, cell stays orthogonal") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto ref = thermo_reference()["solid_fcc_npt"]["fcc_npt_aniso"];
  System<> s = fcc(5, 5.30);
  auto st = solid_npt(s, md::Coupling::Anisotropic, 99, 4000);
  const auto& h = s.cell.matrix();
  CHECK(std::abs(h(0, 1)) + std::abs(h(0, 2)) + std::abs(h(1, 2)) < 1e-12);  // stays orthogonal
  const Eigen::Matrix3d mc = st->mean_cell();
  const char* keys[3] = {"a_A", "b_A", "c_A"};
  for (int k = 0; k < 3; ++k) {
    const auto& r = ref[keys[k]];
    const double err = sem(double(r["std"]), double(r["statistical_inefficiency_g"]), 8.0);
    MESSAGE(std::string(keys[k]) << " " << mc(k, k) << " vs LAMMPS " << double(r["mean"]) << " ± " << err);
    CHECK(std::abs(mc(k, k) - double(r["mean"])) < 4 * err + 0.05);
  }
}

TEST_SUITE("slow") {
  TEST_CASE("slow: NVT-NH 200 ps and NpT-MTK 200 ps against LAMMPS with tighter bounds") {
    NERNST_REQUIRE_SHARED_DATA();
    const auto ref = thermo_reference()["runs"];
    auto st = run_stats(md::Ensemble<md::NVT, md::NoseHoover>({120.0, 200.0, 3}), 2.0, 5000, 100000, 10);
    compare_T(*st, ref["ar_nvt_nh"]["T_K"], 200.0, 0.04);
    auto sp = run_stats(md::Ensemble<md::NpT, md::NoseHoover>(mtk(120, 700, 200, 2000)), 2.0, 5000, 100000, 10);
    const auto& rv = ref["ar_npt_nh"]["V_A3"];
    const double V = md::Statistics<>::mean(sp->V), sd = md::Statistics<>::stddev(sp->V);
    const double err = sem(double(rv["std"]), double(rv["statistical_inefficiency_g"]), 200.0);
    MESSAGE("200 ps: V " << V << " ± " << err << " vs " << double(rv["mean"]) << "; std " << sd << " vs " << double(rv["std"]));
    CHECK(std::abs(V - double(rv["mean"])) < 4 * err);
    // κ_T = var(V)/(kT V)
    const double kappa = sd * sd / (units::kB * 120 * V) / units::eV_per_A3_in_bar;
    const double rk = ref["ar_npt_nh"]["kappa_T_per_bar_from_volume_fluct"];
    MESSAGE("kappa_T " << kappa << " /bar vs LAMMPS " << rk);
    CHECK(kappa == doctest::Approx(rk).epsilon(0.2));
  }
}
