// FreshOnCopy: a copy starts from a default value (no shared Kokkos views), a move keeps it.
#include <doctest/doctest.h>

#include <nernst/core/fresh_on_copy.hpp>
#include <nernst/core/kokkos.hpp>

#include <utility>
#include <vector>

TEST_CASE("FreshOnCopy: copies get a fresh value, moves keep it") {
  struct Work {
    Kokkos::View<double*, Kokkos::HostSpace> scratch;
    std::vector<int> list;
  };
  nernst::FreshOnCopy<Work> a;
  a->scratch = Kokkos::View<double*, Kokkos::HostSpace>("scratch", 8);
  a->list = {1, 2, 3};
  const nernst::FreshOnCopy<Work> b = a;
  CHECK(b->scratch.data() == nullptr);
  CHECK(b->list.empty());
  CHECK(a->scratch.use_count() == 1);  // nothing shares a's view
  nernst::FreshOnCopy<Work> c;
  c->list = {4};
  c = a;
  CHECK(c->list.empty());
  const double* data = a->scratch.data();
  nernst::FreshOnCopy<Work> d = std::move(a);
  CHECK(d->scratch.data() == data);
  CHECK(d->list == std::vector<int>{1, 2, 3});
}
