// HNF / SNF machinery and derivative-structure counts against the shared enumlib/OEIS references.
#include "../test_support.hpp"
#include "enumlib_reference.hpp"

#include <nernst/enumerate/enumerator.hpp>

#include <nlohmann/json.hpp>

#include <fstream>

using namespace nernst;
using namespace nernst::enumerate;

namespace {
nlohmann::json load_ref(const char* name) {
  std::ifstream in(nernst_test::shared_dir() / "reference" / "enumeration" / name);
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

using nernst_test::lattice_from_ref;
}  // namespace

TEST_CASE("hnf: counts equal OEIS A001001 and every HNF is in normal form") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto ref = load_ref("hnf_counts.json");
  for (const auto& [k, v] : ref["counts"].items()) {
    const long n = std::stol(k);
    CHECK(hnf_count(n) == v.get<std::uint64_t>());
    if (n <= 24) {
      const auto hs = hnfs(n);
      CHECK(hs.size() == v.get<std::size_t>());
      for (const auto& h : hs) CHECK(hermite_normal_form(h) == h);
    }
  }
}

TEST_CASE("hnf: HNF of a lattice basis is basis independent; SNF is L H R with divisibility") {
  IMat3 h;
  h << 2, 0, 0, 1, 3, 0, 4, 2, 6;
  IMat3 u;  // unimodular
  u << 1, 2, 0, 0, 1, 0, 3, 1, 1;
  CHECK(std::llround(u.cast<double>().determinant()) == 1);
  CHECK(hermite_normal_form(h * u) == hermite_normal_form(h));
  for (long n : {4L, 6L, 8L, 12L})
    for (const auto& m : hnfs(n)) {
      const auto s = smith_normal_form(m);
      CHECK(s.L * m * s.R == s.S);
      CHECK(std::llabs(std::llround(s.L.cast<double>().determinant())) == 1);
      CHECK(std::llabs(std::llround(s.R.cast<double>().determinant())) == 1);
      CHECK(s.S(1, 1) % s.S(0, 0) == 0);
      CHECK(s.S(2, 2) % s.S(1, 1) == 0);
      CHECK(s.S(0, 0) * s.S(1, 1) * s.S(2, 2) == n);
    }
}

TEST_CASE("hnf: distinct superlattices of fcc, bcc, sc and hcp equal enumlib's and OEIS A159842") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto ref = load_ref("superlattice_counts.json");
  for (const char* name : {"fcc", "bcc", "sc", "hcp"}) {
    const auto m = lattice_from_ref(ref["lattices"][name], 2);
    const Enumerator<HNF> e(m);
    const auto& counts = ref[std::string(name) == "hcp" ? "hcp_or_hex" : name];
    for (const auto& [k, v] : counts.items()) {
      const long n = std::stol(k);
      if (n > 16) continue;
      INFO(name << " n=" << n);
      CHECK(e.superlattices(n).size() == v.get<std::size_t>());
    }
  }
}

TEST_CASE("enumerate: derivative structure counts per index equal the enumlib references") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto ref = load_ref("derivative_structure_counts.json");
  struct Case {
    const char* key;
    long nmax;
  };
  for (const Case c : {Case{"fcc_binary_part_n1_20", 10}, Case{"fcc_binary_full_n1_16", 9}, Case{"bcc_binary_part_n1_16", 9},
                       Case{"sc_binary_part_n1_16", 9}, Case{"hcp_binary_part_n1_10", 6}, Case{"fcc_ternary_part_n1_10", 7},
                       Case{"fcc_ternary_full_n1_8", 6}, Case{"fcc_quaternary_part_n1_6", 6}, Case{"fcc_binary_1to1_n1_12", 10},
                       Case{"sc_binary_full_n1_12", 9}}) {
    const auto& cs = ref["cases"][c.key];
    const int k = cs["n_labels"].get<int>();
    const auto m = lattice_from_ref(ref["lattices"][cs["lattice"].get<std::string>()], k);
    DerivativeOptions opt = cs["mode"].get<std::string>() == "part" ? DerivativeOptions::part() : DerivativeOptions::full();
    if (cs.contains("concentration_restriction")) opt.concentration = {{0.5, 0.5}, {0.5, 0.5}};
    const Enumerator<HNF> e(m, opt);
    for (const auto& [key, v] : cs["counts_per_index"].items()) {
      const long n = std::stol(key);
      if (n > c.nmax) continue;
      INFO(c.key << " n=" << n);
      CHECK(e.run_index(n, [](const Derivative&) {}).structures == v.get<std::uint64_t>());
    }
  }
}

TEST_CASE("enumerate: Burnside count equals the number of orbits enumerated (all orbits, every supercell)") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto ref = load_ref("derivative_structure_counts.json");
  for (const char* lat : {"fcc", "hcp"}) {
    const auto m = lattice_from_ref(ref["lattices"][lat], 3);
    for (const bool exchange : {false, true}) {
      DerivativeOptions opt = DerivativeOptions::all_orbits();
      opt.label_exchange = exchange;
      const Enumerator<HNF> e(m, opt);
      for (long n = 1; n <= (std::string(lat) == "hcp" ? 3 : 5); ++n) {
        const auto is = e.run_index(n, [](const Derivative&) {}, true);
        for (const auto& st : is.supercells) {
          INFO(lat << " n=" << n << " exchange=" << exchange);
          CHECK(st.burnside == st.orbits.orbits);
          CHECK(st.orbits.kept == st.orbits.orbits);
        }
      }
    }
  }
}
