#pragma once
/// \file
/// \brief Symmetry operations as crystallographers write them ("-x+1/2, y, z"), and the
/// space-group lookup (symbol, Hall symbol or number -> operations) via the symmetry module's
/// view of spglib's database.

#include <nernst/core/error.hpp>
#include <nernst/symmetry/space_group.hpp>
#include <nernst/symmetry/symmetry_operation.hpp>

#include <Eigen/Core>

#include <cctype>
#include <cmath>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace io {

/// x' = R x + t in fractional coordinates: the symmetry module's operation type (one type for
/// CIF operations, spglib results and the enumerator).
using SymOp = symmetry::SymmetryOperation;

namespace detail {

/// Parses one "x,y,z"-style operation; returns an empty optional with `why` set when malformed.
/// Accepts "1/2+x", "x-y", "+x", "0.5-z", "-X+1/2", "x+1/2" etc.
inline std::optional<SymOp> parse_symop(std::string_view s, std::string& why) {
  SymOp op;
  op.rotation.setZero();
  int row = 0;
  std::size_t i = 0;
  auto parse_component = [&](std::string_view c, int r) -> bool {
    // Terms: [sign] (number[/number] | letter | number*letter)
    std::size_t k = 0;
    bool any = false;
    while (k < c.size()) {
      while (k < c.size() && std::isspace(static_cast<unsigned char>(c[k]))) ++k;
      if (k >= c.size()) break;
      int sign = 1;
      if (c[k] == '+' || c[k] == '-') {
        sign = c[k] == '-' ? -1 : 1;
        ++k;
        while (k < c.size() && std::isspace(static_cast<unsigned char>(c[k]))) ++k;
      }
      if (k >= c.size()) { why = "dangling sign"; return false; }
      double num = 1.0;
      bool have_num = false;
      if (std::isdigit(static_cast<unsigned char>(c[k])) || c[k] == '.') {
        std::size_t k0 = k;
        while (k < c.size() && (std::isdigit(static_cast<unsigned char>(c[k])) || c[k] == '.')) ++k;
        try {
          num = std::stod(std::string(c.substr(k0, k - k0)));
        } catch (...) {
          why = "bad number";
          return false;
        }
        if (k < c.size() && c[k] == '/') {
          ++k;
          std::size_t k1 = k;
          while (k < c.size() && std::isdigit(static_cast<unsigned char>(c[k]))) ++k;
          if (k == k1) { why = "bad fraction"; return false; }
          double den = 0;
          try {
            den = std::stod(std::string(c.substr(k1, k - k1)));
          } catch (...) {
            why = "bad fraction";
            return false;
          }
          if (den == 0) { why = "division by zero"; return false; }
          num /= den;
        }
        have_num = true;
        if (k < c.size() && c[k] == '*') ++k;
      }
      if (k < c.size()) {
        const char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c[k])));
        if (l == 'x' || l == 'y' || l == 'z') {
          const double coef = sign * num;
          if (std::abs(coef - std::round(coef)) > 1e-9 || std::abs(coef) > 1) { why = "non-integer rotation"; return false; }
          op.rotation(r, l - 'x') += static_cast<int>(std::lround(coef));
          ++k;
          any = true;
          continue;
        }
        if (!have_num || (c[k] != '+' && c[k] != '-' && !std::isspace(static_cast<unsigned char>(c[k])))) {
          why = std::string("unexpected character '") + c[k] + "'";
          return false;
        }
      }
      if (!have_num) { why = "empty term"; return false; }
      op.translation[r] += sign * num;
      any = true;
    }
    if (!any) why = "empty component";
    return any;
  };
  while (row < 3) {
    std::size_t j = s.find(',', i);
    if (row < 2 && j == std::string_view::npos) { why = "needs three comma-separated components"; return std::nullopt; }
    if (row == 2) {
      if (j != std::string_view::npos) { why = "more than three components"; return std::nullopt; }
      j = s.size();
    }
    if (!parse_component(s.substr(i, j - i), row)) return std::nullopt;
    i = j + 1;
    ++row;
  }
  const int det = static_cast<int>(std::lround(op.rotation.cast<double>().determinant()));
  if (det != 1 && det != -1) {
    why = "rotation part is not invertible (det " + std::to_string(det) + ")";
    return std::nullopt;
  }
  return op;
}

/// Lower-case, spaces/underscores removed: "C 1 2/m 1" -> "c12/m1".
inline std::string squeeze_symbol(std::string_view s) {
  std::string o;
  for (char c : s)
    if (!std::isspace(static_cast<unsigned char>(c)) && c != '_' && c != '\'' && c != '"')
      o.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return o;
}

/// Operations of one Hall setting (1…530) from spglib's database.
inline std::vector<SymOp> symops_from_hall(int hall) { return symmetry::operations_from_database(hall); }

/// Hall number for a Hermann–Mauguin symbol (short or full, any spacing; an optional ":1",
/// ":2", ":H", ":R" setting suffix), or 0. Without a suffix the ITA standard setting is chosen,
/// with origin choice 2 and hexagonal axes, as ICSD/COD CIFs use.
inline int hall_from_hm(std::string_view symbol, bool rhombohedral_cell = false) {
  std::string sym(symbol);
  std::string choice;
  if (auto c = sym.find(':'); c != std::string::npos) {
    choice = squeeze_symbol(sym.substr(c + 1));
    sym = sym.substr(0, c);
  }
  const std::string want = squeeze_symbol(sym);
  if (want.empty()) return 0;
  int first = 0, preferred = 0;
  for (int h = 1; h <= 530; ++h) {
    const symmetry::SpaceGroupType t = symmetry::space_group_type(h);
    if (squeeze_symbol(t.international_short) != want && squeeze_symbol(t.international_full) != want &&
        squeeze_symbol(t.international) != want)
      continue;
    const std::string ch = squeeze_symbol(t.choice);
    if (!choice.empty()) {
      if (ch == choice) return h;
      continue;
    }
    if (!first) first = h;
    if (!preferred && (ch == "2" || ch == (rhombohedral_cell ? "r" : "h"))) preferred = h;
  }
  if (!choice.empty()) return 0;
  return preferred ? preferred : first;
}

/// Hall number of the standard setting of an International Tables number (1…230), or 0.
inline int hall_from_number(int number, bool rhombohedral_cell = false) {
  if (number < 1 || number > 230) return 0;
  int first = 0;
  for (int h = 1; h <= 530; ++h) {
    const symmetry::SpaceGroupType t = symmetry::space_group_type(h);
    if (t.number != number) continue;
    if (!first) first = h;
    const std::string ch = squeeze_symbol(t.choice);
    if (ch == "2" || ch == (rhombohedral_cell ? "r" : "h")) return h;
    if (number < 3 || number > 15) {
      if (ch.empty()) return h;
    }
  }
  return first;
}

/// Hall number for a Hall symbol ("-C 2y"), or 0.
inline int hall_from_hall_symbol(std::string_view symbol) {
  const std::string want = squeeze_symbol(symbol);
  for (int h = 1; h <= 530; ++h)
    if (squeeze_symbol(symmetry::space_group_type(h).hall_symbol) == want) return h;
  return 0;
}

}  // namespace detail
}  // namespace io
NERNST_NAMESPACE_END
