// doctest main shared by every test executable: owns the Kokkos lifetime.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <nernst/core/kokkos.hpp>

int main(int argc, char** argv) {
  nernst::KokkosSession kokkos(argc, argv);
  doctest::Context ctx;
  ctx.applyCommandLine(argc, argv);
  return ctx.run();
}
