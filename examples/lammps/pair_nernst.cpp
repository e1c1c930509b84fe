/// \file
/// \brief PairNernst: see pair_nernst.h. Uses only the non-formatting LAMMPS error/log overloads,
/// so it builds against Debian's liblammps-dev with nernst's fmt declaration shim.

#include "pair_nernst.h"

#include "atom.h"
#include "comm.h"
#include "domain.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "update.h"
#include "utils.h"

#include <nernst/capi/nernst.h>
#include <nernst/core/elements.hpp>

#include <algorithm>
#include <cstring>
#include <numeric>

using namespace LAMMPS_NS;

PairNernst::PairNernst(LAMMPS* lmp) : Pair(lmp) {
  single_enable = 0;
  restartinfo = 0;
  one_coeff = 1;
  manybody_flag = 1;
  centroidstressflag = CENTROID_NOTAVAIL;
  no_virial_fdotr_compute = 1;  // gather mode adds the model's virial; shell mode turns fdotr on
}

PairNernst::~PairNernst() {
  nernst_potential_destroy(pot_);
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
  }
}

Pair* PairNernst::creator(LAMMPS* lmp) { return new PairNernst(lmp); }

void PairNernst::fail(const std::string& what) { error->all(FLERR, std::string("pair_style nernst: ") + what); }

void PairNernst::allocate() {
  allocated = 1;
  const int n = atom->ntypes;
  memory->create(setflag, n + 1, n + 1, "pair:setflag");
  memory->create(cutsq, n + 1, n + 1, "pair:cutsq");
  for (int i = 1; i <= n; ++i)
    for (int j = i; j <= n; ++j) setflag[i][j] = 0;
}

/// pair_style nernst MODEL [options OPTS] [ghost gather|shell]
void PairNernst::settings(int narg, char** arg) {
  if (narg < 1) fail("expected: pair_style nernst MODEL [options KEY=VAL,...] [ghost gather|shell]");
  spec_ = arg[0];
  options_.clear();
  ghost_ = Ghost::gather;
  for (int k = 1; k < narg; k += 2) {
    if (k + 1 >= narg) fail(std::string("keyword '") + arg[k] + "' needs a value");
    const std::string key = arg[k], val = arg[k + 1];
    if (key == "options") options_ = val;
    else if (key == "ghost") {
      if (val == "gather") ghost_ = Ghost::gather;
      else if (val == "shell") ghost_ = Ghost::shell;
      else fail("ghost must be gather or shell, got '" + val + "'");
    } else fail("unknown keyword '" + key + "' (known: options, ghost)");
  }
  nernst_potential_destroy(pot_);
  pot_ = nullptr;
  if (nernst_potential_create(spec_.c_str(), options_.c_str(), &pot_) != NERNST_OK)
    fail("cannot load '" + spec_ + "': " + nernst_create_error());
  if (ghost_ == Ghost::shell && nernst_potential_ghost_cutoff(pot_) <= 0.0)
    fail(std::string("ghost shell is not available for a ") + nernst_potential_kind(pot_) + " potential; use ghost gather");
  no_virial_fdotr_compute = ghost_ == Ghost::shell ? 0 : 1;
}

/// pair_coeff * * El1 El2 ... (one element symbol per LAMMPS type)
void PairNernst::coeff(int narg, char** arg) {
  if (!allocated) allocate();
  const int n = atom->ntypes;
  if (narg != 2 + n || std::strcmp(arg[0], "*") != 0 || std::strcmp(arg[1], "*") != 0)
    fail("expected: pair_coeff * * followed by one element symbol for each of the " + std::to_string(n) + " atom types");
  z_of_type_.assign(static_cast<std::size_t>(n + 1), 0);
  for (int t = 1; t <= n; ++t) {
    const int z = nernst::try_atomic_number(arg[1 + t]);
    if (z == 0) fail(std::string("unknown element '") + arg[1 + t] + "' for type " + std::to_string(t));
    if (!nernst_potential_supports_element(pot_, z))
      fail(std::string("element ") + arg[1 + t] + " is not supported by model '" + spec_ + "'");
    z_of_type_[static_cast<std::size_t>(t)] = z;
  }
  for (int i = 1; i <= n; ++i)
    for (int j = i; j <= n; ++j) setflag[i][j] = 1;
}

