// Active learning (workflow/active_learning.hpp, workflow/labeler.hpp) at tiny sizes: the pretrained
// M3GNet from ../shared/models is fine-tuned on labels from the bundled rigid-ion potential (the
// oracle) for an 8-atom LiCl cell. Checks: the fine-tuned model's errors against the oracle on the
// labelled frames decrease (evaluated independently with the inference Potential on the saved
// model), a run killed between stages resumes to the same result and weights, and the DFT-export
// labeler stops cleanly until every vasprun.xml is there, then imports them.

#include "../test_support.hpp"
#include "workflow_test_support.hpp"

#include <nernst/core/units.hpp>
#include <nernst/potential/graphnet/chgnet.hpp>
#include <nernst/potential/graphnet/mace.hpp>
#include <nernst/potential/graphnet/m3gnet.hpp>
#include <nernst/potential/graphnet/tensornet.hpp>
#include <nernst/potential/rigid_ion.hpp>
#include <nernst/workflow/active_learning.hpp>
#include <nernst/workflow/pipeline.hpp>

#include <filesystem>
#include <fstream>
#include <iomanip>

using namespace nernst;
namespace fs = std::filesystem;

namespace {
using workflow_test::licl_rock_salt;
using workflow_test::slurp;

workflow::ActiveLearningOptions tiny_al() {
  workflow::ActiveLearningOptions a;
  a.rounds = 2;
  a.frames = 4;
  a.T_start = 600;
  a.delta_T = 200;
  a.md_ps = 0.06;
  a.timestep = 2;
  a.sample_every = 3;
  a.epochs = 4;
  a.lr = 1e-3;
  a.batch_size = 4;
  return a;
}

auto make_m3gnet = [](const graphnet::M3GNetModel& m) { return Potential<GraphNet<M3GNet>>(m, graphnet::ThreeBodyMode::matgl); };
auto make_oracle = []() { return make_rigid_ion<>(); };

/// Mean absolute errors (energy eV/atom, force components eV/Å) of a potential against labelled frames.
template <class Pot>
std::pair<double, double> errors_of(Pot&& pot, const std::vector<io::Frame>& labels) {
  double e = 0, f = 0;
  std::size_t nf = 0;
  for (const auto& l : labels) {
    auto sys = System<>::from_structure(l.structure);
    ComputeRequest req;
    req.forces = true;
    const auto r = pot.compute(sys, req);
    auto hf = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), sys.f);
    e += std::abs(r.energy - *l.energy) / double(sys.size());
    for (std::size_t i = 0; i < sys.size(); ++i)
      for (int d = 0; d < 3; ++d) f += std::abs(hf(i, d) - l.forces[i][d]), ++nf;
  }
  return {e / double(labels.size()), f / double(nf)};
}

std::pair<double, double> errors(const std::string& model_dir, const std::vector<io::Frame>& labels) {
  return errors_of(Potential<GraphNet<M3GNet>>(M3GNet::load(model_dir), graphnet::ThreeBodyMode::matgl), labels);
}

/// A minimal vasprun.xml (one ionic step) with the given labels, as VASP writes them.
void write_vasprun(const fs::path& path, const Structure& s, double energy, const std::vector<Eigen::Vector3d>& forces,
                   const Eigen::Matrix3d& stress) {
  std::ofstream o(path);
  o << std::setprecision(17);
  o << "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<modeling>\n <atominfo>\n  <atoms> " << s.size()
    << " </atoms>\n  <array name=\"atoms\" >\n   <set>\n";
  for (int z : s.atomic_numbers()) o << "    <rc><c>" << element_symbol(z) << "</c><c>   1</c></rc>\n";
  o << "   </set>\n  </array>\n </atominfo>\n <calculation>\n  <structure>\n   <crystal>\n    <varray name=\"basis\" >\n";
  for (int i = 0; i < 3; ++i) o << "     <v> " << s.lattice().matrix().row(i) << " </v>\n";
  o << "    </varray>\n   </crystal>\n   <varray name=\"positions\" >\n";
  for (const auto& site : s.sites()) o << "    <v> " << site.frac.transpose() << " </v>\n";
  o << "   </varray>\n  </structure>\n  <varray name=\"forces\" >\n";
  for (const auto& f : forces) o << "   <v> " << f.transpose() << " </v>\n";
  o << "  </varray>\n  <varray name=\"stress\" >\n";
  const Eigen::Matrix3d kbar = -stress * units::eV_per_A3_in_kbar;
  for (int i = 0; i < 3; ++i) o << "   <v> " << kbar.row(i) << " </v>\n";
  o << "  </varray>\n  <energy>\n   <i name=\"e_fr_energy\"> " << energy << " </i>\n   <i name=\"e_0_energy\"> " << energy
    << " </i>\n  </energy>\n </calculation>\n</modeling>\n";
}
}  // namespace

