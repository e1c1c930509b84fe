/// \file
/// \brief `lmp_nernst`: a LAMMPS executable with `pair_style nernst` registered.
///
/// Debian's LAMMPS (29Sep2021) is built without the PLUGIN package, so `plugin load` does not
/// exist there. This driver links liblammps, creates the LAMMPS instance and adds the style's
/// factory to `force->pair_map` (what `plugin load` does internally), then reads the input
/// exactly like `lmp`: `mpirun -np 2 lmp_nernst -in in.lammps -var model /path/to/model`.

#include "force.h"
#include "input.h"
#include "lammps.h"

#include "pair_nernst.h"

#include <mpi.h>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  {
    auto* lmp = new LAMMPS_NS::LAMMPS(argc, argv, MPI_COMM_WORLD);
    (*lmp->force->pair_map)["nernst"] = &LAMMPS_NS::PairNernst::creator;
    lmp->input->file();
    delete lmp;
  }
  MPI_Finalize();
  return 0;
}
