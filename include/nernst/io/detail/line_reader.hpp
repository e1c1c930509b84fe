#pragma once
/// \file
/// \brief LineReader: reads a text file line by line, remembering file name and line number so
/// every parse error can say where it happened; strict number parsing (no silent NaN).

#include <nernst/core/error.hpp>

#include <charconv>
#include <cmath>
#include <fstream>
#include <istream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace io::detail {

class LineReader {
 public:
  /// Opens a file; throws IOError naming it when it cannot be opened.
  explicit LineReader(const std::string& path) : name_(path) {
    auto f = std::make_unique<std::ifstream>(path, std::ios::binary);
    if (!*f) throw IOError("cannot open '" + path + "' for reading");
    owned_ = std::move(f);
    in_ = owned_.get();
  }
  /// Reads from a stream owned by the caller; `name` is used in messages.
  LineReader(std::istream& in, std::string name) : name_(std::move(name)), in_(&in) {}

  /// Next line without the trailing "\n" / "\r\n"; false at end of file.
  bool next(std::string& line) {
    if (!std::getline(*in_, line)) return false;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    ++line_no_;
    return true;
  }
  /// Next line, or a ParseError saying what was expected.
  std::string require(const std::string& what) {
    std::string line;
    if (!next(line)) fail_at(line_no_ + 1, "unexpected end of file: expected " + what);
    return line;
  }

  const std::string& name() const { return name_; }
  std::size_t line() const { return line_no_; }
  std::istream& stream() { return *in_; }

  [[noreturn]] void fail(const std::string& problem) const { throw ParseError(name_, line_no_, problem); }
  [[noreturn]] void fail_at(std::size_t line, const std::string& problem) const {
    throw ParseError(name_, line, problem);
  }

 private:
  std::string name_;
  std::unique_ptr<std::istream> owned_;
  std::istream* in_ = nullptr;
  std::size_t line_no_ = 0;
};

/// Splits on whitespace.
inline std::vector<std::string_view> split_ws(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) ++i;
    std::size_t j = i;
    while (j < s.size() && !(s[j] == ' ' || s[j] == '\t' || s[j] == '\r' || s[j] == '\n')) ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}
// The views point into the argument: splitting a temporary would leave them dangling.
std::vector<std::string_view> split_ws(std::string&&) = delete;

/// Parses a finite double or returns false (accepts Fortran 'D' exponents as VASP writes them).
inline bool try_parse_double(std::string_view tok, double& out) {
  std::string t(tok);
  for (auto& c : t)
    if (c == 'D' || c == 'd') c = 'e';
  if (!t.empty() && t[0] == '+') t.erase(0, 1);
  const char* b = t.data();
  const char* e = t.data() + t.size();
  auto res = std::from_chars(b, e, out);
  return res.ec == std::errc() && res.ptr == e && std::isfinite(out);
}

inline bool try_parse_long(std::string_view tok, long& out) {
  if (!tok.empty() && tok[0] == '+') tok.remove_prefix(1);
  auto res = std::from_chars(tok.data(), tok.data() + tok.size(), out);
  return res.ec == std::errc() && res.ptr == tok.data() + tok.size();
}

/// Parses a finite double or fails with the reader's position and `what` the value is.
inline double parse_double(const LineReader& r, std::string_view tok, const std::string& what) {
  double v;
  if (!try_parse_double(tok, v)) r.fail("expected a number for " + what + ", found '" + std::string(tok) + "'");
  return v;
}
inline long parse_long(const LineReader& r, std::string_view tok, const std::string& what) {
  long v;
  if (!try_parse_long(tok, v)) r.fail("expected an integer for " + what + ", found '" + std::string(tok) + "'");
  return v;
}

}  // namespace io::detail
NERNST_NAMESPACE_END