TEST_CASE("active learning: M3GNet fine-tuned on rigid-ion labels; errors decrease; kill + rerun resumes") {
  NERNST_REQUIRE_SHARED_DATA();
  const std::string model = (nernst_test::shared_dir() / "models" / "m3gnet-mp-2021.2.8-pes").string();
  const fs::path base = fs::temp_directory_path() / ("nernst_al_test_" + std::to_string(::getpid()));
  fs::remove_all(base);
  auto start_in = [&](const fs::path& dir) {
    fs::create_directories(dir);
    io::write_structure((dir / "start.vasp").string(), licl_rock_salt(5.13), io::Format::Poscar);
    return std::string("start.vasp");  // relative to the run directory
  };
  const auto a = tiny_al();

  // uninterrupted
  workflow::AnyLabeler oracle(workflow::make_potential_labeler(make_oracle, "rigid-ion"));
  workflow::StageRunner ra(base / "a");
  const auto res = workflow::run_active_learning(ra, a, start_in(base / "a"), model, make_m3gnet, oracle);
  REQUIRE(res["rounds"].size() == 2);
  CHECK(ra.executed() == 8);
  for (const auto& r : res["rounds"]) {
    CHECK(r["select"]["indices"].size() == 4);
    CHECK(r["label"]["n"].get<int>() == 4);
  }
  CHECK(res["rounds"][1]["train"]["n_train"].get<int>() == 8);  // labels of both rounds
  CHECK(res["rounds"][1]["T_K"].get<double>() == 800);

  // independent check of the errors on all labelled frames: pretrained vs fine-tuned (saved) model
  std::vector<io::Frame> labels;
  for (const char* f : {"al0_label/labels.extxyz", "al1_label/labels.extxyz"})
    for (auto& fr : io::read_extxyz_all((base / "a" / f).string())) labels.push_back(fr);
  REQUIRE(labels.size() == 8);
  // the labels are the oracle's values
  {
    auto pot = make_oracle();
    auto sys = System<>::from_structure(labels[5].structure);
    ComputeRequest req;
    req.forces = true;
    CHECK(pot.compute(sys, req).energy == doctest::Approx(*labels[5].energy).epsilon(1e-12));
  }
  const auto before = errors(model, labels);
  const auto after = errors((base / "a" / res["model"].get<std::string>()).string(), labels);
  MESSAGE("MAE vs rigid-ion labels: E " << before.first << " -> " << after.first << " eV/atom, F " << before.second << " -> "
                                        << after.second << " eV/A");
  CHECK(after.first < before.first);
  CHECK(after.second < before.second);
  // the trainer's final metrics (trainable model in memory) equal the saved model's (inference code)
  CHECK(res["rounds"][1]["train"]["final"]["e"].get<double>() == doctest::Approx(after.first).epsilon(1e-6));
  CHECK(res["rounds"][1]["train"]["final"]["f"].get<double>() == doctest::Approx(after.second).epsilon(1e-6));

  // rerun: nothing executes
  workflow::StageRunner ra2(base / "a");
  CHECK(workflow::run_active_learning(ra2, a, "start.vasp", model, make_m3gnet, oracle) == res);
  CHECK(ra2.executed() == 0);

  // killed after round 1's labels (before its training), rerun: same result and same weights
  struct Kill {};
  {
    workflow::StageRunner rb(base / "b");
    CHECK_THROWS_AS(workflow::run_active_learning(rb, a, start_in(base / "b"), model, make_m3gnet, oracle,
                                                  [](const std::string& w, long) {
                                                    if (w == "al1_label") throw Kill{};
                                                  }),
                    Kill);
  }
  workflow::StageRunner rb(base / "b");
  const auto resb = workflow::run_active_learning(rb, a, "start.vasp", model, make_m3gnet, oracle);
  CHECK(rb.executed() == 2);  // al1_label (its done.json was not written) and al1_train
  CHECK(resb == res);
  CHECK(slurp(base / "a" / "al1_train" / "model" / "state.pt") == slurp(base / "b" / "al1_train" / "model" / "state.pt"));
  fs::remove_all(base);
}

