// The neighbour list against pymatgen's find_points_in_spheres edge lists stored with the M3GNet
// references (src, dst, image, distance for every directed edge with d < 5 Å).
#include <doctest/doctest.h>

#include "../test_support.hpp"

#include <nernst/neighbor/neighbor_list.hpp>

#include <nlohmann/json.hpp>

#include <fstream>
#include <set>
#include <tuple>

using namespace nernst;

TEST_CASE("neighbor list: matches pymatgen's edge lists in the M3GNet references (rc = 5 Å)") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto dir = nernst_test::shared_dir() / "reference" / "m3gnet";
  int files = 0;
  for (const char* name : {"licl_rocksalt_prim.json", "licl_conv8_rattled.json", "libr_rocksalt_prim.json",
                           "li_y_cl_triclinic_rattled.json", "li_single_atom_small_cell.json",
                           "li3ycl6_ordered_40.json", "li3ycl6_supercell_180_rattled.json",
                           "near_cutoff_cluster.json"}) {
    CAPTURE(name);
    std::ifstream in(dir / name);
    REQUIRE(in.good());
    const auto js = nlohmann::json::parse(in);
    const auto& st = js.at("structure");
    Eigen::Matrix3d m;
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) m(a, b) = st.at("lattice")[a][b].get<double>();
    const Lattice L(m);
    const auto& pos = st.at("positions");
    Kokkos::View<double* [3], HostSpace> x("x", pos.size());
    for (std::size_t i = 0; i < pos.size(); ++i)
      for (int d = 0; d < 3; ++d) x(i, d) = pos[i][d].get<double>();

    const auto nl = build_neighbor_list(Kokkos::DefaultHostExecutionSpace(), x, L, 5.0);
    const auto& e = js.at("graph").at("edges");
    const std::size_t ne = e.at("src").size();
    CHECK(nl.num_pairs() == js.at("graph").at("n_directed_edges").get<std::size_t>());

    std::set<std::tuple<int, int, int, int, int>> ref, ours;
    for (std::size_t k = 0; k < ne; ++k) {
      const auto& im = e.at("image")[k];
      ref.insert({e.at("src")[k].get<int>(), e.at("dst")[k].get<int>(), im[0].get<int>(), im[1].get<int>(),
                  im[2].get<int>()});
    }
    for (int i = 0; i < static_cast<int>(nl.num_atoms()); ++i)
      for (int p = nl.begin(i); p < nl.end(i); ++p)
        ours.insert({i, nl.neighbors(p), nl.shifts(p, 0), nl.shifts(p, 1), nl.shifts(p, 2)});
    CHECK(ours == ref);

    // Distances: r = x_dst + image · L − x_src reproduces the stored float64 distances.
    const Mat3<double> cell = L.to_mat3<double>();
    double worst = 0;
    for (std::size_t k = 0; k < ne; ++k) {
      const int i = e.at("src")[k].get<int>(), j = e.at("dst")[k].get<int>();
      const auto& im = e.at("image")[k];
      const auto r = image_vector(Vec3<double>(x(i, 0), x(i, 1), x(i, 2)), Vec3<double>(x(j, 0), x(j, 1), x(j, 2)),
                                  im[0].get<int>(), im[1].get<int>(), im[2].get<int>(), cell);
      worst = std::max(worst, std::abs(std::sqrt(norm2(r)) - e.at("distance_A")[k].get<double>()));
    }
    CHECK(worst < 1e-10);
    ++files;
  }
  CHECK(files == 8);
}
