#pragma once
/// \file
/// \brief Labelers for active learning: give energies, forces and stresses to selected frames.
///
/// The Labeler concept (used by workflow/active_learning.hpp):
///
///     std::string name() const;                                   // recorded in stage parameters
///     LabelOutcome label(const std::vector<Structure>& frames,    // frames to label
///                        const std::filesystem::path& dir);        // the label stage's directory
///
/// `LabelOutcome::frames[k]` is the labelled frame k (energy eV, forces eV/Å, stress eV/Å³ with
/// ASE's sign) or, while frame k waits for an external calculation, a frame without energy;
/// `pending` names what is still missing. A stage with pending labels stops the run with
/// LabelsPending (a clean stop, not a failure): rerun the same command once they are there.
///
/// * `PotentialLabeler<Factory>`: any Potential is the oracle (e.g. the rigid-ion model, a larger
///   graph network).
/// * `DftExportLabeler`: writes `dft/frame_NNN/POSCAR` per frame for an external DFT code and, on
///   a rerun, imports `dft/frame_NNN/vasprun.xml` (io/vasp_output.hpp; the last ionic step, its
///   own geometry) when present. The composition of the imported structure must match.

#include <nernst/core/error.hpp>
#include <nernst/core/structure.hpp>
#include <nernst/core/system.hpp>
#include <nernst/io/frame.hpp>
#include <nernst/io/read.hpp>
#include <nernst/io/vasp_output.hpp>
#include <nernst/potential/potential.hpp>
#include <nernst/workflow/stage.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace workflow {

/// Labels of a set of frames; `pending` non-empty: some are still being computed elsewhere.
struct LabelOutcome {
  std::vector<io::Frame> frames;
  std::vector<std::string> pending;
};

/// Thrown when labels are still missing (external DFT): the run stops cleanly; rerun later.
class LabelsPending : public Error {
 public:
  explicit LabelsPending(const std::string& m) : Error(m) {}
};

namespace detail {
/// A computed System as a labelled extxyz frame of structure `s`.
template <class MemorySpace>
io::Frame labelled_frame(const Structure& s, const System<MemorySpace>& sys, const ComputeResult& r) {
  auto hf = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), sys.f);
  io::Frame f;
  f.structure = s;
  f.energy = r.energy;
  f.stress = r.stress;
  for (std::size_t i = 0; i < sys.size(); ++i) f.forces.emplace_back(hf(i, 0), hf(i, 1), hf(i, 2));
  return f;
}
}  // namespace detail

/// One structure labelled by a potential: energy, forces and stress (ASE sign) as an extxyz
/// frame (the form `nernst finetune` and the Trainer read).
template <class Pot>
io::Frame label_with_potential(Pot& pot, const Structure& s) {
  auto sys = System<typename Pot::memory_space>::from_structure(s);
  ComputeRequest req;
  req.forces = req.stress = true;
  const ComputeResult r = pot.compute(sys, req);
  return detail::labelled_frame(s, sys, r);
}

/// Structures [first, last) labelled by a potential, frame k as label_with_potential gives it for
/// structure k: in one compute_batch when the potential evaluates a batch together (batched():
/// M3GNet or CHGNet with their kernels, the default on a GPU), else one structure at a time.
template <class Pot>
std::vector<io::Frame> label_batch_with_potential(Pot& pot, const Structure* first, const Structure* last) {
  std::vector<io::Frame> frames;
  if constexpr (has_batch_compute<Pot>::value) {
    if (pot.batched()) {
      using Sys = System<typename Pot::memory_space>;
      std::vector<Sys> systems;
      for (const Structure* s = first; s != last; ++s) systems.push_back(Sys::from_structure(*s));
      std::vector<Sys*> ptrs;
      for (auto& sys : systems) ptrs.push_back(&sys);
      ComputeRequest req;
      req.forces = req.stress = true;
      const std::vector<ComputeResult> r = pot.compute_batch(ptrs, req);
      for (std::size_t k = 0; k < systems.size(); ++k) frames.push_back(detail::labelled_frame(first[k], systems[k], r[k]));
      return frames;
    }
  }
  for (const Structure* s = first; s != last; ++s) frames.push_back(label_with_potential(pot, *s));
  return frames;
}

/// Structures per batched labelling evaluation (label_batch_with_potential) by default: enough to
/// fill a GPU with small cells, few enough that their graphs stay a few hundred MB.
inline constexpr std::size_t kLabelBatch = 64;

