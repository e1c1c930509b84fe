#pragma once
/// \file
/// \brief CIF 1.1 syntax: tokenizer and data-block model (data_, loop_, quoted and
/// semicolon-delimited values, `?` and `.`, comments). Knows nothing about crystallography.

#include <nernst/core/error.hpp>
#include <nernst/io/detail/line_reader.hpp>

#include <algorithm>
#include <cctype>
#include <map>
#include <string>
#include <string_view>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace io::detail {

/// One CIF value with the line it started on. `quoted` values are never `?`/`.` placeholders.
struct CifValue {
  std::string text;
  std::size_t line = 0;
  bool quoted = false;

  /// `?` (unknown) or `.` (inapplicable), unquoted.
  bool missing() const { return !quoted && (text == "?" || text == "."); }
};

struct CifLoop {
  std::vector<std::string> tags;               ///< lower-case
  std::vector<std::vector<CifValue>> rows;
  std::size_t line = 0;                        ///< line of `loop_`

  /// Column index of a tag, or -1.
  int column(const std::string& tag) const {
    for (std::size_t i = 0; i < tags.size(); ++i)
      if (tags[i] == tag) return static_cast<int>(i);
    return -1;
  }
};

struct CifBlock {
  std::string name;                            ///< after `data_`
  std::size_t line = 0;
  std::map<std::string, CifValue> items;       ///< single tag/value pairs, tags lower-case
  std::vector<CifLoop> loops;

  const CifValue* item(const std::string& tag) const {
    auto it = items.find(tag);
    if (it == items.end()) return nullptr;
    return &it->second;
  }
  /// The first of several alternative tags that is present as a single item (not `?`/`.`).
  const CifValue* first_item(std::initializer_list<const char*> tags) const {
    for (const char* t : tags)
      if (const CifValue* v = item(t); v && !v->missing()) return v;
    return nullptr;
  }
  /// The loop holding a tag, or null.
  const CifLoop* loop_with(const std::string& tag) const {
    for (const auto& l : loops)
      if (l.column(tag) >= 0) return &l;
    return nullptr;
  }
};

inline std::string to_lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

