#pragma once
/// \file
/// \brief System: the simulation state of an ordered structure in Kokkos views.

#include <nernst/core/kokkos.hpp>
#include <nernst/core/structure.hpp>

#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN

/// Per-atom simulation arrays in MemorySpace plus the (host-side) cell.
///
/// Positions are Cartesian Å and kept wrapped into the cell by MD; `image` counts how many times
/// each atom crossed each periodic boundary, so the unwrapped position is x + image · cell.
/// `type` indexes `species` (atomic numbers), which is the order the potential's element mapping
/// and output files use.
template <class MemorySpace = DefaultMemorySpace>
struct System {
  using memory_space = MemorySpace;
  using vec_view = Kokkos::View<double* [3], MemorySpace>;

  vec_view x;                                   ///< positions, Å
  vec_view v;                                   ///< velocities, Å/fs
  vec_view f;                                   ///< forces, eV/Å
  Kokkos::View<double*, MemorySpace> mass;      ///< amu
  Kokkos::View<int*, MemorySpace> type;         ///< index into species
  Kokkos::View<int* [3], MemorySpace> image;    ///< periodic image counters
  Lattice cell;                                 ///< rows a, b, c (host)
  std::vector<int> species;                     ///< type -> atomic number

  System() = default;
  explicit System(std::size_t n)
      : x(Kokkos::view_alloc(std::string("nernst::System::x")), n),
        v(Kokkos::view_alloc(std::string("nernst::System::v")), n),
        f(Kokkos::view_alloc(std::string("nernst::System::f")), n),
        mass(Kokkos::view_alloc(std::string("nernst::System::mass")), n),
        type(Kokkos::view_alloc(std::string("nernst::System::type")), n),
        image(Kokkos::view_alloc(std::string("nernst::System::image")), n) {}

  std::size_t size() const { return x.extent(0); }

  /// Builds a System from an ordered structure; species are numbered in order of first appearance.
  static System from_structure(const Structure& s) {
    std::vector<Eigen::Vector3d> cart(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) cart[i] = s.cart(i);
    return from_cartesian(s.lattice(), s.atomic_numbers(), cart);
  }

  /// Builds a System from Cartesian positions (Å) taken exactly as given (not wrapped, no
  /// round trip through fractional coordinates); species are numbered in order of first appearance.
  static System from_cartesian(const Lattice& cell, const std::vector<int>& z, const std::vector<Eigen::Vector3d>& cart) {
    if (z.size() != cart.size())
      throw ValueError("System::from_cartesian: " + std::to_string(z.size()) + " atomic numbers but " +
                       std::to_string(cart.size()) + " positions");
    System sys(z.size());
    sys.cell = cell;
    auto hx = Kokkos::create_mirror_view(sys.x);
    auto hm = Kokkos::create_mirror_view(sys.mass);
    auto ht = Kokkos::create_mirror_view(sys.type);
    for (std::size_t i = 0; i < z.size(); ++i) {
      int t = -1;
      for (std::size_t k = 0; k < sys.species.size(); ++k)
        if (sys.species[k] == z[i]) t = static_cast<int>(k);
      if (t < 0) {
        t = static_cast<int>(sys.species.size());
        sys.species.push_back(z[i]);
      }
      for (int d = 0; d < 3; ++d) hx(i, d) = cart[i][d];
      hm(i) = atomic_mass(z[i]);
      ht(i) = t;
    }
    Kokkos::deep_copy(sys.x, hx);
    Kokkos::deep_copy(sys.mass, hm);
    Kokkos::deep_copy(sys.type, ht);
    return sys;
  }

  /// Atomic number of every atom (host).
  std::vector<int> atomic_numbers() const {
    auto ht = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), type);
    std::vector<int> z(size());
    for (std::size_t i = 0; i < size(); ++i) z[i] = species[static_cast<std::size_t>(ht(i))];
    return z;
  }

  /// Back to a Structure with the current (wrapped) positions.
  Structure to_structure() const {
    Structure s(cell);
    auto hx = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), x);
    const auto z = atomic_numbers();
    for (std::size_t i = 0; i < size(); ++i)
      s.add_site_cart(z[i], Eigen::Vector3d(hx(i, 0), hx(i, 1), hx(i, 2)));
    return s;
  }
};

NERNST_NAMESPACE_END
