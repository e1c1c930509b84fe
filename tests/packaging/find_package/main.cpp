// A downstream program using the installed nernst package.
#include <nernst/core/kokkos.hpp>
#include <nernst/core/structure.hpp>
#include <nernst/version.hpp>

#include <iostream>

int main(int argc, char* argv[]) {
  nernst::KokkosSession kokkos(argc, argv);
  nernst::Structure s(nernst::Lattice::from_parameters(5.64, 5.64, 5.64, 90, 90, 90));
  s.add_site(11, {0, 0, 0});
  s.add_site(17, {0.5, 0.5, 0.5});
  std::cout << "nernst " << nernst::version() << ": " << s.formula() << " density " << s.density() << "\n";
  return s.formula() == "NaCl" ? 0 : 1;
}
