#pragma once
/// \file
/// \brief The run directory's JSON files: written durably (never torn), read with errors that
/// name the file.

#include <nernst/core/durable_file.hpp>
#include <nernst/core/error.hpp>
#include <nernst/core/macros.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>

NERNST_NAMESPACE_BEGIN
namespace workflow {

/// Writes `text` to `path` durably (temporary file, fsync, rename, directory fsync: never a torn
/// file, and an IOError naming the file when the disk is full or the directory read-only).
inline void write_file_atomic(const std::filesystem::path& path, const std::string& text) {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());  // a bare name: the current directory
  write_file_durable(path, text);
}

inline nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw IOError("cannot read '" + path.string() + "'");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw ParseError(path.string(), 0, std::string("invalid JSON: ") + e.what());
  }
}

}  // namespace workflow
NERNST_NAMESPACE_END
