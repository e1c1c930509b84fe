// End-to-end pipeline on a tiny disordered chloride with the bundled rigid-ion potential and
// short runs: every stage's outputs exist and are consistent (σ(300 K) in the report equals σ
// recomputed from the stored D values), a rerun skips everything, and a killed + restarted run
// writes the same report as an uninterrupted one.

#include "../test_support.hpp"
#include "workflow_test_support.hpp"

#include <nernst/potential/rigid_ion.hpp>
#include <nernst/workflow/pipeline.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace nernst;
using workflow_test::slurp;
namespace fs = std::filesystem;

namespace {
workflow::PipelineOptions tiny_options(const fs::path& out) {
  workflow::PipelineOptions o;
  o.structure = (nernst_test::data_dir() / "workflow" / "tiny_LiYCl4.cif").string();
  o.supercell = Eigen::Matrix3i::Identity();
  o.supercell(2, 2) = 2;
  o.occupancy_mode = "per-element";
  o.temperatures = {1500, 2500};
  o.out = out.string();
  o.top_k = 3;
  o.top_m = 1;
  o.fmax = 0.05;
  o.relax_steps = 300;
  o.heating = 100;
  o.nvt = 100;
  o.npt = 200;
  o.average_last = 100;
  o.production_ps = 2.0;
  o.sample_every = 10;
  o.checkpoint_every = 200;
  o.quiet = true;
  o.framework_msd_limit_A2 = 1e9;  // this made-up cell is hot enough to melt; the check is tested below
  o.hop_coarse_ps = 0.05;          // frames every 0.01 ps here: hops counted on 5-frame blocks (40 in 2 ps)
  // 2 Li for 2 ps: by the default rule (k = 2, 10 hops) nothing here is measurable, and the report
  // says so (checked at the end). The consistency checks need diffusive temperatures: k = 0.5, 5 hops.
  o.detection.k_sigma = 0.5;
  o.detection.min_hops = 5;
  return o;
}
// sigma_Y = 1.03 Å: this hot, tiny made-up cell then diffuses clearly at both temperatures, so the
// Arrhenius/σ(300 K) consistency checks below are exercised (the machinery, not the physics).
auto factory = []() { return make_rigid_ion<>(li_y_cl_rigid_ion(1e-5, 7.0, 1.03)); };
}  // namespace

