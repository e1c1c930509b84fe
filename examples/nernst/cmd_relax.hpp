#pragma once
// `nernst relax STRUCTURE [--model DIR] [--fmax F] [--cell] [--pressure-gpa P] [--hydrostatic]
//  [--max-steps N] [--out FILE]`: FIRE relaxation (ASE's parameters), positions or positions +
// cell; without --model the bundled rigid-ion potential (Li, Y, Cl). Prints a JSON summary.

#include <CLI/CLI.hpp>

#include <nernst/io/read.hpp>
#include <nernst/optimize/fire.hpp>
#include <nernst/potential/graphnet/m3gnet.hpp>
#include <nernst/potential/rigid_ion.hpp>

#include <nlohmann/json.hpp>

#include <iostream>
#include <memory>

namespace nernst::cli {

inline void add_relax_command(CLI::App& app) {
  struct Opt {
    std::string structure, model, out;
    RelaxOptions r;
    bool cell = false, hydrostatic = false, quiet = false;
    double pressure_gpa = 0, stress_tol = 0;
  };
  auto o = std::make_shared<Opt>();
  auto* cmd = app.add_subcommand("relax", "FIRE relaxation of positions (and the cell with --cell)");
  cmd->add_option("structure", o->structure, "ordered structure (CIF, POSCAR, extxyz)")->required();
  cmd->add_option("--model", o->model, "M3GNet model directory; default: the bundled rigid-ion potential");
  cmd->add_option("--fmax", o->r.fmax, "force criterion (eV/Å)")->capture_default_str();
  cmd->add_option("--max-steps", o->r.max_steps, "maximum FIRE steps")->capture_default_str();
  cmd->add_flag("--cell", o->cell, "relax the cell too (ASE UnitCellFilter)");
  cmd->add_option("--pressure-gpa", o->pressure_gpa, "target hydrostatic pressure (GPa), with --cell")->capture_default_str();
  cmd->add_flag("--hydrostatic", o->hydrostatic, "only isotropic cell changes, with --cell");
  cmd->add_option("--stress-tol", o->stress_tol, "also require max|sigma + p| below this (eV/Å³)")->capture_default_str();
  cmd->add_option("--out", o->out, "write the relaxed structure here (format from the extension)");
  cmd->add_flag("--quiet", o->quiet, "no per-step log on stderr");
  cmd->callback([o]() {
    const Structure s = io::read_structure(o->structure);
    if (!s.is_ordered()) throw ValueError("'" + o->structure + "' is disordered; relax needs an ordered structure");
    auto sys = System<>::from_structure(s);
    RelaxOptions r = o->r;
    r.stress_tol = o->stress_tol;
    if (o->cell) {
      CellFilter c;
      c.pressure = units::GPa_to_eV_per_A3(o->pressure_gpa);
      c.hydrostatic_strain = o->hydrostatic;
      r.cell = c;
    }
    auto cb = [o](const RelaxStep& st) {
      if (!o->quiet) std::fprintf(stderr, "FIRE %5ld  E = %.8f eV  fmax = %.5f eV/Å  V = %.3f Å³\n", st.step, st.energy, st.fmax, st.volume);
    };
    RelaxResult res;
    if (o->model.empty()) {
      auto pot = make_rigid_ion<>();
      res = Optimizer<FIRE>().run(sys, pot, r, cb);
    } else {
      const auto model = M3GNet::load(o->model);
      Potential<GraphNet<M3GNet>> pot(model, graphnet::ThreeBodyMode::matgl);
      res = Optimizer<FIRE>().run(sys, pot, r, cb);
    }
    const Structure relaxed = sys.to_structure();
    if (!o->out.empty()) io::write_structure(o->out, relaxed);
    const auto L = relaxed.lattice().lengths();
    const auto A = relaxed.lattice().angles();
    nlohmann::json j{{"converged", res.converged}, {"steps", res.steps}, {"energy_eV", res.energy},
                     {"energy_per_atom_eV", res.energy / sys.size()}, {"enthalpy_eV", res.enthalpy}, {"fmax", res.fmax},
                     {"max_stress_eV_A3", res.smax}, {"volume_A3", res.volume}, {"abc", {L[0], L[1], L[2]}},
                     {"angles", {A[0], A[1], A[2]}}, {"potential", o->model.empty() ? "rigid-ion" : o->model}};
    std::cout << j.dump(1) << "\n";
  });
}

}  // namespace nernst::cli
