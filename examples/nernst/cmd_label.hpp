#pragma once
// `nernst label FRAMES --model M --out LABELLED.extxyz`: energy, forces and stress of every frame
// of a file (extxyz, a trajectory, a POSCAR, ...) with a potential, written as extended XYZ with
// ASE's keys: the training set `nernst series` selects (training_set.extxyz), labelled by a teacher
// model, goes straight to `nernst finetune --train`. A DFT code labels the same file instead when
// the teacher is DFT (export the frames, then `nernst finetune --train vasprun.xml`).

#include <CLI/CLI.hpp>

#include <nernst/core/error.hpp>
#include <nernst/io/extxyz.hpp>
#include <nernst/io/read.hpp>
#include <nernst/workflow/json_file.hpp>
#include <nernst/workflow/labeler.hpp>

#include <nlohmann/json.hpp>

#include "model_choice.hpp"

#include <algorithm>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace nernst::cli {

inline void add_label_command(CLI::App& app) {
  struct Options {
    std::string frames, model = "default", precision = "double", out;
    std::size_t batch = workflow::kLabelBatch;
    bool quiet = false;
  };
  auto opt = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("label", "Label every frame of a file with a potential (energy, forces, stress) as extended XYZ");
  cmd->add_option("frames", opt->frames, "frames to label (extended XYZ, trajectory, POSCAR, CIF, vasprun.xml, ...)")->required();
  cmd->add_option("--model", opt->model,
                  "the labelling model: default (the bundled M3GNet-MatPES-r2SCAN), rigid-ion, a matgl M3GNet or TensorNet "
                  "directory, a MACE .model file or a CHGNet .pth.tar")
      ->capture_default_str();
  cmd->add_option("--precision", opt->precision, "float or double")->check(CLI::IsMember({"float", "double"}))->capture_default_str();
  cmd->add_option("--out", opt->out, "output: extended XYZ with energy, forces and stress per frame")->required();
  cmd->add_option("--batch", opt->batch,
                  "frames per evaluation: one batched evaluation where the model evaluates batches together (M3GNet "
                  "and CHGNet on a GPU), else one frame after another")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--quiet", opt->quiet, "no progress lines");
  cmd->callback([opt]() {
    const std::vector<io::Frame> frames = io::read_frames(opt->frames);
    if (frames.empty()) throw ValueError("'" + opt->frames + "' holds no frames to label");
    for (std::size_t k = 0; k < frames.size(); ++k)
      if (!frames[k].structure.is_ordered())
        throw ValueError("'" + opt->frames + "' frame " + std::to_string(k) + " has partial occupancies; label needs ordered structures");
    const ModelChoice choice = resolve_model(opt->model);
    std::ostringstream xyz;
    nlohmann::json energies = nlohmann::json::array();
    std::vector<Structure> structures;
    for (const auto& f : frames) structures.push_back(f.structure);
    with_potential(choice, opt->precision, graphnet::ThreeBodyMode::matgl, [&](auto& pot) {
      for (std::size_t k = 0; k < structures.size(); k += opt->batch) {
        const std::size_t end = std::min(structures.size(), k + opt->batch);
        for (const io::Frame& f : workflow::label_batch_with_potential(pot, structures.data() + k, structures.data() + end)) {
          io::write_extxyz_frame(xyz, f);
          energies.push_back(*f.energy);
        }
        if (!opt->quiet)
          std::cerr << "label: " << end << "/" << structures.size() << " E = " << energies.back() << " eV\n" << std::flush;
      }
    });
    workflow::write_file_atomic(opt->out, xyz.str());  // all or nothing: a killed run leaves no half-labelled file
    std::cout << nlohmann::json{{"frames", frames.size()}, {"model", choice.name},
                                {"precision", opt->precision}, {"out", opt->out}, {"energies_eV", energies}}
                     .dump(2)
              << "\n";
  });
}

}  // namespace nernst::cli