/// Splits CIF text into blocks. Throws ParseError(file, line, problem) for syntax errors:
/// unterminated quotes or text fields, values without a tag, loops whose value count is not a
/// multiple of the tag count, duplicate tags.
inline std::vector<CifBlock> parse_cif_text(std::string_view text, const std::string& file) {
  struct Token {
    enum Kind { Tag, Value, Loop, Data, Other } kind;
    CifValue v;
  };
  std::vector<Token> toks;
  std::size_t line = 1;
  std::size_t i = 0;
  const std::size_t n = text.size();
  auto is_ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  bool at_line_start = true;
  while (i < n) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      ++i;
      at_line_start = true;
      continue;
    }
    if (is_ws(c)) {
      ++i;
      continue;
    }
    if (c == '#') {
      while (i < n && text[i] != '\n') ++i;
      continue;
    }
    const std::size_t start_line = line;
    if (c == ';' && at_line_start) {
      // Text field: up to a line that starts with ';'.
      std::size_t j = i + 1;
      std::string val;
      bool closed = false;
      while (j < n) {
        if (text[j] == '\n') {
          ++line;
          if (j + 1 < n && text[j + 1] == ';') {
            closed = true;
            i = j + 2;
            break;
          }
        }
        val.push_back(text[j]);
        ++j;
      }
      if (!closed) throw ParseError(file, start_line, "unterminated semicolon text field");
      while (!val.empty() && (val.back() == '\r' || val.back() == '\n')) val.pop_back();
      if (!val.empty() && val.front() == '\r') val.erase(0, 1);
      toks.push_back({Token::Value, {val, start_line, true}});
      at_line_start = false;
      continue;
    }
    at_line_start = false;
    if (c == '\'' || c == '"') {
      // Quoted: closes at the same quote followed by whitespace or end of input.
      std::size_t j = i + 1;
      while (j < n && text[j] != '\n' && !(text[j] == c && (j + 1 == n || is_ws(text[j + 1])))) ++j;
      if (j >= n || text[j] != c) throw ParseError(file, start_line, std::string("unterminated ") + c + "quoted value");
      toks.push_back({Token::Value, {std::string(text.substr(i + 1, j - i - 1)), start_line, true}});
      i = j + 1;
      continue;
    }
    std::size_t j = i;
    while (j < n && !is_ws(text[j])) ++j;
    std::string word(text.substr(i, j - i));
    i = j;
    if (word[0] == '_') {
      toks.push_back({Token::Tag, {to_lower(word), start_line, false}});
    } else {
      const std::string low = to_lower(word.substr(0, std::min<std::size_t>(word.size(), 5)));
      if (low == "data_") toks.push_back({Token::Data, {word.substr(5), start_line, false}});
      else if (to_lower(word) == "loop_") toks.push_back({Token::Loop, {word, start_line, false}});
      else if (low == "save_" || to_lower(word) == "global_" || to_lower(word) == "stop_")
        toks.push_back({Token::Other, {word, start_line, false}});
      else toks.push_back({Token::Value, {word, start_line, false}});
    }
  }

  std::vector<CifBlock> blocks;
  std::size_t k = 0;
  auto cur = [&]() -> CifBlock& {
    if (blocks.empty()) throw ParseError(file, toks[k].v.line, "data item before the first data_ block header");
    return blocks.back();
  };
  while (k < toks.size()) {
    Token& t = toks[k];
    switch (t.kind) {
      case Token::Data: {
        CifBlock b;
        b.name = t.v.text;
        b.line = t.v.line;
        blocks.push_back(std::move(b));
        ++k;
        break;
      }
      case Token::Other: ++k; break;  // save frames: their items are read as if in the block
      case Token::Tag: {
        CifBlock& b = cur();
        if (k + 1 >= toks.size() || toks[k + 1].kind != Token::Value)
          throw ParseError(file, t.v.line, "tag " + t.v.text + " has no value");
        if (b.items.count(t.v.text)) throw ParseError(file, t.v.line, "duplicate tag " + t.v.text);
        b.items[t.v.text] = toks[k + 1].v;
        k += 2;
        break;
      }
      case Token::Loop: {
        CifBlock& b = cur();
        CifLoop loop;
        loop.line = t.v.line;
        ++k;
        while (k < toks.size() && toks[k].kind == Token::Tag) loop.tags.push_back(toks[k++].v.text);
        if (loop.tags.empty()) throw ParseError(file, loop.line, "loop_ without tags");
        std::vector<CifValue> vals;
        while (k < toks.size() && toks[k].kind == Token::Value) vals.push_back(std::move(toks[k++].v));
        if (vals.size() % loop.tags.size() != 0) {
          const std::size_t bad = vals.empty() ? loop.line : vals[vals.size() - vals.size() % loop.tags.size()].line;
          throw ParseError(file, bad,
                           "loop_ with " + std::to_string(loop.tags.size()) + " tags (" + loop.tags[0] + ", ...) holds " +
                               std::to_string(vals.size()) + " values, not a multiple: wrong column count");
        }
        for (std::size_t r = 0; r < vals.size(); r += loop.tags.size())
          loop.rows.emplace_back(std::make_move_iterator(vals.begin() + static_cast<long>(r)),
                                 std::make_move_iterator(vals.begin() + static_cast<long>(r + loop.tags.size())));
        b.loops.push_back(std::move(loop));
        break;
      }
      case Token::Value:
        throw ParseError(file, t.v.line, "value '" + t.v.text.substr(0, 40) + "' without a tag");
    }
  }
  return blocks;
}

/// A CIF number: strips a standard uncertainty "(4)" and accepts integers and decimals.
inline bool try_parse_cif_number(std::string_view s, double& out) {
  const auto p = s.find('(');
  if (p != std::string_view::npos) {
    if (s.back() != ')') return false;
    for (std::size_t i = p + 1; i + 1 < s.size(); ++i)
      if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    s = s.substr(0, p);
  }
  if (s.empty()) return false;
  for (char c : s)
    if (c == 'd' || c == 'D') return false;  // no Fortran exponents in CIF
  return try_parse_double(s, out);
}

}  // namespace io::detail
NERNST_NAMESPACE_END