void PairNernst::init_style() {
  if (std::strcmp(update->unit_style, "metal") != 0)
    fail(std::string("needs units metal (eV, Å, ps), not ") + update->unit_style);
  if (atom->tag_enable == 0) fail("needs atom IDs");
  if (ghost_ == Ghost::shell && force->newton_pair == 0)
    fail("ghost shell needs newton on (forces on ghost atoms are summed into their owners)");
  if (ghost_ == Ghost::gather && atom->natoms > 2000000000LL) fail("ghost gather supports at most 2e9 atoms");
  if (domain->dimension != 3 || !domain->xperiodic || !domain->yperiodic || !domain->zperiodic) {
    if (ghost_ == Ghost::gather) fail("ghost gather needs a fully periodic 3d box; use ghost shell");
  }
  // No neighbour list request: the C API builds its own graph over the atoms it is given.
}

/// The communication cutoff: ghosts are needed only by the shell strategy.
double PairNernst::init_one(int, int) {
  return ghost_ == Ghost::shell ? nernst_potential_ghost_cutoff(pot_) : nernst_potential_cutoff(pot_);
}

void PairNernst::compute(int eflag, int vflag) {
  ev_init(eflag, vflag);
  if (vflag_atom) fail("per-atom virials are not available");
  if (ghost_ == Ghost::shell) compute_shell();
  else compute_gather();
}

void PairNernst::compute_gather() {
  const int nlocal = atom->nlocal, nprocs = comm->nprocs, me = comm->me;
  double** x = atom->x;
  double** f = atom->f;
  const int* type = atom->type;
  const tagint* tag = atom->tag;

  // Owned atoms of every rank, as (tag, Z, x - boxlo).
  counts_.assign(static_cast<std::size_t>(nprocs), 0);
  MPI_Allgather(const_cast<int*>(&nlocal), 1, MPI_INT, counts_.data(), 1, MPI_INT, world);
  displs_.assign(static_cast<std::size_t>(nprocs), 0);
  for (int p = 1; p < nprocs; ++p) displs_[static_cast<std::size_t>(p)] = displs_[static_cast<std::size_t>(p - 1)] + counts_[static_cast<std::size_t>(p - 1)];
  const int n = displs_.back() + counts_.back();
  std::vector<int> my_tag(static_cast<std::size_t>(nlocal)), my_z(static_cast<std::size_t>(nlocal));
  std::vector<double> my_x(3 * static_cast<std::size_t>(nlocal));
  for (int i = 0; i < nlocal; ++i) {
    my_tag[static_cast<std::size_t>(i)] = static_cast<int>(tag[i]);
    my_z[static_cast<std::size_t>(i)] = z_of_type_[static_cast<std::size_t>(type[i])];
    for (int k = 0; k < 3; ++k) my_x[3 * static_cast<std::size_t>(i) + static_cast<std::size_t>(k)] = x[i][k] - domain->boxlo[k];
  }
  tags_.resize(static_cast<std::size_t>(n));
  z_.resize(static_cast<std::size_t>(n));
  std::vector<double> xall(3 * static_cast<std::size_t>(n));
  MPI_Allgatherv(my_tag.data(), nlocal, MPI_INT, tags_.data(), counts_.data(), displs_.data(), MPI_INT, world);
  MPI_Allgatherv(my_z.data(), nlocal, MPI_INT, z_.data(), counts_.data(), displs_.data(), MPI_INT, world);
  std::vector<int> c3(counts_), d3(displs_);
  for (auto& v : c3) v *= 3;
  for (auto& v : d3) v *= 3;
  MPI_Allgatherv(my_x.data(), 3 * nlocal, MPI_DOUBLE, xall.data(), c3.data(), d3.data(), MPI_DOUBLE, world);

  // Tag order: the result does not depend on the decomposition or on LAMMPS' atom sorting.
  order_.resize(static_cast<std::size_t>(n));
  std::iota(order_.begin(), order_.end(), 0);
  std::sort(order_.begin(), order_.end(), [&](int a, int b) { return tags_[static_cast<std::size_t>(a)] < tags_[static_cast<std::size_t>(b)]; });
  std::vector<int> zs(static_cast<std::size_t>(n));
  x_.resize(3 * static_cast<std::size_t>(n));
  for (int s = 0; s < n; ++s) {
    const auto o = static_cast<std::size_t>(order_[static_cast<std::size_t>(s)]);
    zs[static_cast<std::size_t>(s)] = z_[o];
    for (int k = 0; k < 3; ++k) x_[3 * static_cast<std::size_t>(s) + static_cast<std::size_t>(k)] = xall[3 * o + static_cast<std::size_t>(k)];
  }
  // LAMMPS' restricted triclinic cell, rows a, b, c.
  const double* h = domain->h;  // xprd yprd zprd yz xz xy
  const double cell[9] = {h[0], 0.0, 0.0, h[5], h[1], 0.0, h[4], h[3], h[2]};

  // Rank 0 evaluates; the others receive energy, virial and forces.
  f_.assign(3 * static_cast<std::size_t>(n), 0.0);
  e_atom_.assign(static_cast<std::size_t>(n), 0.0);
  double ev[11] = {0};  // status, energy, virial W (xx xy xz yx yy yz zx zy zz)
  if (me == 0) {
    const nernst_status st = nernst_compute(pot_, n, zs.data(), x_.data(), cell, nullptr, &ev[1], f_.data(), nullptr,
                                            vflag_global ? &ev[1 + 1] : nullptr, eflag_atom ? e_atom_.data() : nullptr);
    ev[0] = st == NERNST_OK ? 0.0 : 1.0;
    if (st != NERNST_OK) error->one(FLERR, std::string("pair_style nernst: ") + nernst_potential_last_error(pot_));
  }
  MPI_Bcast(ev, 11, MPI_DOUBLE, 0, world);
  MPI_Bcast(f_.data(), 3 * n, MPI_DOUBLE, 0, world);
  if (eflag_atom) MPI_Bcast(e_atom_.data(), n, MPI_DOUBLE, 0, world);

  // Position in tag order of each owned atom: this rank's block of the gathered arrays.
  std::vector<int> rank_of(static_cast<std::size_t>(n));
  for (int s = 0; s < n; ++s) rank_of[static_cast<std::size_t>(order_[static_cast<std::size_t>(s)])] = s;
  const int base = displs_[static_cast<std::size_t>(me)];
  for (int i = 0; i < nlocal; ++i) {
    const auto s = static_cast<std::size_t>(rank_of[static_cast<std::size_t>(base + i)]);
    for (int k = 0; k < 3; ++k) f[i][k] += f_[3 * s + static_cast<std::size_t>(k)];
    if (eflag_atom) eatom[i] += e_atom_[s];
  }
  if (me == 0) {
    if (eflag_global) eng_vdwl += ev[1];
    if (vflag_global) {
      const double* W = ev + 2;  // row-major 3x3
      virial[0] += W[0];
      virial[1] += W[4];
      virial[2] += W[8];
      virial[3] += W[1];  // xy
      virial[4] += W[2];  // xz
      virial[5] += W[5];  // yz
    }
  }
}

