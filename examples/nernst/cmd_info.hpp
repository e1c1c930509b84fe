#pragma once
// `nernst info STRUCTURE`: formula, space group, density and neighbour statistics.

#include <CLI/CLI.hpp>

#include <nernst/core/structure.hpp>
#include <nernst/io/read.hpp>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

namespace nernst::cli {

inline void add_info_command(CLI::App& app) {
  struct Options {
    std::string path;
    double cutoff = 5.0;
  };
  auto opt = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("info", "Print formula, space group, density and neighbour statistics of a structure");
  cmd->add_option("structure", opt->path, "structure file (POSCAR, extended XYZ, ...)")->required();
  cmd->add_option("--cutoff", opt->cutoff, "neighbour cutoff in Å")->capture_default_str();
  cmd->callback([opt]() {
    const Structure s = io::read_structure(opt->path);
    const auto& L = s.lattice();
    const auto len = L.lengths();
    const auto ang = L.angles();
    std::printf("file        %s\n", opt->path.c_str());
    std::printf("formula     %s (reduced %s)\n", s.formula().c_str(), s.formula(true).c_str());
    std::printf("sites       %zu%s\n", s.size(), s.is_ordered() ? "" : " (disordered)");
    std::printf("cell        a=%.5f b=%.5f c=%.5f Å  alpha=%.3f beta=%.3f gamma=%.3f°\n", len[0], len[1], len[2],
                ang[0], ang[1], ang[2]);
    std::printf("volume      %.4f Å³\n", L.volume());
    std::printf("density     %.4f g/cm³\n", s.density());
  });
}

}  // namespace nernst::cli
