#pragma once
/// \file
/// \brief LineReader: reads a text file line by line, remembering file name and line number so
/// every parse error can say where it happened; strict number parsing (no silent NaN).

#include <nernst/core/error.hpp>

#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
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

  /// Skips one line without storing it; false at end of file.
  bool skip() {
    if (in_->peek() == std::char_traits<char>::eof()) return false;
    in_->ignore(std::numeric_limits<std::streamsize>::max(), '\n');
    ++line_no_;
    return true;
  }
  /// Byte offset of the next line (for random-access indexes).
  std::streamoff tell() { return static_cast<std::streamoff>(in_->tellg()); }
  /// Moves to a byte offset that starts line `line_before + 1`.
  void seek(std::streamoff offset, std::size_t line_before) {
    in_->clear();
    in_->seekg(offset);
    if (!*in_) throw IOError("cannot seek in '" + name_ + "'");
    line_no_ = line_before;
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

/// The whole content of a (small) text file; IOError naming it when it cannot be read.
inline std::string read_text_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw IOError("cannot open '" + path + "' for reading");
  std::string s;
  f.seekg(0, std::ios::end);
  const auto size = f.tellg();
  if (size > 0) {
    s.resize(static_cast<std::size_t>(size));
    f.seekg(0);
    f.read(s.data(), size);
  }
  if (f.bad()) throw IOError("error reading '" + path + "'");
  return s;
}

/// Splits on whitespace into `out` (cleared first; reuse it to avoid allocations).
inline void split_ws_into(std::string_view s, std::vector<std::string_view>& out) {
  out.clear();
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) ++i;
    std::size_t j = i;
    while (j < n && !(s[j] == ' ' || s[j] == '\t' || s[j] == '\r' || s[j] == '\n')) ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
}

/// Splits on whitespace.
inline std::vector<std::string_view> split_ws(std::string_view s) {
  std::vector<std::string_view> out;
  split_ws_into(s, out);
  return out;
}
/// Reads the next non-blank line into `line` and its tokens into `tok`; false at end of file.
inline bool next_nonblank(LineReader& r, std::string& line, std::vector<std::string_view>& tok) {
  do {
    if (!r.next(line)) return false;
    split_ws_into(line, tok);
  } while (tok.empty());
  return true;
}

// The views point into the argument: splitting a temporary would leave them dangling.
std::vector<std::string_view> split_ws(std::string&&) = delete;
void split_ws_into(std::string&&, std::vector<std::string_view>&) = delete;

/// Parses a finite double or returns false (accepts Fortran 'D' exponents as VASP writes them).
inline bool try_parse_double(std::string_view tok, double& out) {
  if (!tok.empty() && tok[0] == '+') tok.remove_prefix(1);
  if (tok.empty() || tok[0] == '+') return false;
  auto res = std::from_chars(tok.data(), tok.data() + tok.size(), out);
  if (res.ec == std::errc() && res.ptr == tok.data() + tok.size()) return std::isfinite(out);
  if (tok.find_first_of("dD") == std::string_view::npos) return false;
  std::string t(tok);
  for (auto& c : t)
    if (c == 'D' || c == 'd') c = 'e';
  res = std::from_chars(t.data(), t.data() + t.size(), out);
  return res.ec == std::errc() && res.ptr == t.data() + t.size() && std::isfinite(out);
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