/// One round of active learning of architecture Arch on rigid-ion labels of an 8-atom LiCl cell:
/// the fine-tuned model (read back from what the training stage saved, evaluated with the
/// inference Potential) is closer to the labels than `model`, the trainer's final metrics equal
/// that evaluation, and a rerun executes nothing.
template <class Arch, class MakePot>
void check_one_round(const std::string& model, const std::string& saved, MakePot make, const char* tag) {
  const fs::path dir = fs::temp_directory_path() / ("nernst_al_" + std::string(tag) + "_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  io::write_structure((dir / "start.vasp").string(), licl_rock_salt(5.13), io::Format::Poscar);
  auto a = tiny_al();
  a.rounds = 1;
  a.md_ps = 0.03;
  a.epochs = 8;
  workflow::AnyLabeler oracle(workflow::make_potential_labeler(make_oracle, "rigid-ion"));
  workflow::StageRunner r(dir);
  const nlohmann::json res = workflow::run_active_learning<Arch>(r, a, "start.vasp", model, make, oracle);
  CHECK(r.executed() == 4);
  REQUIRE(res["model"].get<std::string>() == saved);
  const auto labels = io::read_extxyz_all((dir / "al0_label" / "labels.extxyz").string());
  REQUIRE(labels.size() == 4);
  const auto before = errors_of(make(Arch::load(model)), labels);
  const auto after = errors_of(make(Arch::load((dir / saved).string())), labels);
  MESSAGE(std::string(tag) << " MAE vs rigid-ion labels: E " << before.first << " -> " << after.first << " eV/atom, F " << before.second
              << " -> " << after.second << " eV/A");
  CHECK(after.first < before.first);
  CHECK(after.second < before.second);
  CHECK(res["rounds"][0]["train"]["final"]["e"].get<double>() == doctest::Approx(after.first).epsilon(1e-6));
  CHECK(res["rounds"][0]["train"]["final"]["f"].get<double>() == doctest::Approx(after.second).epsilon(1e-6));
  workflow::StageRunner r2(dir);
  CHECK(workflow::run_active_learning<Arch>(r2, a, "start.vasp", model, make, oracle) == res);
  CHECK(r2.executed() == 0);
  fs::remove_all(dir);
}

TEST_CASE("active learning: CHGNet (the seed's model) fine-tuned on rigid-ion labels; saved checkpoint; rerun resumes") {
  NERNST_REQUIRE_SHARED_DATA();
  // CHGNet with random weights of the 0.3.0 architecture (no pretrained CHGNet is in ../shared):
  // what is checked is the loop (MD, selection, labels, training, checkpoint written and read back),
  // and that training moves the model towards the labels.
  check_one_round<CHGNet>(
      (nernst_test::shared_dir() / "models" / "chgnet-random" / "chgnet_0.3.0_random_seed0.pth.tar").string(),
      "al0_train/model.pth.tar", [](const graphnet::CHGNetModel& m) { return Potential<GraphNet<CHGNet>>(m); }, "chgnet");
}

TEST_CASE("active learning: TensorNet-MatPES fine-tuned on rigid-ion labels; saved matgl directory; rerun resumes") {
  NERNST_REQUIRE_SHARED_DATA();
  check_one_round<TensorNet>((nernst_test::shared_dir() / "models" / "tensornet-matpes-pbe-v2025.1-pes").string(),
                             "al0_train/model", [](const graphnet::TensorNetModel& m) { return Potential<GraphNet<TensorNet>>(m); },
                             "tensornet");
}

TEST_CASE("active learning: MACE fine-tuned on rigid-ion labels; saved .model; rerun resumes") {
  NERNST_REQUIRE_SHARED_DATA();
  // The small MACE model with random weights (shared/models/mace-random): the loop with MACE's
  // trainer (MACETrainable) and its .model writer, read back by MACE::load.
  check_one_round<MACE>((nernst_test::shared_dir() / "models" / "mace-random" / "mace-small-random.model").string(),
                        "al0_train/model.model", [](const MACE::Model& m) { return Potential<GraphNet<MACE>>(m); }, "mace");
}

TEST_CASE("active learning with the DFT-export labeler: waits for vasprun.xml, then imports them") {
  NERNST_REQUIRE_SHARED_DATA();
  const std::string model = (nernst_test::shared_dir() / "models" / "m3gnet-mp-2021.2.8-pes").string();
  const fs::path dir = fs::temp_directory_path() / ("nernst_al_dft_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  io::write_structure((dir / "start.vasp").string(), licl_rock_salt(5.13), io::Format::Poscar);
  auto a = tiny_al();
  a.rounds = 1;
  a.epochs = 1;
  workflow::AnyLabeler dft{workflow::DftExportLabeler()};
  auto run = [&] {
    workflow::StageRunner r(dir);
    return workflow::run_active_learning(r, a, "start.vasp", model, make_m3gnet, dft);
  };
  const fs::path export_dir = dir / "al0_label" / "dft";
  CHECK_THROWS_AS(run(), workflow::LabelsPending);
  REQUIRE(fs::exists(export_dir / "frame_003" / "POSCAR"));
  CHECK_FALSE(fs::exists(export_dir / "frame_004"));
  CHECK_FALSE(fs::exists(dir / "al0_label" / "done.json"));
  // "DFT" = the oracle, on the exported POSCARs; the last one is still missing at first
  auto oracle = make_oracle();
  std::vector<double> energies;
  for (int k = 0; k < 4; ++k) {
    const fs::path sub = export_dir / workflow::DftExportLabeler::folder(static_cast<std::size_t>(k));
    const Structure s = io::read_structure((sub / "POSCAR").string());
    auto sys = System<>::from_structure(s);
    ComputeRequest req;
    req.forces = req.stress = true;
    const auto r = oracle.compute(sys, req);
    auto hf = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), sys.f);
    std::vector<Eigen::Vector3d> f;
    for (std::size_t i = 0; i < sys.size(); ++i) f.emplace_back(hf(i, 0), hf(i, 1), hf(i, 2));
    energies.push_back(r.energy);
    if (k < 3) write_vasprun(sub / "vasprun.xml", s, r.energy, f, r.stress);
    else write_vasprun(sub / "vasprun.xml.later", s, r.energy, f, r.stress);
  }
  try {
    run();
    FAIL("expected LabelsPending");
  } catch (const workflow::LabelsPending& e) {
    const std::string m = e.what();
    CHECK(m.find("1 of 4") != std::string::npos);
    CHECK(m.find("frame_003") != std::string::npos);
  }
  fs::rename(export_dir / "frame_003" / "vasprun.xml.later", export_dir / "frame_003" / "vasprun.xml");
  const auto res = run();
  CHECK(res["rounds"][0]["label"]["n"].get<int>() == 4);
  CHECK(fs::exists(dir / res["model"].get<std::string>() / "state.pt"));
  const auto labels = io::read_extxyz_all((dir / "al0_label" / "labels.extxyz").string());
  REQUIRE(labels.size() == 4);
  for (int k = 0; k < 4; ++k) CHECK(*labels[static_cast<std::size_t>(k)].energy == doctest::Approx(energies[static_cast<std::size_t>(k)]).epsilon(1e-12));
  // a vasprun.xml of another composition is refused, naming the file
  {
    const fs::path bad = dir / "bad";
    fs::create_directories(bad / "dft" / "frame_000");
    Structure s(Lattice(5 * Eigen::Matrix3d::Identity()));
    s.add_site(3, Eigen::Vector3d(0, 0, 0));
    io::write_structure((bad / "dft" / "frame_000" / "POSCAR").string(), s, io::Format::Poscar);
    write_vasprun(bad / "dft" / "frame_000" / "vasprun.xml", s, -1.0, {Eigen::Vector3d::Zero()}, Eigen::Matrix3d::Zero());
    workflow::DftExportLabeler l;
    CHECK_THROWS_AS(l.label({licl_rock_salt(5.13)}, bad), ParseError);
  }
  fs::remove_all(dir);
}

