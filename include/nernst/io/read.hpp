#pragma once
/// \file
/// \brief read_structure / write_structure: format chosen from the file name (or explicitly).

#include <nernst/core/error.hpp>
#include <nernst/core/structure.hpp>
#include <nernst/io/extxyz.hpp>
#include <nernst/io/poscar.hpp>

#include <algorithm>
#include <filesystem>
#include <string>

NERNST_NAMESPACE_BEGIN
namespace io {

enum class Format { Auto, Poscar, ExtXYZ };

/// Guesses a format from a file name the way ASE does for the common cases.
inline Format guess_format(const std::string& path) {
  const std::string name = std::filesystem::path(path).filename().string();
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  auto ends = [&](const std::string& suf) {
    return lower.size() >= suf.size() && lower.compare(lower.size() - suf.size(), suf.size(), suf) == 0;
  };
  if (ends(".xyz") || ends(".extxyz")) return Format::ExtXYZ;
  if (ends(".vasp") || ends(".poscar") || lower.find("poscar") != std::string::npos ||
      lower.find("contcar") != std::string::npos)
    return Format::Poscar;
  throw ValueError("cannot tell the format of '" + path + "' from its name; name the format explicitly");
}

inline Structure read_structure(const std::string& path, Format fmt = Format::Auto) {
  if (fmt == Format::Auto) fmt = guess_format(path);
  switch (fmt) {
    case Format::Poscar: return read_poscar(path);
    case Format::ExtXYZ: return read_extxyz(path).structure;
    default: break;
  }
  throw ValueError("unsupported format for '" + path + "'");
}

inline void write_structure(const std::string& path, const Structure& s, Format fmt = Format::Auto) {
  if (fmt == Format::Auto) fmt = guess_format(path);
  switch (fmt) {
    case Format::Poscar: write_poscar(path, s); return;
    case Format::ExtXYZ: write_extxyz(path, Frame{s}); return;
    default: break;
  }
  throw ValueError("unsupported format for '" + path + "'");
}

}  // namespace io
NERNST_NAMESPACE_END
