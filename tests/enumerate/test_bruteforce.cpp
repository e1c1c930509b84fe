// Brute force: every labeling of every superlattice reduced by the explicit permutation group;
// the representatives (lexicographically smallest of each orbit) must be exactly those the
// bitmap enumeration visits, with and without composition constraints.
#include "../test_support.hpp"

#include <nernst/enumerate/enumerator.hpp>

#include <nlohmann/json.hpp>

#include <fstream>
#include <set>

using namespace nernst;
using namespace nernst::enumerate;

namespace {
Multilattice fcc(int k) {
  Eigen::Matrix3d rows;
  rows << 0.5, 0.5, 0, 0.5, 0, 0.5, 0, 0.5, 0.5;
  Multilattice m;
  m.lattice = Lattice(rows);
  m.frac.push_back(Eigen::Vector3d::Zero());
  m.allowed.push_back({});
  for (int x = 0; x < k; ++x) m.allowed[0].push_back(x);
  m.n_labels = k;
  return m;
}
Multilattice hcp_restricted() {
  // Two sites: the first may hold labels 0/1, the second 1/2 (site restrictions).
  Eigen::Matrix3d rows;
  rows << 1, 0, 0, 0.5, std::sqrt(3.0) / 2, 0, 0, 0, 1.632993161855452;
  Multilattice m;
  m.lattice = Lattice(rows);
  m.frac = {Eigen::Vector3d(1.0 / 3, 1.0 / 3, 0.25), Eigen::Vector3d(2.0 / 3, 2.0 / 3, 0.75)};
  m.allowed = {{0, 1}, {1, 2}};
  m.n_labels = 3;
  return m;
}

void compare(const Enumerator<HNF>& e, long n, const std::vector<long>& counts) {
  for (const auto& h : e.superlattices(n)) {
    const auto ag = e.active_group(h);
    const auto p = e.problem(n, counts);
    const std::size_t N = p.allowed.size();
    // Brute force over all admissible labelings.
    std::set<std::vector<int>> reps;
    std::vector<std::size_t> digit(N, 0);
    for (;;) {
      std::vector<int> l(N);
      for (std::size_t i = 0; i < N; ++i) l[i] = p.allowed[i][digit[i]];
      bool ok = true;
      for (int x = 0; x < p.n_labels; ++x)
        if (p.counts[static_cast<std::size_t>(x)] >= 0 && std::count(l.begin(), l.end(), x) != p.counts[static_cast<std::size_t>(x)]) ok = false;
      if (ok) {
        std::vector<int> best = l;
        bool superperiodic = false;
        for (std::size_t k = 0; k < ag.perms.size(); ++k) {
          std::vector<int> img(N);
          for (std::size_t i = 0; i < N; ++i) img[static_cast<std::size_t>(ag.perms[k][i])] = l[i];
          if (img < best) best = img;
          if (k > 0 && ag.is_translation[k] && img == l) superperiodic = true;
        }
        if (!superperiodic) reps.insert(best);
      }
      std::size_t i = N;
      while (i > 0 && ++digit[i - 1] == p.allowed[i - 1].size()) digit[--i] = 0;
      if (i == 0) break;
    }
    std::set<std::vector<int>> got;
    OrbitOptions oo;
    oo.remove_superperiodic = true;
    const auto st = enumerate_orbits(LabelingRanker(p), ag.perms, ag.is_translation, oo,
                                     [&](const Label* l, const OrbitInfo&) { got.insert(std::vector<int>(l, l + N)); });
    CHECK(st.orbits == burnside_count(p, ag.perms));
    INFO("n=" << n << " hnf diag " << h(0, 0) << h(1, 1) << h(2, 2));
    CHECK(got.size() == reps.size());
    CHECK(got == reps);
  }
}
}  // namespace

TEST_CASE("brute force: fcc binary and ternary, all superlattices up to n = 6") {
  DerivativeOptions o = DerivativeOptions::full();
  const Enumerator<HNF> e2(fcc(2), o), e3(fcc(3), o);
  for (long n = 1; n <= 6; ++n) compare(e2, n, {});
  for (long n = 1; n <= 4; ++n) compare(e3, n, {});
}

TEST_CASE("brute force: exact compositions and site restrictions (hcp-like two-site cell)") {
  const Enumerator<HNF> e(hcp_restricted(), DerivativeOptions::full());
  for (long n = 1; n <= 3; ++n) {
    compare(e, n, {});
    const long N = 2 * n;
    compare(e, n, {n / 2, N - n / 2 - (n + 1) / 2, (n + 1) / 2});  // label 1 fills the rest
  }
  const Enumerator<HNF> f(fcc(3), DerivativeOptions::full());
  compare(f, 6, {2, 2, 2});
  compare(f, 5, {1, 3, 1});
}

TEST_CASE("brute force: errors are clear") {
  const Enumerator<HNF> f(fcc(2), DerivativeOptions::full());
  CHECK_THROWS_AS(LabelingRanker(f.problem(2, {3, 0})), ValueError);  // 3 atoms on 2 sites
  CHECK_THROWS_AS(hermite_normal_form(IMat3::Zero()), ValueError);
  Multilattice bad = fcc(2);
  bad.allowed[0] = {0};
  CHECK_THROWS_AS(Enumerator<HNF>{bad}, ValueError);  // nothing to enumerate
}

TEST_SUITE("slow") {
  TEST_CASE("enumerate: fcc binary part counts n = 11..20 (enumlib)") {
    NERNST_REQUIRE_SHARED_DATA();
    std::ifstream in(nernst_test::shared_dir() / "reference" / "enumeration" / "derivative_structure_counts.json");
    const auto ref = nlohmann::json::parse(in)["cases"]["fcc_binary_part_n1_20"]["counts_per_index"];
    const Enumerator<HNF> e(fcc(2), DerivativeOptions::part());
    for (long n = 11; n <= 20; ++n) CHECK(e.run_index(n, [](const Derivative&) {}).structures == ref[std::to_string(n)].get<std::uint64_t>());
  }
}