TEST_CASE("pipeline with an active-learning round: the MD stages use the fine-tuned model") {
  NERNST_REQUIRE_SHARED_DATA();
  const std::string model = (nernst_test::shared_dir() / "models" / "m3gnet-mp-2021.2.8-pes").string();
  const fs::path out = fs::temp_directory_path() / ("nernst_al_pipeline_test_" + std::to_string(::getpid()));
  fs::remove_all(out);
  workflow::PipelineOptions o;
  o.structure = (nernst_test::data_dir() / "workflow" / "tiny_LiYCl4.cif").string();
  o.supercell = Eigen::Matrix3i::Identity();
  o.supercell(2, 2) = 2;
  o.occupancy_mode = "per-element";
  o.temperatures = {1500};
  o.out = out.string();
  o.potential_name = "M3GNet (test)";
  o.top_k = 1;
  o.fmax = 0.1;
  o.relax_steps = 20;
  o.timestep = 2;
  o.heating = 10, o.nvt = 10, o.npt = 20, o.average_last = 10;
  o.production_ps = 0.04;
  o.sample_every = 2;
  o.checkpoint_every = 10;
  o.quiet = true;
  auto a = tiny_al();
  a.rounds = 1;
  a.frames = 3;
  a.md_ps = 0.02;
  a.epochs = 1;
  a.T_start = 1500;
  auto current = std::make_shared<graphnet::M3GNetModel>(M3GNet::load(model));
  o.after_relax = workflow::active_learning_stage<M3GNet>(
      a, model, make_m3gnet, std::make_shared<workflow::AnyLabeler>(workflow::make_potential_labeler(make_oracle, "rigid-ion")),
      current);
  auto factory = [current]() { return make_m3gnet(*current); };
  workflow::StageCounts c;
  const auto rep = workflow::run_pipeline(o, factory, &c);
  CHECK(c.executed == 2 + 4 + 3 + 2);  // enumerate, relax, 4 AL stages, eq/prod/msd, arrhenius, report
  REQUIRE(rep.contains("active_learning"));
  CHECK(rep["active_learning"]["rounds"].size() == 1);
  const auto p_eq = workflow::read_json(out / "equilibrate_m0_1500K" / "done.json")["parameters"];
  CHECK(p_eq["potential"]["active_learning"] == rep["active_learning"]);
  // the factory now builds the fine-tuned model, also after a rerun that skips everything
  auto energy = [&](auto pot) {
    auto sys = System<>::from_structure(io::read_structure((out / "relax" / "top0.vasp").string()));
    ComputeRequest req;
    return pot.compute(sys, req).energy;
  };
  const double e_ft = energy(make_m3gnet(M3GNet::load((out / "al0_train" / "model").string())));
  const double e_pre = energy(make_m3gnet(M3GNet::load(model)));
  CHECK(e_ft != e_pre);
  CHECK(energy(factory()) == e_ft);
  *current = M3GNet::load(model);
  CHECK(workflow::run_pipeline(o, factory, &c) == rep);
  CHECK(c.executed == 0);
  CHECK(energy(factory()) == e_ft);
  fs::remove_all(out);
}
