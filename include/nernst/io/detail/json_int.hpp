#pragma once
/// \file
/// \brief An integer field of a JSON file read without undefined behaviour.
///
/// Why: nlohmann's `value(key, int)` / `get<int>()` convert a floating-point or out-of-range
/// number with a plain cast, which is undefined behaviour for 1e300 or 3e9 (found by fuzzing
/// the model.json readers). A hyper-parameter file may write 3.0 where 3 is meant, so integral
/// floats are accepted; anything else is a ParseError naming the file and the field.

#include <nernst/core/error.hpp>
#include <nernst/core/macros.hpp>

#include <nlohmann/json.hpp>

#include <climits>
#include <cmath>
#include <cstdint>
#include <string>

NERNST_NAMESPACE_BEGIN
namespace io::detail {

/// obj[key] as an int; `fallback` when absent. `path` names the file in errors.
inline int json_int(const nlohmann::json& obj, const char* key, int fallback, const std::string& path) {
  const auto it = obj.find(key);
  if (it == obj.end()) return fallback;
  const nlohmann::json& v = *it;
  if (v.is_number_unsigned()) {
    const std::uint64_t u = v.get<std::uint64_t>();
    if (u <= static_cast<std::uint64_t>(INT_MAX)) return static_cast<int>(u);
  } else if (v.is_number_integer()) {
    const std::int64_t i = v.get<std::int64_t>();
    if (i >= INT_MIN && i <= INT_MAX) return static_cast<int>(i);
  } else if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && d >= double(INT_MIN) && d <= double(INT_MAX)) return static_cast<int>(d);
  }
  throw ParseError(path, 0, std::string("'") + key + "' must be an integer (got " + v.dump() + ")");
}

}  // namespace io::detail
NERNST_NAMESPACE_END
