#pragma once
// `nernst convert IN OUT`: converts between CIF, POSCAR/CONTCAR, extended XYZ, LAMMPS data and
// dump, vasprun.xml and OUTCAR (the last three read only). Formats from the file names (as ASE
// guesses them) or --from/--to. Trajectories are streamed frame by frame into extended XYZ.

#include <CLI/CLI.hpp>

#include <nernst/io/read.hpp>

#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

namespace nernst::cli {

inline void add_convert_command(CLI::App& app) {
  struct Options {
    std::string in, out, from = "auto", to = "auto", frames = "auto", types;
    double cif_tolerance = 1e-2;
  };
  auto opt = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "convert", "Convert structures and trajectories: cif, poscar, extxyz, lammps-data, lammps-dump, vasprun, outcar");
  cmd->add_option("input", opt->in, "input file")->required();
  cmd->add_option("output", opt->out, "output file")->required();
  cmd->add_option("--from", opt->from, "input format (default: from the file name)")->capture_default_str();
  cmd->add_option("--to", opt->to, "output format (default: from the file name)")->capture_default_str();
  cmd->add_option("--frames", opt->frames,
                  "which frames: 'all', 'last', or an index (negative from the end); default: all for an extxyz "
                  "output, last otherwise")
      ->capture_default_str();
  cmd->add_option("--types", opt->types, "elements of LAMMPS atom types 1, 2, ... (e.g. Li,Ar)");
  cmd->add_option("--cif-tolerance", opt->cif_tolerance, "CIF site-merging distance in Å")->capture_default_str();
  cmd->callback([opt]() {
    io::ReadOptions ro;
    ro.cif.merge_tolerance = opt->cif_tolerance;
    if (!opt->types.empty()) {
      std::stringstream ss(opt->types);
      std::string sym;
      while (std::getline(ss, sym, ',')) ro.lammps.type_to_z.push_back(atomic_number(sym));
    }
    const io::Format fin = opt->from == "auto" ? io::guess_format(opt->in) : io::parse_format(opt->from);
    const io::Format fout = opt->to == "auto" ? io::guess_format(opt->out) : io::parse_format(opt->to);
    io::TrajectoryReader reader(opt->in, fin, ro);
    std::string which = opt->frames;
    if (which == "auto") which = fout == io::Format::ExtXYZ ? "all" : "last";
    if (which == "all" && fout != io::Format::ExtXYZ)
      throw ValueError(std::string(io::format_name(fout)) + " holds one frame: choose one with --frames");
    std::size_t written = 0;
    if (which == "all") {
      io::ExtXYZWriter w(opt->out);
      io::Frame f;
      while (reader.next(f)) {
        w.write(f);
        ++written;
      }
    } else {
      long index = -1;
      if (which != "last") {
        try {
          std::size_t used = 0;
          index = std::stol(which, &used);
          if (used != which.size()) throw std::invalid_argument(which);
        } catch (const std::exception&) {
          throw ValueError("--frames must be 'all', 'last' or an integer, not '" + which + "'");
        }
      }
      io::write_frame(opt->out, reader.read(index), fout);
      written = 1;
    }
    std::printf("%s (%s) -> %s (%s): %zu frame%s\n", opt->in.c_str(), io::format_name(fin), opt->out.c_str(),
                io::format_name(fout), written, written == 1 ? "" : "s");
  });
}

}  // namespace nernst::cli