/// A Potential as the oracle: `make()` returns a fresh potential (any Potential concept model).
template <class Factory>
class PotentialLabeler {
 public:
  PotentialLabeler(Factory make, std::string name) : make_(std::move(make)), name_(std::move(name)) {}
  const std::string& name() const { return name_; }

  LabelOutcome label(const std::vector<Structure>& frames, const std::filesystem::path& /*dir*/) {
    LabelOutcome out;
    auto pot = make_();
    for (std::size_t k = 0; k < frames.size(); k += kLabelBatch) {
      const std::size_t end = std::min(frames.size(), k + kLabelBatch);
      for (auto& f : label_batch_with_potential(pot, frames.data() + k, frames.data() + end)) out.frames.push_back(std::move(f));
    }
    return out;
  }

 private:
  Factory make_;
  std::string name_;
};

template <class Factory>
PotentialLabeler<Factory> make_potential_labeler(Factory make, std::string name) {
  return PotentialLabeler<Factory>(std::move(make), std::move(name));
}

/// Exports POSCAR folders for an external DFT code and imports their vasprun.xml when present.
class DftExportLabeler {
 public:
  explicit DftExportLabeler(std::string name = "dft-export (vasprun.xml)") : name_(std::move(name)) {}
  const std::string& name() const { return name_; }

  static std::string folder(std::size_t k) {
    char b[32];
    std::snprintf(b, sizeof b, "frame_%03zu", k);
    return b;
  }

  LabelOutcome label(const std::vector<Structure>& frames, const std::filesystem::path& dir) {
    namespace fs = std::filesystem;
    const fs::path root = dir / "dft";
    fs::create_directories(root);
    if (!fs::exists(root / "README.txt"))
      write_file_atomic(root / "README.txt",
                        "Each frame_NNN folder holds a POSCAR selected by nernst's active learning.\n"
                        "Run a single-point DFT calculation (energy, forces, stress) in each folder with your\n"
                        "own INCAR/KPOINTS/POTCAR, leave vasprun.xml in the folder, then rerun the same\n"
                        "nernst pipeline command: the labels are imported and the run continues.\n");
    LabelOutcome out;
    for (std::size_t k = 0; k < frames.size(); ++k) {
      const fs::path sub = root / folder(k);
      fs::create_directories(sub);
      if (!fs::exists(sub / "POSCAR")) {
        const std::string tmp = (sub / "POSCAR.tmp").string();
        io::write_structure(tmp, frames[k], io::Format::Poscar);
        fs::rename(tmp, sub / "POSCAR");
      }
      const fs::path xml = sub / "vasprun.xml";
      io::Frame f;
      if (!fs::exists(xml)) {
        f.structure = frames[k];
        out.frames.push_back(std::move(f));
        out.pending.push_back(sub.string());
        continue;
      }
      const io::VaspOutput v = io::read_vasprun(xml.string());
      if (v.frames.empty()) throw ParseError(xml.string(), 0, "no completed ionic step");
      f = v.frames.back();
      if (!f.energy && f.free_energy) f.energy = f.free_energy;
      if (!f.energy || f.forces.size() != f.structure.size())
        throw ParseError(xml.string(), 0, "the last ionic step lacks an energy or forces");
      auto za = f.structure.atomic_numbers(), zb = frames[k].atomic_numbers();
      std::sort(za.begin(), za.end());
      std::sort(zb.begin(), zb.end());
      if (za != zb)
        throw ParseError(xml.string(), 0, "composition differs from the exported POSCAR (" + frames[k].formula() + ")");
      out.frames.push_back(std::move(f));
    }
    return out;
  }

 private:
  std::string name_;
};

/// Any labeler behind one type (drivers choose the labeler at run time).
class AnyLabeler {
 public:
  template <class L>
  explicit AnyLabeler(L l) : name_(l.name()) {
    auto p = std::make_shared<L>(std::move(l));
    fn_ = [p](const std::vector<Structure>& f, const std::filesystem::path& d) { return p->label(f, d); };
  }
  const std::string& name() const { return name_; }
  LabelOutcome label(const std::vector<Structure>& frames, const std::filesystem::path& dir) { return fn_(frames, dir); }

 private:
  std::string name_;
  std::function<LabelOutcome(const std::vector<Structure>&, const std::filesystem::path&)> fn_;
};

}  // namespace workflow
NERNST_NAMESPACE_END
