#pragma once
/// \file
/// \brief Element table for Z = 1…94: symbol and standard atomic mass (IUPAC 2016 conventional
/// values, as ASE uses, so MD in nernst and ASE see the same masses).

#include <nernst/core/error.hpp>
#include <nernst/core/macros.hpp>

#include <array>
#include <cctype>
#include <string>
#include <string_view>

NERNST_NAMESPACE_BEGIN

struct Element {
  int z;
  const char* symbol;
  double mass;  ///< amu
};

inline constexpr int max_atomic_number = 94;

namespace detail {
inline constexpr std::array<Element, max_atomic_number> element_table{{
    {1, "H", 1.008},
    {2, "He", 4.002602},
    {3, "Li", 6.94},
    {4, "Be", 9.0121831},
    {5, "B", 10.81},
    {6, "C", 12.011},
    {7, "N", 14.007},
    {8, "O", 15.999},
    {9, "F", 18.998403163},
    {10, "Ne", 20.1797},
    {11, "Na", 22.98976928},
    {12, "Mg", 24.305},
    {13, "Al", 26.9815385},
    {14, "Si", 28.085},
    {15, "P", 30.973761998},
    {16, "S", 32.06},
    {17, "Cl", 35.45},
    {18, "Ar", 39.948},
    {19, "K", 39.0983},
    {20, "Ca", 40.078},
    {21, "Sc", 44.955908},
    {22, "Ti", 47.867},
    {23, "V", 50.9415},
    {24, "Cr", 51.9961},
    {25, "Mn", 54.938044},
    {26, "Fe", 55.845},
    {27, "Co", 58.933194},
    {28, "Ni", 58.6934},
    {29, "Cu", 63.546},
    {30, "Zn", 65.38},
    {31, "Ga", 69.723},
    {32, "Ge", 72.63},
    {33, "As", 74.921595},
    {34, "Se", 78.971},
    {35, "Br", 79.904},
    {36, "Kr", 83.798},
    {37, "Rb", 85.4678},
    {38, "Sr", 87.62},
    {39, "Y", 88.90584},
    {40, "Zr", 91.224},
    {41, "Nb", 92.90637},
    {42, "Mo", 95.95},
    {43, "Tc", 97.90721},
    {44, "Ru", 101.07},
    {45, "Rh", 102.9055},
    {46, "Pd", 106.42},
    {47, "Ag", 107.8682},
    {48, "Cd", 112.414},
    {49, "In", 114.818},
    {50, "Sn", 118.71},
    {51, "Sb", 121.76},
    {52, "Te", 127.6},
    {53, "I", 126.90447},
    {54, "Xe", 131.293},
    {55, "Cs", 132.90545196},
    {56, "Ba", 137.327},
    {57, "La", 138.90547},
    {58, "Ce", 140.116},
    {59, "Pr", 140.90766},
    {60, "Nd", 144.242},
    {61, "Pm", 144.91276},
    {62, "Sm", 150.36},
    {63, "Eu", 151.964},
    {64, "Gd", 157.25},
    {65, "Tb", 158.92535},
    {66, "Dy", 162.5},
    {67, "Ho", 164.93033},
    {68, "Er", 167.259},
    {69, "Tm", 168.93422},
    {70, "Yb", 173.054},
    {71, "Lu", 174.9668},
    {72, "Hf", 178.49},
    {73, "Ta", 180.94788},
    {74, "W", 183.84},
    {75, "Re", 186.207},
    {76, "Os", 190.23},
    {77, "Ir", 192.217},
    {78, "Pt", 195.084},
    {79, "Au", 196.966569},
    {80, "Hg", 200.592},
    {81, "Tl", 204.38},
    {82, "Pb", 207.2},
    {83, "Bi", 208.9804},
    {84, "Po", 208.98243},
    {85, "At", 209.98715},
    {86, "Rn", 222.01758},
    {87, "Fr", 223.01974},
    {88, "Ra", 226.02541},
    {89, "Ac", 227.02775},
    {90, "Th", 232.0377},
    {91, "Pa", 231.03588},
    {92, "U", 238.02891},
    {93, "Np", 237.04817},
    {94, "Pu", 244.06421},
}};
}  // namespace detail

/// The element with atomic number z (1…94); throws ValueError otherwise.
inline const Element& element(int z) {
  if (z < 1 || z > max_atomic_number)
    throw ValueError("atomic number " + std::to_string(z) + " is outside the supported range 1-94");
  return detail::element_table[static_cast<std::size_t>(z - 1)];
}

/// Atomic number of a symbol ("Li", "li" and "LI" all accepted); 0 if unknown.
inline int try_atomic_number(std::string_view symbol) noexcept {
  if (symbol.empty() || symbol.size() > 2) return 0;
  char buf[3] = {static_cast<char>(std::toupper(static_cast<unsigned char>(symbol[0]))), 0, 0};
  if (symbol.size() == 2) buf[1] = static_cast<char>(std::tolower(static_cast<unsigned char>(symbol[1])));
  for (const auto& e : detail::element_table)
    if (std::string_view(e.symbol) == std::string_view(buf)) return e.z;
  return 0;
}

/// Atomic number of a symbol; throws ValueError naming the symbol when unknown.
inline int atomic_number(std::string_view symbol) {
  int z = try_atomic_number(symbol);
  if (z == 0) throw ValueError("unknown element symbol '" + std::string(symbol) + "'");
  return z;
}

inline const char* element_symbol(int z) { return element(z).symbol; }
inline double atomic_mass(int z) { return element(z).mass; }

NERNST_NAMESPACE_END
