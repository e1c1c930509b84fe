/// \file
/// \brief `pair_style nernst MODEL [options OPTS] [ghost gather|shell]`: nernst potentials in LAMMPS
/// through the C API (include/nernst/capi/nernst.h).
///
/// ```
/// units metal
/// newton on
/// pair_style nernst /path/to/M3GNet-MP-2021.2.8-PES
/// pair_coeff * * Li Y Cl          # element of LAMMPS type 1, 2, 3
/// ```
///
/// MODEL is any spec of nernst_potential_create: a matgl directory (M3GNet, TensorNet), a
/// mace-torch `.model` file (MACE), a CHGNet `.pth.tar`, or `lj:...`.
///
/// Two ways to handle the atoms other ranks own and the periodic images (see docs/embedding.md):
///  - `ghost gather` (default): the owned atoms of all ranks are gathered in tag order and the
///    periodic cell is evaluated once (by rank 0) with nernst_compute; forces go back to the
///    owners, energy and virial are added on rank 0. On one rank this is owner mapping: ghosts are
///    never used. Exact on any rank count, but the potential itself is not parallelised.
///  - `ghost shell`: each rank evaluates its owned atoms plus LAMMPS ghost atoms out to the
///    model's range of influence with nernst_compute_local; forces on ghosts are summed into their
///    owners by LAMMPS (newton on) and the virial is LAMMPS' fdotr sum. Exact and parallel, but
///    the ghost shell is wide for message-passing models (n_blocks x cutoff = 15 Å for M3GNet, num_interactions x r_max = 12 Å for
///    MACE-MP-0).
///
/// No LAMMPS neighbour list is requested: the C API builds its own graph, which keeps this style
/// independent of the neighbour-request API that changed in 2022.

#ifndef NERNST_LAMMPS_PAIR_NERNST_H
#define NERNST_LAMMPS_PAIR_NERNST_H

#include "pair.h"

#include <string>
#include <vector>

struct nernst_potential;

namespace LAMMPS_NS {

class PairNernst : public Pair {
 public:
  explicit PairNernst(class LAMMPS* lmp);
  ~PairNernst() override;
  void compute(int eflag, int vflag) override;
  void settings(int narg, char** arg) override;
  void coeff(int narg, char** arg) override;
  void init_style() override;
  double init_one(int i, int j) override;

  /// Factory for `force->pair_map` (driver registration) and for lammpsplugin_init.
  static Pair* creator(class LAMMPS* lmp);

 private:
  enum class Ghost { gather, shell };
  void allocate();
  void compute_gather();
  void compute_shell();
  [[noreturn]] void fail(const std::string& what);

  nernst_potential* pot_ = nullptr;
  std::string spec_, options_;
  Ghost ghost_ = Ghost::gather;
  std::vector<int> z_of_type_;  ///< atomic number of each LAMMPS type (index 1..ntypes)
  // work arrays
  std::vector<int> z_, tags_, counts_, displs_, order_;
  std::vector<double> x_, f_, e_atom_;
};

}  // namespace LAMMPS_NS

#endif
