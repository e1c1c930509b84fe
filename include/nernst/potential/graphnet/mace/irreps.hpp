#pragma once
/// \file
/// \brief e3nn irreps: the feature layout of every MACE tensor ("16x0e + 16x1o").
///
/// A feature vector with irreps `m1 x ir1 + m2 x ir2 + ...` is the concatenation of blocks; block
/// k holds m_k copies of irrep ir_k (dimension 2l+1), copy-major: element (u, m) at
/// offset_k + u (2l+1) + m, with m running over e3nn's real basis m = -l..l.

#include <nernst/core/error.hpp>
#include <nernst/core/macros.hpp>
#include <nernst/potential/graphnet/mace/u_matrix.hpp>  // Irrep

#include <cctype>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {
namespace mace {

/// e3nn's spelling of an irrep, "1o". (Irrep itself is defined once, in u_matrix.hpp.)
inline std::string irrep_str(const Irrep& ir) { return std::to_string(ir.l) + (ir.p > 0 ? "e" : "o"); }

/// `mul` copies of one irrep.
struct MulIrrep {
  int mul = 0;
  Irrep ir;
  int dim() const { return mul * ir.dim(); }
  friend bool operator==(const MulIrrep& a, const MulIrrep& b) { return a.mul == b.mul && a.ir == b.ir; }
};

/// An ordered list of MulIrreps (e3nn `Irreps`; not simplified, order kept).
struct Irreps {
  std::vector<MulIrrep> items;

  std::size_t size() const { return items.size(); }
  const MulIrrep& operator[](std::size_t k) const { return items[k]; }
  /// Total dimension.
  int dim() const {
    int d = 0;
    for (const auto& m : items) d += m.dim();
    return d;
  }
  /// Start of block k in a feature vector.
  int offset(std::size_t k) const {
    int d = 0;
    for (std::size_t i = 0; i < k; ++i) d += items[i].dim();
    return d;
  }
  /// Largest l present (-1 when empty).
  int lmax() const {
    int l = -1;
    for (const auto& m : items) l = m.ir.l > l ? m.ir.l : l;
    return l;
  }
  /// Index of the first block with irrep `ir`, or -1.
  int find(const Irrep& ir) const {
    for (std::size_t k = 0; k < items.size(); ++k)
      if (items[k].ir == ir) return static_cast<int>(k);
    return -1;
  }
  /// e3nn's spelling, "16x0e+16x1o".
  std::string str() const {
    std::string s;
    for (std::size_t k = 0; k < items.size(); ++k)
      s += (k ? "+" : "") + std::to_string(items[k].mul) + "x" + irrep_str(items[k].ir);
    return s;
  }
  friend bool operator==(const Irreps& a, const Irreps& b) { return a.items == b.items; }
  friend bool operator!=(const Irreps& a, const Irreps& b) { return !(a == b); }

  /// Parses "16x0e + 16x1o", "1x0e+1x1o", "0e" (multiplicity 1). Throws ValueError naming the text.
  static Irreps parse(const std::string& text) {
    Irreps r;
    std::size_t i = 0;
    auto fail = [&](const char* why) { throw ValueError("irreps '" + text + "': " + why); };
    auto skip_space = [&] {
      while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    };
    auto number = [&] {
      if (i >= text.size() || !std::isdigit(static_cast<unsigned char>(text[i]))) fail("expected a number");
      long v = 0;
      while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
        v = v * 10 + (text[i++] - '0');
        if (v > 1000000) fail("number too large");
      }
      return static_cast<int>(v);
    };
    skip_space();
    if (i == text.size()) return r;
    while (true) {
      skip_space();
      int mul = 1;
      int first = number();
      if (i < text.size() && text[i] == 'x') {
        ++i;
        mul = first;
        first = number();
      }
      if (i >= text.size() || (text[i] != 'e' && text[i] != 'o')) fail("expected parity 'e' or 'o'");
      r.items.push_back({mul, {first, text[i] == 'e' ? 1 : -1}});
      ++i;
      skip_space();
      if (i == text.size()) break;
      if (text[i] != '+') fail("expected '+'");
      ++i;
    }
    return r;
  }
};

/// The spherical-harmonic irreps 0e + 1o + ... + lmax (parity (-1)^l), multiplicity `mul`.
inline Irreps spherical_irreps(int lmax, int mul = 1) {
  Irreps r;
  for (int l = 0; l <= lmax; ++l) r.items.push_back({mul, {l, l % 2 == 0 ? 1 : -1}});
  return r;
}

}  // namespace mace
}  // namespace graphnet
NERNST_NAMESPACE_END
