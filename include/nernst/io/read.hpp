#pragma once
/// \file
/// \brief read_structure / write_structure / read_frames / TrajectoryReader: one entry point
/// for every format nernst reads, chosen from the file name (as ASE does) or named explicitly.

#include <nernst/core/error.hpp>
#include <nernst/core/structure.hpp>
#include <nernst/io/cif.hpp>
#include <nernst/io/extxyz.hpp>
#include <nernst/io/lammps.hpp>
#include <nernst/io/poscar.hpp>
#include <nernst/io/vasp_output.hpp>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace io {

enum class Format { Auto, Poscar, ExtXYZ, Cif, LammpsData, LammpsDump, Vasprun, Outcar };

/// Options that only some formats use.
struct ReadOptions {
  CifOptions cif;
  LammpsOptions lammps;
  VaspReadOptions vasp;
};

/// The canonical name of a format ("poscar", "extxyz", "cif", "lammps-data", "lammps-dump",
/// "vasprun", "outcar").
inline const char* format_name(Format f) {
  switch (f) {
    case Format::Poscar: return "poscar";
    case Format::ExtXYZ: return "extxyz";
    case Format::Cif: return "cif";
    case Format::LammpsData: return "lammps-data";
    case Format::LammpsDump: return "lammps-dump";
    case Format::Vasprun: return "vasprun";
    case Format::Outcar: return "outcar";
    default: return "auto";
  }
}

/// A format from its name; accepts ASE's names too (vasp, xyz, vasp-xml, vasp-out,
/// lammps-dump-text).
inline Format parse_format(const std::string& name) {
  std::string n = detail::lower(name);
  if (n == "auto" || n.empty()) return Format::Auto;
  if (n == "poscar" || n == "vasp" || n == "contcar") return Format::Poscar;
  if (n == "extxyz" || n == "xyz") return Format::ExtXYZ;
  if (n == "cif") return Format::Cif;
  if (n == "lammps-data" || n == "lammps_data" || n == "data" || n == "lmp") return Format::LammpsData;
  if (n == "lammps-dump" || n == "lammps-dump-text" || n == "dump" || n == "lammpstrj") return Format::LammpsDump;
  if (n == "vasprun" || n == "vasp-xml" || n == "xml") return Format::Vasprun;
  if (n == "outcar" || n == "vasp-out") return Format::Outcar;
  throw ValueError("unknown format '" + name +
                   "' (poscar, extxyz, cif, lammps-data, lammps-dump, vasprun, outcar)");
}

/// Guesses a format from a file name the way ASE does for the common cases.
inline Format guess_format(const std::string& path) {
  const std::string lower = detail::lower(std::filesystem::path(path).filename().string());
  auto ends = [&](const std::string& suf) {
    return lower.size() >= suf.size() && lower.compare(lower.size() - suf.size(), suf.size(), suf) == 0;
  };
  auto starts = [&](const std::string& pre) { return lower.compare(0, pre.size(), pre) == 0; };
  if (ends(".xyz") || ends(".extxyz")) return Format::ExtXYZ;
  if (ends(".cif")) return Format::Cif;
  if (ends(".xml") && lower.find("vasprun") != std::string::npos) return Format::Vasprun;
  if (starts("outcar") || ends(".outcar")) return Format::Outcar;
  if (ends(".vasp") || ends(".poscar") || lower.find("poscar") != std::string::npos ||
      lower.find("contcar") != std::string::npos)
    return Format::Poscar;
  if (ends(".lmp") || ends(".data") || starts("data.") || ends(".lammps-data")) return Format::LammpsData;
  if (ends(".dump") || ends(".lammpstrj") || starts("dump.")) return Format::LammpsDump;
  throw ValueError("cannot tell the format of '" + path + "' from its name; name the format explicitly");
}

/// Formats that hold several frames.
inline bool is_multi_frame(Format f) {
  return f == Format::ExtXYZ || f == Format::LammpsDump || f == Format::Vasprun || f == Format::Outcar;
}

