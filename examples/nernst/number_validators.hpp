#pragma once
// CLI11 validators for numeric options whose error names the value and the rule in a few words
// (CLI::PositiveNumber and CLI::NonNegativeNumber print the whole double range instead).

#include <CLI/CLI.hpp>

#include <cmath>
#include <exception>
#include <string>

namespace nernst::cli {

/// A validator accepting a finite number for which `ok(x)` holds; otherwise "'V' is not `what`".
template <class Ok>
CLI::Validator number_validator(Ok ok, const std::string& what, const std::string& name) {
  return CLI::Validator(
      [ok, what](std::string& v) -> std::string {
        try {
          std::size_t used = 0;
          const double x = std::stod(v, &used);
          if (used == v.size() && std::isfinite(x) && ok(x)) return {};
        } catch (const std::exception&) {
        }
        return "'" + v + "' is not " + what;
      },
      name);
}

/// A number > 0.
inline const CLI::Validator positive = number_validator([](double x) { return x > 0; }, "a positive number", "POSITIVE");
/// A number ≥ 0.
inline const CLI::Validator non_negative = number_validator([](double x) { return x >= 0; }, "a number >= 0", "NON-NEGATIVE");

}  // namespace nernst::cli
