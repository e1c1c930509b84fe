#pragma once
// The parsers under fuzzing, one function per target. Shared by the libFuzzer drivers
// (fuzz_*.cpp, opt-in: -DNERNST_BUILD_FUZZERS=ON with clang) and by the regression test
// tests/io/test_fuzz_regressions.cpp, which replays tests/data/io/fuzz_regressions/ in every
// normal test run. Contract: any input either parses or throws a nernst::Error; anything else
// (crash, hang, sanitizer report, other exception) is a bug.

#include <nernst/io/checkpoint/torch_load.hpp>
#include <nernst/io/checkpoint/torch_save.hpp>
#include <nernst/io/cif.hpp>
#include <nernst/io/extxyz.hpp>
#include <nernst/io/lammps.hpp>
#include <nernst/io/poscar.hpp>
#include <nernst/io/vasp_output.hpp>
#include <nernst/potential/graphnet/m3gnet_model.hpp>
#include <nernst/potential/graphnet/tensornet_model.hpp>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

namespace nernst_fuzz {

/// Everything a reader returns must be finite: no invented NaN/inf.
inline void check_finite(const nernst::Structure& s) {
  for (std::size_t i = 0; i < s.size(); ++i)
    if (!s[i].frac.allFinite()) __builtin_trap();
  if (!s.lattice().matrix().allFinite()) __builtin_trap();
}

inline void fuzz_cif(std::string_view data) {
  try {
    const auto d = nernst::io::parse_cif(data, "fuzz.cif");
    check_finite(d.structure);
    std::ostringstream os;
    nernst::io::write_cif(os, d.structure);  // writing what was read must work
    (void)nernst::io::parse_cif(os.str(), "fuzz-roundtrip.cif");
  } catch (const nernst::Error&) {
  }
}

inline void fuzz_extxyz(std::string_view data) {
  try {
    std::istringstream in{std::string(data)};
    nernst::io::ExtXYZReader r(in, "fuzz.xyz");
    nernst::io::Frame f;
    int k = 0;
    while (k < 64 && r.next(f)) {
      check_finite(f.structure);
      ++k;
    }
    if (k > 0) {
      (void)r.frame_count();
      (void)r.read(0);
    }
  } catch (const nernst::Error&) {
  }
}

inline void fuzz_poscar(std::string_view data) {
  try {
    std::istringstream in{std::string(data)};
    nernst::io::detail::LineReader r(in, "fuzz.vasp");
    const auto f = nernst::io::read_poscar_frame(r);
    check_finite(f.structure);
    std::ostringstream os;
    nernst::io::write_poscar(os, f, "rt", nernst::io::PoscarWriteOptions{});
  } catch (const nernst::Error&) {
  }
}

inline void fuzz_lammps(std::string_view data) {
  try {
    std::istringstream in{std::string(data)};
    nernst::io::detail::LineReader r(in, "fuzz.data");
    check_finite(nernst::io::read_lammps_data(r).structure);
  } catch (const nernst::Error&) {
  }
  try {
    std::istringstream in{std::string(data)};
    nernst::io::LammpsOptions o;
    o.type_to_z = {3, 17};
    nernst::io::LammpsDumpReader r(in, "fuzz.dump", o);
    nernst::io::Frame f;
    for (int k = 0; k < 64 && r.next(f); ++k) check_finite(f.structure);
  } catch (const nernst::Error&) {
  }
}

inline void fuzz_vasprun(std::string_view data) {
  try {
    std::istringstream in{std::string(data)};
    nernst::io::VaspReadOptions o;
    o.allow_truncated = true;
    (void)nernst::io::parse_vasprun(in, "fuzz.xml", o);
  } catch (const nernst::Error&) {
  }
}

inline void fuzz_outcar(std::string_view data) {
  for (const bool truncated_ok : {true, false}) {
    try {
      std::istringstream in{std::string(data)};
      nernst::io::detail::LineReader r(in, "fuzz.OUTCAR");
      nernst::io::VaspReadOptions o;
      o.allow_truncated = truncated_ok;
      (void)nernst::io::parse_outcar(r, o);
    } catch (const nernst::Error&) {
    }
  }
}

/// The path-based readers (zip archives, JSON files) get the input through a file of this
/// process's own (tmpfs when TMPDIR points there), rewritten for every input.
inline std::string write_input_file(std::string_view data, const char* ext) {
  static const std::string path =
      (std::filesystem::temp_directory_path() / ("nernst_fuzz_" + std::to_string(::getpid()))).string();
  const std::string file = path + ext;
  std::ofstream f(file, std::ios::binary | std::ios::trunc);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
  return file;
}

/// Storages every wrapped pickle may reference ("0", "1"): enough bytes for small tensors of any dtype.
inline std::vector<nernst::io::detail::ZipEntry> torch_archive(std::string pickle) {
  std::string s0(256, '\0'), s1(64, '\0');
  for (std::size_t i = 0; i < s0.size(); ++i) s0[i] = static_cast<char>(i * 37 + 11);
  for (std::size_t i = 0; i < s1.size(); ++i) s1[i] = static_cast<char>(0x3f);
  return {{"archive/data.pkl", std::move(pickle)},
          {"archive/byteorder", "little"},
          {"archive/data/0", std::move(s0)},
          {"archive/data/1", std::move(s1)},
          {"archive/version", "3\n"}};
}

/// The torch.save reader. First byte even: the rest is the file itself (zip layer, then the
/// pickle inside). Odd: the rest is data.pkl, wrapped into a well-formed archive, so that the
/// mutations reach the unpickler instead of dying on the zip CRCs.
inline void fuzz_torch(std::string_view data) {
  if (data.empty()) return;
  const bool wrap = (static_cast<unsigned char>(data[0]) & 1u) != 0;
  data.remove_prefix(1);
  std::string file;
  if (wrap) {
    file = write_input_file({}, ".pt");
    nernst::io::detail::write_zip(file, torch_archive(std::string(data)));
  } else {
    file = write_input_file(data, ".pt");
  }
  try {
    const nernst::io::PickleValue v = nernst::io::load_torch(file);
    (void)v.repr(6);
    if (const nernst::io::PickleValue* sd = nernst::io::find_state_dict(v)) (void)nernst::io::to_state_dict(*sd);
  } catch (const nernst::Error&) {
  }
}

/// The matgl model.json readers of the graph networks (M3GNet, TensorNet).
inline void fuzz_model_json(std::string_view data) {
  const std::string file = write_input_file(data, ".json");
  try {
    (void)nernst::graphnet::read_m3gnet_model_json(file);
  } catch (const nernst::Error&) {
  }
  (void)nernst::graphnet::is_tensornet_model_json(file);
  try {
    (void)nernst::graphnet::read_tensornet_model_json(file);
  } catch (const nernst::Error&) {
  }
}

/// Runs one input through the target named `target` (the corpus folder names); false when no
/// target has that name.
inline bool fuzz_one(const std::string& target, std::string_view data) {
  if (target == "cif") fuzz_cif(data);
  else if (target == "extxyz") fuzz_extxyz(data);
  else if (target == "poscar") fuzz_poscar(data);
  else if (target == "lammps") fuzz_lammps(data);
  else if (target == "vasprun") fuzz_vasprun(data);
  else if (target == "outcar") fuzz_outcar(data);
  else if (target == "torch") fuzz_torch(data);
  else if (target == "model_json") fuzz_model_json(data);
  else return false;
  return true;
}

}  // namespace nernst_fuzz
