#pragma once
/// \file
/// \brief A small streaming (pull) XML tokenizer: start tags with attributes, end tags, text;
/// skips the declaration, comments, processing instructions and DOCTYPE; decodes the five
/// predefined entities. Enough for vasprun.xml, bounded memory, line numbers for errors.

#include <nernst/core/error.hpp>

#include <cstdio>
#include <istream>
#include <map>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace io::detail {

class XmlReader {
 public:
  enum class Event { Start, End, Text, Eof };

  XmlReader(std::istream& in, std::string name) : in_(in), name_(std::move(name)) {}

  /// Next event. For Start: name() and attrs(); End: name(); Text: text() (raw, entity-decoded).
  /// A self-closing tag yields Start then End.
  Event next() {
    if (pending_end_) {
      pending_end_ = false;
      return Event::End;
    }
    text_.clear();
    int c = get();
    if (c == EOF) return Event::Eof;
    if (c != '<') {
      while (c != EOF && c != '<') {
        if (c == '&') text_ += entity();
        else text_.push_back(static_cast<char>(c));
        c = get();
      }
      if (c == '<') unget_ = '<';
      return Event::Text;
    }
    const std::size_t start_line = line_;
    c = get();
    if (c == '?') {  // <?xml ... ?>
      skip_until("?>", start_line);
      return next();
    }
    if (c == '!') {  // comment, CDATA or DOCTYPE
      int c2 = get();
      if (c2 == '-') {
        if (get() != '-') fail(start_line, "malformed comment");
        skip_until("-->", start_line);
        return next();
      }
      if (c2 == '[') {  // <![CDATA[ ... ]]>
        std::string kw;
        for (int k = 0; k < 6; ++k) kw.push_back(static_cast<char>(get()));
        if (kw != "CDATA[") fail(start_line, "malformed CDATA section");
        std::string t;
        while (true) {
          const int d = get();
          if (d == EOF) fail(start_line, "unexpected end of file in CDATA (truncated file)");
          t.push_back(static_cast<char>(d));
          if (t.size() >= 3 && t.compare(t.size() - 3, 3, "]]>") == 0) break;
        }
        t.resize(t.size() - 3);
        text_ = std::move(t);
        return Event::Text;
      }
      skip_until(">", start_line);
      return next();
    }
    bool end = false;
    if (c == '/') {
      end = true;
      c = get();
    }
    name_buf_.clear();
    while (c != EOF && !is_space(c) && c != '>' && c != '/') {
      name_buf_.push_back(static_cast<char>(c));
      c = get();
    }
    if (name_buf_.empty()) fail(start_line, "empty tag name");
    attrs_.clear();
    while (true) {
      while (c != EOF && is_space(c)) c = get();
      if (c == EOF) fail(start_line, "unexpected end of file inside tag <" + name_buf_ + "> (truncated file)");
      if (c == '>') break;
      if (c == '/') {
        if (get() != '>') fail(line_, "expected '>' after '/' in <" + name_buf_ + ">");
        if (end) fail(line_, "malformed end tag");
        pending_end_ = true;
        break;
      }
      if (end) fail(line_, "attributes in end tag </" + name_buf_ + ">");
      std::string key;
      while (c != EOF && c != '=' && !is_space(c) && c != '>' && c != '/') {
        key.push_back(static_cast<char>(c));
        c = get();
      }
      while (c != EOF && is_space(c)) c = get();
      if (c != '=') fail(line_, "attribute '" + key + "' without a value in <" + name_buf_ + ">");
      c = get();
      while (c != EOF && is_space(c)) c = get();
      if (c != '"' && c != '\'') fail(line_, "attribute value must be quoted in <" + name_buf_ + ">");
      const int q = c;
      std::string val;
      c = get();
      while (c != EOF && c != q) {
        if (c == '&') val += entity();
        else val.push_back(static_cast<char>(c));
        c = get();
      }
      if (c == EOF) fail(start_line, "unexpected end of file in an attribute (truncated file)");
      attrs_[key] = std::move(val);
      c = get();
    }
    tag_line_ = start_line;
    if (end) {
      pending_end_ = false;
      return Event::End;
    }
    return Event::Start;
  }

  const std::string& name() const { return name_buf_; }
  const std::string& text() const { return text_; }
  const std::map<std::string, std::string>& attrs() const { return attrs_; }
  std::string attr(const std::string& k) const {
    auto it = attrs_.find(k);
    return it == attrs_.end() ? std::string() : it->second;
  }
  std::size_t line() const { return line_; }
  std::size_t tag_line() const { return tag_line_; }
  const std::string& file() const { return name_; }
  [[noreturn]] void fail(std::size_t line, const std::string& msg) const { throw ParseError(name_, line, msg); }

 private:
  static bool is_space(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
  int get() {
    if (unget_) {
      const int c = unget_;
      unget_ = 0;
      return c;
    }
    const int c = in_.get();
    if (c == '\n') ++line_;
    return c == std::char_traits<char>::eof() ? EOF : c;
  }
  void skip_until(const char* end, std::size_t start_line) {
    const std::string e(end);
    std::string tail;
    while (true) {
      const int c = get();
      if (c == EOF) fail(start_line, "unexpected end of file (truncated file)");
      tail.push_back(static_cast<char>(c));
      if (tail.size() > e.size()) tail.erase(0, 1);
      if (tail == e) return;
    }
  }
  std::string entity() {
    std::string e;
    int c;
    while ((c = get()) != EOF && c != ';' && e.size() < 10) e.push_back(static_cast<char>(c));
    if (c != ';') fail(line_, "malformed entity '&" + e + "'");
    if (e == "lt") return "<";
    if (e == "gt") return ">";
    if (e == "amp") return "&";
    if (e == "quot") return "\"";
    if (e == "apos") return "'";
    if (!e.empty() && e[0] == '#') {
      long v = 0;
      try {
        v = e.size() > 1 && (e[1] == 'x' || e[1] == 'X') ? std::stol(e.substr(2), nullptr, 16) : std::stol(e.substr(1));
      } catch (...) {
        fail(line_, "malformed character reference '&" + e + ";'");
      }
      if (v > 0 && v < 128) return std::string(1, static_cast<char>(v));
      return "?";
    }
    fail(line_, "unknown entity '&" + e + ";'");
  }

  std::istream& in_;
  std::string name_;
  std::size_t line_ = 1;
  std::size_t tag_line_ = 1;
  int unget_ = 0;
  bool pending_end_ = false;
  std::string name_buf_, text_;
  std::map<std::string, std::string> attrs_;
};

}  // namespace io::detail
NERNST_NAMESPACE_END