void PairNernst::compute_shell() {
  const int nlocal = atom->nlocal, nall = atom->nlocal + atom->nghost;
  double** x = atom->x;
  double** f = atom->f;
  const int* type = atom->type;
  z_.resize(static_cast<std::size_t>(nall));
  x_.resize(3 * static_cast<std::size_t>(nall));
  for (int i = 0; i < nall; ++i) {
    z_[static_cast<std::size_t>(i)] = z_of_type_[static_cast<std::size_t>(type[i])];
    for (int k = 0; k < 3; ++k) x_[3 * static_cast<std::size_t>(i) + static_cast<std::size_t>(k)] = x[i][k];
  }
  f_.assign(3 * static_cast<std::size_t>(nall), 0.0);
  e_atom_.assign(static_cast<std::size_t>(nlocal), 0.0);
  double e = 0.0;
  if (nernst_compute_local(pot_, nall, nlocal, z_.data(), x_.data(), &e, f_.data(), nullptr,
                           eflag_atom ? e_atom_.data() : nullptr) != NERNST_OK)
    error->one(FLERR, std::string("pair_style nernst: ") + nernst_potential_last_error(pot_));
  for (int i = 0; i < nall; ++i)  // ghost forces are reverse-communicated to the owners (newton on)
    for (int k = 0; k < 3; ++k) f[i][k] += f_[3 * static_cast<std::size_t>(i) + static_cast<std::size_t>(k)];
  if (eflag_global) eng_vdwl += e + (comm->me == 0 ? nernst_potential_energy_offset(pot_) : 0.0);
  if (eflag_atom)
    for (int i = 0; i < nlocal; ++i) eatom[i] += e_atom_[static_cast<std::size_t>(i)];
  if (vflag_fdotr) virial_fdotr_compute();
}