/// Frame by frame over any readable format: ExtXYZ and LAMMPS dumps are streamed (bounded
/// memory, lazy index); the others are read whole (they are small or hold few frames).
class TrajectoryReader {
 public:
  explicit TrajectoryReader(const std::string& path, Format fmt = Format::Auto, const ReadOptions& opt = {})
      : fmt_(fmt == Format::Auto ? guess_format(path) : fmt) {
    switch (fmt_) {
      case Format::ExtXYZ: xyz_ = std::make_unique<ExtXYZReader>(path); break;
      case Format::LammpsDump: dump_ = std::make_unique<LammpsDumpReader>(path, opt.lammps); break;
      case Format::Poscar: frames_.push_back(read_poscar_frame(path)); break;
      case Format::Cif: {
        Frame f;
        f.structure = read_cif(path, opt.cif);
        frames_.push_back(std::move(f));
        break;
      }
      case Format::LammpsData: frames_.push_back(read_lammps_data(path, opt.lammps)); break;
      case Format::Vasprun: frames_ = read_vasprun(path, opt.vasp).frames; break;
      case Format::Outcar: frames_ = read_outcar(path, opt.vasp).frames; break;
      default: throw ValueError("unsupported format for '" + path + "'");
    }
  }
  bool next(Frame& f) {
    if (xyz_) return xyz_->next(f);
    if (dump_) return dump_->next(f);
    if (pos_ >= frames_.size()) return false;
    f = frames_[pos_++];
    return true;
  }
  std::size_t frame_count() {
    if (xyz_) return xyz_->frame_count();
    if (dump_) return dump_->frame_count();
    return frames_.size();
  }
  void seek(std::size_t i) {
    if (xyz_) return xyz_->seek(i);
    if (dump_) return dump_->seek(i);
    if (i > frames_.size()) throw ValueError("frame " + std::to_string(i) + " is past the end");
    pos_ = i;
  }
  /// Frame i; negative counts from the end (-1 = last), as in ASE.
  Frame read(long i) {
    const long n = static_cast<long>(frame_count());
    const long k = i < 0 ? n + i : i;
    if (k < 0 || k >= n) throw ValueError("frame index " + std::to_string(i) + " out of range (" + std::to_string(n) + " frames)");
    seek(static_cast<std::size_t>(k));
    Frame f;
    next(f);
    return f;
  }
  Format format() const { return fmt_; }

 private:
  Format fmt_;
  std::unique_ptr<ExtXYZReader> xyz_;
  std::unique_ptr<LammpsDumpReader> dump_;
  std::vector<Frame> frames_;
  std::size_t pos_ = 0;
};

/// All frames of a file (for long trajectories prefer TrajectoryReader).
inline std::vector<Frame> read_frames(const std::string& path, Format fmt = Format::Auto, const ReadOptions& opt = {}) {
  TrajectoryReader r(path, fmt, opt);
  std::vector<Frame> v;
  Frame f;
  while (r.next(f)) v.push_back(std::move(f));
  return v;
}

/// One frame: by default the last one, as ase.io.read does (the final ionic step of a
/// vasprun.xml or OUTCAR, the last frame of a trajectory).
inline Frame read_frame(const std::string& path, Format fmt = Format::Auto, long index = -1, const ReadOptions& opt = {}) {
  TrajectoryReader r(path, fmt, opt);
  return r.read(index);
}

/// The structure of a file (the last frame for trajectories, see read_frame).
inline Structure read_structure(const std::string& path, Format fmt = Format::Auto) {
  return read_frame(path, fmt).structure;
}

/// Writes one frame in a single-frame format, or appends to an extended-XYZ file.
inline void write_frame(const std::string& path, const Frame& f, Format fmt = Format::Auto) {
  if (fmt == Format::Auto) fmt = guess_format(path);
  switch (fmt) {
    case Format::Poscar: write_poscar(path, f); return;
    case Format::ExtXYZ: write_extxyz(path, f); return;
    case Format::Cif: write_cif(path, f.structure); return;
    case Format::LammpsData: write_lammps_data(path, f); return;
    default: break;
  }
  throw NotSupported(std::string("nernst cannot write ") + format_name(fmt) + " files ('" + path + "')");
}

inline void write_structure(const std::string& path, const Structure& s, Format fmt = Format::Auto) {
  Frame f;
  f.structure = s;
  write_frame(path, f, fmt);
}

}  // namespace io
NERNST_NAMESPACE_END