TEST_CASE("pipeline end to end: outputs, consistency, skip on rerun, kill + resume gives the same report") {
  const fs::path base = fs::temp_directory_path() / ("nernst_pipeline_test_" + std::to_string(::getpid()));
  fs::remove_all(base);
  const auto a_dir = base / "a", b_dir = base / "b";
  workflow::StageCounts c;
  const auto rep = workflow::run_pipeline(tiny_options(a_dir), factory, &c);
  CHECK(c.skipped == 0);
  CHECK(c.executed == 1 + 1 + 2 * 3 + 1 + 1);  // enumerate, relax, (eq, prod, msd) x 2 T, arrhenius, report

  // outputs of every stage
  for (const char* f : {"enumerate/done.json", "enumerate/top0.vasp", "relax/done.json", "relax/top0.vasp",
                        "equilibrate_m0_1500K/equilibrated.vasp", "production_m0_1500K/trajectory.extxyz",
                        "production_m0_2500K/thermo.csv", "msd_m0_1500K/msd.svg", "msd_m0_2500K/density_ab.svg",
                        "report.md", "report.json", "ranking.svg"})
    CHECK_MESSAGE(fs::exists(a_dir / f), f);
  CHECK(rep["enumerate"]["count"].get<int>() >= 3);
  CHECK(rep["relax"]["ranked"].size() == 3);
  double prev = -1e300;
  for (const auto& r : rep["relax"]["ranked"]) {
    CHECK(r["energy_eV_per_atom"].get<double>() >= prev);
    prev = r["energy_eV_per_atom"].get<double>();
  }
  // trajectory frames = steps / sample_every + 1
  const auto& md = rep["md"][0];
  for (const auto& t : md["temperatures"]) CHECK(t["frames"].get<int>() == 201);

  // E_A recomputed from the stored D values (msd stage outputs on disk); σ(T) = Nernst–Einstein
  // of the stored D (or of the upper limit when no diffusion is detected)
  std::vector<analysis::ArrheniusPoint> pts;
  bool weighted = true;
  for (const char* s : {"msd_m0_1500K", "msd_m0_2500K"}) {
    const auto j = workflow::read_json(a_dir / s / "done.json")["result"];
    CHECK(j["fit_window_ps"] == nlohmann::json::array({j["fit_start_ps"], j["fit_end_ps"]}));
    CHECK(j["n_hops"].get<std::size_t>() >= (j["diffusive"].get<bool>() ? 10u : 0u));
    const double n = j["n_mobile"].get<double>(), V = j["mean_volume_A3"].get<double>(), T = j["T_K"].get<double>();
    if (j["diffusive"].get<bool>()) {
      const double D = j["D_cm2_s"].get<double>(), err = j["D_err_cm2_s"].get<double>();
      CHECK(D - tiny_options(a_dir).detection.k_sigma * err > 0);
      pts.push_back({T, D, err});
      weighted = weighted && err > 0;
      CHECK(j["sigma_mS_cm"].get<double>() == doctest::Approx(analysis::nernst_einstein_mS_cm(D, n, 1, V, T)).epsilon(1e-12));
      CHECK(j["D_upper_limit_cm2_s"].is_null());
    } else {
      CHECK(j["D_cm2_s"].is_null());
      CHECK(j["sigma_mS_cm"].is_null());
      const double lim = j["D_upper_limit_cm2_s"].get<double>();
      CHECK(lim > 0);
      CHECK(j["sigma_upper_limit_mS_cm"].get<double>() == doctest::Approx(analysis::nernst_einstein_mS_cm(lim, n, 1, V, T)).epsilon(1e-12));
    }
  }
  const auto& arr = md["arrhenius"];
  MESSAGE("tiny case: " << md["temperatures"][0].dump() << "\n" << md["temperatures"][1].dump() << "\narrhenius: " << arr.dump());
  REQUIRE(pts.size() == 2);  // both temperatures diffuse in this (hot) tiny case
  {
    // two diffusive temperatures: E_A, but no σ(300 K), and the report says why
    REQUIRE(arr["fit_available"].get<bool>());
    CHECK_FALSE(arr["available"].get<bool>());
    const auto f = analysis::fit_arrhenius(pts, weighted);
    CHECK(arr["Ea_eV"].get<double>() == doctest::Approx(f.Ea_eV).epsilon(1e-12));
    CHECK(arr["sigma300K_mS_cm"].is_null());
    CHECK(arr["sigma300K_reason"].get<std::string>().find("only 2 temperatures with measurable diffusion") == 0);
    std::ifstream in(a_dir / "report.md");
    const std::string md_text((std::istreambuf_iterator<char>(in)), {});
    CHECK(md_text.find("σ(300 K) not extrapolated**: only 2 temperatures") != std::string::npos);
    CHECK(md_text.find("hops") != std::string::npos);
  }

  // rerun: everything is skipped, same report
  const auto rep2 = workflow::run_pipeline(tiny_options(a_dir), factory, &c);
  CHECK(c.executed == 0);
  CHECK(rep2 == rep);

  // killed during production (after 300 production steps), then restarted
  auto ob = tiny_options(b_dir);
  ob.interrupt_after_steps = 300;
  CHECK_THROWS_AS(workflow::run_pipeline(ob, factory), workflow::Interrupted);
  CHECK(fs::exists(b_dir / "production_m0_1500K" / "checkpoint.bin"));
  CHECK_FALSE(fs::exists(b_dir / "production_m0_1500K" / "done.json"));
  ob.interrupt_after_steps = 0;
  auto repb = workflow::run_pipeline(ob, factory, &c);
  CHECK(c.skipped == 3);  // enumerate, relax, equilibrate_1500K
  // identical apart from the output directory named in nothing: compare everything
  CHECK(repb["md"] == rep["md"]);
  CHECK(repb["relax"] == rep["relax"]);
  CHECK(repb == rep);
  // same trajectory file byte for byte
  CHECK(slurp(a_dir / "production_m0_1500K" / "trajectory.extxyz") == slurp(b_dir / "production_m0_1500K" / "trajectory.extxyz"));

  // killed after the first relaxed ordering, then inside the NpT part of the 2500 K equilibration
  // (checkpoints every 50 steps here: chunking does not change the trajectories): finished
  // orderings are not relaxed again, equilibration resumes from its checkpoint, same report
  {
    struct Kill {};
    auto oc = tiny_options(base / "c");
    oc.checkpoint_every = 50;
    int relaxed = 0, npt100 = 0;
    oc.on_checkpoint = [&](const std::string& w, long) {
      if (w.rfind("relax", 0) == 0 && ++relaxed == 1) throw Kill{};
    };
    CHECK_THROWS_AS(workflow::run_pipeline(oc, factory), Kill);
    CHECK(fs::exists(base / "c" / "relax" / "top0.vasp.json"));
    relaxed = 0;
    oc.on_checkpoint = [&](const std::string& w, long step) {
      if (w.rfind("relax", 0) == 0) ++relaxed;
      if (w == "equilibrate NpT" && step == 100 && ++npt100 == 2) throw Kill{};
    };
    CHECK_THROWS_AS(workflow::run_pipeline(oc, factory), Kill);
    CHECK(relaxed == 2);  // only the two orderings not finished before the first kill
    CHECK(fs::exists(base / "c" / "equilibrate_m0_2500K" / "eq_npt.chk"));
    CHECK_FALSE(fs::exists(base / "c" / "equilibrate_m0_2500K" / "done.json"));
    long eq_after_resume = 0;
    oc.on_checkpoint = [&](const std::string& w, long) { eq_after_resume += w.rfind("equilibrate", 0) == 0; };
    const auto repc = workflow::run_pipeline(oc, factory, &c);
    CHECK(c.skipped == 5);            // enumerate, relax, equilibrate/production/msd at 1500 K
    CHECK(eq_after_resume == 2);      // NpT chunks ending at steps 150 and 200 only
    CHECK(repc == rep);
  }

  // a changed option reruns only the affected stages
  auto oc = tiny_options(a_dir);
  oc.density_interval = 0.4;
  workflow::run_pipeline(oc, factory, &c);
  CHECK(c.executed == 2);  // msd x 2; D is unchanged, so arrhenius and report are skipped too
  CHECK(c.skipped == 8);

  // framework check: with a zero limit every temperature counts as molten and leaves the fit
  oc.framework_msd_limit_A2 = 0.0;
  const auto repf = workflow::run_pipeline(oc, factory, &c);
  CHECK(c.executed == 4);  // msd x 2, arrhenius, report
  for (std::size_t i = 0; i < 2; ++i) {
    const auto& t = repf["md"][0]["temperatures"][i];
    CHECK(t["framework_msd_A2"].get<double>() > 0);
    CHECK(t["framework_mobile"].get<bool>());
    CHECK(t["D_cm2_s"] == rep["md"][0]["temperatures"][i]["D_cm2_s"]);  // the Li result itself is unchanged
  }
  CHECK_FALSE(repf["md"][0]["arrhenius"]["available"].get<bool>());
  CHECK(repf["md"][0]["arrhenius"]["excluded_framework_mobile_K"] == nlohmann::json::array({1500.0, 2500.0}));
  CHECK(slurp(a_dir / "report.md").find("framework diffuses") != std::string::npos);

  // the default detection rule: 2 Li for 2 ps is no measurement at either temperature → upper
  // limits, no Arrhenius fit, no σ(300 K), and no D <= 0 anywhere in the report
  oc.framework_msd_limit_A2 = 1e9;
  oc.detection = analysis::DetectionOptions{};
  const auto repd = workflow::run_pipeline(oc, factory, &c);
  CHECK(c.executed == 4);  // msd x 2, arrhenius, report
  for (const auto& t : repd["md"][0]["temperatures"]) {
    CHECK_FALSE(t["diffusive"].get<bool>());
    CHECK(t["D_cm2_s"].is_null());
    CHECK(t["D_upper_limit_cm2_s"].get<double>() > 0);
    CHECK(t["detection"]["reason"].get<std::string>().find("not significantly above zero") != std::string::npos);
  }
  const auto& ad = repd["md"][0]["arrhenius"];
  CHECK_FALSE(ad["fit_available"].get<bool>());
  CHECK(ad["sigma300K_mS_cm"].is_null());
  CHECK(ad["excluded_not_diffusive_K"] == nlohmann::json::array({1500.0, 2500.0}));
  const std::string mdd = slurp(a_dir / "report.md");
  std::size_t n_limits = 0;
  for (std::size_t p = mdd.find("no diffusion detected, D < "); p != std::string::npos; p = mdd.find("no diffusion detected, D < ", p + 1)) {
    ++n_limits;
    CHECK(std::stod(mdd.substr(p + 27)) > 0);
  }
  CHECK(n_limits == 2);
  CHECK(mdd.find("D = ") == std::string::npos);
  CHECK(mdd.find("Arrhenius fit not available") != std::string::npos);
  fs::remove_all(base);
}

