#pragma once
// `nernst relax STRUCTURE [--model M] [--precision P] [--fmax F] [--cell] [--pressure-gpa P]
//  [--hydrostatic] [--max-steps N] [--out FILE]`: FIRE relaxation (ASE's parameters), positions or
// positions + cell; without --model the bundled default graph network (model_choice.hpp). Prints a
// JSON summary.

#include <CLI/CLI.hpp>

#include <nernst/io/read.hpp>
#include <nernst/optimize/fire.hpp>

#include "model_choice.hpp"

#include <nlohmann/json.hpp>

#include <iostream>
#include <memory>

namespace nernst::cli {

inline void add_relax_command(CLI::App& app) {
  struct Opt {
    std::string structure, model = "default", out, precision = "double";
    RelaxOptions r;
    bool cell = false, hydrostatic = false, quiet = false;
    double pressure_gpa = 0, stress_tol = 0;
  };
  auto o = std::make_shared<Opt>();
  auto* cmd = app.add_subcommand("relax", "FIRE relaxation of positions (and the cell with --cell)");
  cmd->add_option("structure", o->structure, "ordered structure (CIF, POSCAR, extxyz)")->required();
  cmd->add_option("--model", o->model,
                  "default (the bundled M3GNet-MatPES-r2SCAN), rigid-ion, a matgl M3GNet or TensorNet directory, a CHGNet .pth.tar or a MACE .model")
      ->capture_default_str();
  cmd->add_option("--precision", o->precision, "graph-network arithmetic: float or double")
      ->check(CLI::IsMember({"float", "double"}))
      ->capture_default_str();
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
    const ModelChoice model = resolve_model(o->model);
    const RelaxResult res = with_potential(model, o->precision, graphnet::ThreeBodyMode::matgl,
                                           [&](auto& pot) { return Optimizer<FIRE>().run(sys, pot, r, cb); });
    const Structure relaxed = sys.to_structure();
    if (!o->out.empty()) io::write_structure(o->out, relaxed);
    const auto L = relaxed.lattice().lengths();
    const auto A = relaxed.lattice().angles();
    nlohmann::json j{{"converged", res.converged}, {"steps", res.steps}, {"energy_eV", res.energy},
                     {"energy_per_atom_eV", res.energy / sys.size()}, {"enthalpy_eV", res.enthalpy}, {"fmax", res.fmax},
                     {"max_stress_eV_A3", res.smax}, {"volume_A3", res.volume}, {"abc", {L[0], L[1], L[2]}},
                     {"angles", {A[0], A[1], A[2]}}, {"potential", model.name}, {"model", model.path}, {"precision", o->precision}};
    std::cout << j.dump(1) << "\n";
  });
}

}  // namespace nernst::cli
