#pragma once
/// \file
/// \brief The exception hierarchy: every nernst error derives from nernst::Error.

#include <nernst/core/macros.hpp>

#include <cstddef>
#include <stdexcept>
#include <string>

NERNST_NAMESPACE_BEGIN

/// Base of every exception nernst throws.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

/// A value is out of range or inconsistent (singular cell, negative temperature, ...).
class ValueError : public Error {
 public:
  using Error::Error;
};

/// A file could not be opened, read or written.
class IOError : public Error {
 public:
  using Error::Error;
};

/// A file's content is malformed. Carries the file name and the 1-based line (0 when unknown).
class ParseError : public Error {
 public:
  ParseError(std::string file, std::size_t line, const std::string& problem)
      : Error(format(file, line, problem)), file_(std::move(file)), line_(line), problem_(problem) {}

  const std::string& file() const noexcept { return file_; }
  std::size_t line() const noexcept { return line_; }
  const std::string& problem() const noexcept { return problem_; }

 private:
  static std::string format(const std::string& file, std::size_t line, const std::string& problem) {
    std::string s = file.empty() ? std::string("<input>") : file;
    if (line > 0) s += ":" + std::to_string(line);
    return s + ": " + problem;
  }
  std::string file_;
  std::size_t line_;
  std::string problem_;
};

/// A requested feature or variant is not supported (unknown model variant, pickle opcode, ...).
class NotSupported : public Error {
 public:
  using Error::Error;
};

NERNST_NAMESPACE_END
