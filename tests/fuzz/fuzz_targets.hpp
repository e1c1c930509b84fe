#pragma once
// The parsers under fuzzing, one function per target. Shared by the libFuzzer drivers
// (fuzz_*.cpp, opt-in: -DNERNST_BUILD_FUZZERS=ON with clang) and by the regression test
// tests/io/test_fuzz_regressions.cpp, which replays tests/data/io/fuzz_regressions/ in every
// normal test run. Contract: any input either parses or throws a nernst::Error; anything else
// (crash, hang, sanitizer report, other exception) is a bug.

#include <nernst/io/cif.hpp>
#include <nernst/io/extxyz.hpp>
#include <nernst/io/lammps.hpp>
#include <nernst/io/poscar.hpp>
#include <nernst/io/vasp_output.hpp>

#include <cmath>
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
  try {  // OUTCAR shares the target: same producer, same kind of damage
    std::istringstream in{std::string(data)};
    nernst::io::detail::LineReader r(in, "fuzz.OUTCAR");
    nernst::io::VaspReadOptions o;
    o.allow_truncated = true;
    (void)nernst::io::parse_outcar(r, o);
  } catch (const nernst::Error&) {
  }
}

}  // namespace nernst_fuzz
