#pragma once
// Helpers shared by the M3GNet and CHGNet tests.

#include "../json_support.hpp"
#include "../test_support.hpp"

#include <nernst/core/kokkos.hpp>
#include <nernst/core/system.hpp>

#include <array>
#include <vector>

namespace graphnet_test {

using nernst_test::read_json;

/// The System's forces (after a compute) as host arrays.
inline std::vector<std::array<double, 3>> host_forces(const nernst::System<>& sys) {
  auto hf = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), sys.f);
  std::vector<std::array<double, 3>> f(sys.size());
  for (std::size_t i = 0; i < sys.size(); ++i)
    for (int k = 0; k < 3; ++k) f[i][static_cast<std::size_t>(k)] = hf(i, k);
  return f;
}

}  // namespace graphnet_test