TEST_CASE("pipeline: relaxations and temperatures in worker processes (jobs = 2) give the same report, cells and trajectories as jobs = 1") {
  // Workers run on one thread each; with a threaded Kokkos the jobs = 1 run is made one-thread
  // too (a threaded run splits its sums differently and agrees only to rounding).
  const fs::path base = fs::temp_directory_path() / ("nernst_pipeline_jobs_" + std::to_string(::getpid()));
  fs::remove_all(base);
  auto o1 = tiny_options(base / "serial");
  auto o2 = tiny_options(base / "workers");
  o1.production_ps = o2.production_ps = 0.5;  // identity, not statistics
  o2.jobs = 2;
  // each relaxed ordering reports which process relaxed it
  const fs::path marks = base / "relaxed_by";
  fs::create_directories(marks);
  o2.on_checkpoint = [&](const std::string& w, long k) {
    if (w.rfind("relax ", 0) == 0) std::ofstream(marks / (std::to_string(k) + "_" + std::to_string(::getpid())));
  };
  workflow::StageCounts c1, c2;
  nlohmann::json r1, r2;
  workflow::on_one_thread([&] {
    r1 = workflow::run_pipeline(o1, factory, &c1);
    r2 = workflow::run_pipeline(o2, factory, &c2);
  });
  // The parent found every equilibration and production done by its workers.
  CHECK(c2.skipped == 2 * 2);
  CHECK(c1.skipped == 0);
  CHECK(r2 == r1);
  // the three kept orderings were relaxed by worker processes, not by this one
  std::vector<std::string> relaxed_by;
  for (const auto& e : fs::directory_iterator(marks)) relaxed_by.push_back(e.path().filename().string());
  CHECK(relaxed_by.size() == 3);
  for (const auto& m : relaxed_by) CHECK(m.substr(m.find('_') + 1) != std::to_string(::getpid()));
  for (const auto& o : r1["relax"]["ranked"]) {
    const std::string f = "relax/" + o["file"].get<std::string>();
    CHECK(!slurp(base / "serial" / f).empty());
    CHECK(slurp(base / "serial" / f) == slurp(base / "workers" / f));
  }
  for (const char* t : {"1500K", "2500K"}) {
    const std::string f = std::string("production_m0_") + t + "/trajectory.extxyz";
    CHECK(!slurp(base / "serial" / f).empty());
    CHECK(slurp(base / "serial" / f) == slurp(base / "workers" / f));
  }
  fs::remove_all(base);
}

