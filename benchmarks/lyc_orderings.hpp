#pragma once
// The first orderings of Li3YCl6 1x1x2 in the per-element convention (60 atoms, the cells of
// bench_screen), as ordered Structures: the small cells of the replica-MD and relaxation
// benchmarks.
#include "bench_support.hpp"

#include <nernst/enumerate/occupancy.hpp>
#include <nernst/io/cif.hpp>

#include <cstddef>
#include <vector>

namespace nernst_bench {

inline std::vector<nernst::Structure> lyc112_orderings(std::size_t count) {
  using namespace nernst;
  using namespace nernst::enumerate;
  const Structure parent = io::read_cif((shared_dir() / "structures" / "Li3YCl6_P-3m1_Schlem2021_obelix-ei3.cif").string());
  OrderingOptions o;
  o.mode = OccupancyMode::PerElement;
  const OrderingModel model(parent, o);
  Enumerator<HNF> e(model.multilattice(), model.derivative_options(false));
  IMat3 hnf = IMat3::Identity();
  hnf(2, 2) = 2;
  std::vector<Structure> out;
  struct Enough {};
  try {
    e.run_supercell(hnf, [&](const Derivative& d) {
      out.push_back(e.to_structure(d));
      if (out.size() == count) throw Enough{};
    });
  } catch (const Enough&) {
  }
  return out;
}

}  // namespace nernst_bench
