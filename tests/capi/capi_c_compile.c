/* The C API header is plain C: this file is compiled as C (C99) and linked against nernst_capi,
 * and run as a test: version check and a two-atom Lennard-Jones energy against the formula. */
#include <nernst/capi/nernst.h>

#include <math.h>
#include <stdio.h>

int main(void) {
  nernst_potential* pot = NULL;
  const int z[2] = {18, 18};
  const double x[6] = {0.0, 0.0, 0.0, 3.0, 0.0, 0.0};
  const double cell[9] = {20.0, 0.0, 0.0, 0.0, 20.0, 0.0, 0.0, 0.0, 20.0};
  double e = 0.0, f[6], s6, expected;
  if (nernst_api_version() != NERNST_C_API_VERSION) return 1;
  if (nernst_potential_create("lj:epsilon=0.01,sigma=3.4,cutoff=8,shift=0", NULL, &pot) != NERNST_OK) {
    fprintf(stderr, "%s\n", nernst_create_error());
    return 2;
  }
  if (nernst_compute(pot, 2, z, x, cell, NULL, &e, f, NULL, NULL, NULL) != NERNST_OK) {
    fprintf(stderr, "%s\n", nernst_potential_last_error(pot));
    return 3;
  }
  nernst_potential_destroy(pot);
  s6 = pow(3.4 / 3.0, 6);
  expected = 4 * 0.01 * (s6 * s6 - s6);
  if (fabs(e - expected) > 1e-12 || fabs(f[0] + f[3]) > 1e-12) {
    fprintf(stderr, "energy %.17g, expected %.17g\n", e, expected);
    return 4;
  }
  printf("C API %d: E = %.12f eV\n", nernst_api_version(), e);
  return 0;
}