TEST_CASE("pipeline --pressure: the NpT equilibration runs at the given pressure (20 kbar compresses the cell)") {
  const fs::path base = fs::temp_directory_path() / ("nernst_pipeline_pressure_" + std::to_string(::getpid()));
  fs::remove_all(base);
  auto lo = tiny_options(base / "1bar");
  auto hi = tiny_options(base / "20kbar");
  lo.temperatures = hi.temperatures = {1500};
  lo.production_ps = hi.production_ps = 0.2;
  lo.npt = hi.npt = 1000;  // long enough for the barostat (pdamp 1 ps) to respond
  lo.average_last = hi.average_last = 500;
  hi.pressure_bar = 20000;
  const auto r_lo = workflow::run_pipeline(lo, factory);
  const auto r_hi = workflow::run_pipeline(hi, factory);
  CHECK(r_hi["options"]["pressure_bar"].get<double>() == 20000);
  const auto eq = [](const fs::path& out) {
    std::ifstream in(out / "equilibrate_m0_1500K" / "done.json");
    return nlohmann::json::parse(in);
  };
  const auto e_lo = eq(base / "1bar"), e_hi = eq(base / "20kbar");
  CHECK(e_hi["parameters"]["pressure_bar"].get<double>() == 20000);
  const double v_lo = e_lo["result"]["mean_volume_A3"].get<double>(), v_hi = e_hi["result"]["mean_volume_A3"].get<double>();
  MESSAGE("mean NpT volume at 1500 K: " << v_lo << " Å³ (1 bar), " << v_hi << " Å³ (20 kbar)");
  CHECK(v_hi < v_lo);
  const auto v_atom = r_hi["md"][0]["temperatures"][0]["volume_per_atom_A3"].get<double>();
  const auto natoms = r_hi["relax"]["ranked"][0]["atoms"].get<double>();
  CHECK(v_atom == doctest::Approx(r_hi["md"][0]["temperatures"][0]["mean_volume_A3"].get<double>() / natoms).epsilon(1e-12));
  CHECK(v_atom * natoms == doctest::Approx(v_hi).epsilon(0.05));  // the NVT cell is the mean NpT cell
  fs::remove_all(base);
}

