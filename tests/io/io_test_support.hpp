#pragma once
// Shared checks of the io tests: tables of malformed inputs and the ParseError each must raise.

#include "../test_support.hpp"

#include <nernst/core/error.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace nernst_test {

/// One malformed input: its text, the line the error must name, and a fragment of the message.
struct MalformedCase {
  std::string text;
  std::size_t line;
  std::string needle;
};

/// Runs `parse(text, file)` on every case and checks that it throws a ParseError that names
/// `file`, the case's line and its problem.
template <class Parse>
void check_malformed(const std::vector<MalformedCase>& cases, const std::string& file, Parse&& parse) {
  for (const auto& c : cases) {
    INFO(c.text);
    try {
      parse(c.text, file);
      FAIL("no error");
    } catch (const nernst::ParseError& e) {
      CHECK(e.file() == file);
      CHECK(e.line() == c.line);
      CHECK(std::string(e.what()).find(c.needle) != std::string::npos);
    }
  }
}

}  // namespace nernst_test