TEST_CASE("pipeline --replicas: the productions in lockstep give the report and trajectories of one run after another; a kill inside them resumes to the same") {
  // Replicas (md::HostBatch) evaluate each replica on one thread: the jobs = 1 run is made
  // one-thread too, as in the worker-process test above.
  struct Kill {};
  const fs::path base = fs::temp_directory_path() / ("nernst_pipeline_replicas_" + std::to_string(::getpid()));
  fs::remove_all(base);
  auto o1 = tiny_options(base / "serial");
  auto o2 = tiny_options(base / "replicas");
  auto o3 = tiny_options(base / "killed");
  o1.production_ps = o2.production_ps = o3.production_ps = 0.5;  // identity, not statistics
  o2.replicas = o3.replicas = true;
  int kills = 0;
  std::vector<std::string> after_kill;  // checkpoints of the rerun
  o3.on_checkpoint = [&](const std::string& w, long step) {
    if (kills == 1) after_kill.push_back(w + " " + std::to_string(step));
    if (w.rfind("production", 0) == 0 && step == 200 && kills == 0) {
      ++kills;
      throw Kill{};
    }
  };
  workflow::StageCounts c2;
  nlohmann::json r1, r2, r3;
  workflow::on_one_thread([&] {
    r1 = workflow::run_pipeline(o1, factory);
    r2 = workflow::run_pipeline(o2, factory, &c2);
    CHECK_THROWS_AS(workflow::run_pipeline(o3, factory), Kill);
    r3 = workflow::run_pipeline(o3, factory);
  });
  CHECK(kills == 1);
  CHECK(c2.executed == 1 + 1 + 2 * 3 + 1 + 1);  // every stage ran once (the productions finish at their last checkpoint)
  CHECK(r2 == r1);
  CHECK(r3 == r1);
  // The rerun resumed both productions at step 200 (no production checkpoint at or before it again).
  for (const char* t : {"1500K", "2500K"}) {
    const std::string what = std::string("production m0_") + t + " ";
    long first = 0;
    for (const auto& c : after_kill)
      if (c.rfind(what, 0) == 0 && first == 0) first = std::stol(c.substr(what.size()));
    CAPTURE(what);
    CHECK(first > 200);
  }
  // thermo.csv without its last column (steps per second: a timing)
  const auto thermo = [](const fs::path& p) {
    std::istringstream in(slurp(p));
    std::string line, out;
    while (std::getline(in, line)) out += line.substr(0, line.rfind(',')) + "\n";
    return out;
  };
  for (const char* t : {"1500K", "2500K"}) {
    const std::string dir = std::string("production_m0_") + t;
    CAPTURE(dir);
    const std::string traj = dir + "/trajectory.extxyz";
    CHECK(!slurp(base / "serial" / traj).empty());
    CHECK(slurp(base / "serial" / traj) == slurp(base / "replicas" / traj));
    CHECK(slurp(base / "serial" / traj) == slurp(base / "killed" / traj));
    CHECK(thermo(base / "serial" / dir / "thermo.csv") == thermo(base / "replicas" / dir / "thermo.csv"));
    CHECK(thermo(base / "serial" / dir / "thermo.csv") == thermo(base / "killed" / dir / "thermo.csv"));
  }
  fs::remove_all(base);
}
