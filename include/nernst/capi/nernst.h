/* nernst C API: embed nernst potentials in other codes (MD engines, ASE through ctypes, ...).
 *
 * This header is plain C (C89 + <stddef.h>); the implementation is the one compiled part of
 * nernst, the shared library `nernst_capi`. The C API is nernst's only stable ABI.
 *
 * Conventions
 *   - Handles are opaque; create with nernst_potential_create, free with nernst_potential_destroy.
 *   - No function throws or aborts: each returns a nernst_status, and the message of the last
 *     failure is nernst_potential_last_error(handle) (or nernst_create_error() for a failed create).
 *   - Units: positions and cell Å, energies eV, forces eV/Å, stress eV/Å^3, virial eV.
 *   - cell[9]: lattice vectors as rows (a = cell[0..2], b = cell[3..5], c = cell[6..8]).
 *   - numbers[n]: atomic numbers (Li = 3), not host-code type ids.
 *   - stress[6]: sigma = (1/V) dE/d(strain), ASE sign (positive = tensile), ASE/Voigt order
 *     xx yy zz yz xz xy.
 *   - virial[9]: W = -dE/d(strain) = -V sigma = sum_i r_i (x) f_i (positive = repulsive), row-major
 *     3x3. LAMMPS stores the same W as virial[6] in the order xx yy zz xy xz yz.
 *   - Any output pointer may be NULL: that quantity is then not computed.
 *
 * Thread safety: one handle must not be used by two threads at once; distinct handles may.
 */
#ifndef NERNST_CAPI_NERNST_H
#define NERNST_CAPI_NERNST_H

/** Version of this C interface; bumped on any incompatible change. */
#define NERNST_C_API_VERSION 1

#if defined(_WIN32)
#if defined(NERNST_CAPI_BUILDING)
#define NERNST_CAPI_EXPORT __declspec(dllexport)
#else
#define NERNST_CAPI_EXPORT __declspec(dllimport)
#endif
#else
#define NERNST_CAPI_EXPORT __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque potential handle. */
typedef struct nernst_potential nernst_potential;

/** Return codes. */
typedef enum nernst_status {
  NERNST_OK = 0,
  NERNST_ERROR_INVALID_ARGUMENT = 1, /**< bad argument (NULL handle, n < 0, unknown element, ...) */
  NERNST_ERROR_IO = 2,               /**< model file missing or unreadable */
  NERNST_ERROR_PARSE = 3,            /**< model file malformed */
  NERNST_ERROR_NOT_SUPPORTED = 4,    /**< the potential cannot do what was asked */
  NERNST_ERROR_RUNTIME = 5           /**< any other failure */
} nernst_status;

/** NERNST_C_API_VERSION of the library actually loaded (compare with the header's). */
NERNST_CAPI_EXPORT int nernst_api_version(void);
/** nernst version string, e.g. "0.1.0 (abc1234)". */
NERNST_CAPI_EXPORT const char* nernst_version(void);
/** Short name of a status code ("ok", "invalid argument", ...). */
NERNST_CAPI_EXPORT const char* nernst_status_string(nernst_status status);

/** Creates a potential from a spec:
 *    - a matgl model directory (model.json + state.pt)  -> M3GNet or TensorNet (by the class
 *      its model.json names; another class is refused with NERNST_ERROR_NOT_SUPPORTED)
 *    - a file ending in .model (mace-torch's whole-module file, what training writes and
 *      mace_mp() loads)                                 -> MACE
 *    - a file ending in .pth.tar                         -> CHGNet
 *    - "lj:epsilon=E,sigma=S,cutoff=RC[,shift=1|0]"      -> Lennard-Jones (eV, Å; shifted by default)
 *  `options` (may be NULL or ""): comma-separated key=value pairs:
 *    - threebody=matgl|smooth (M3GNet; default matgl, which reproduces matgl bit for bit but
 *      is not local: nernst_compute_local needs smooth)
 *    - precision=double|float (graph networks; default double)
 *  On success *out is a new handle. On failure *out is NULL and nernst_create_error() says why. */
NERNST_CAPI_EXPORT nernst_status nernst_potential_create(const char* spec, const char* options,
                                                         nernst_potential** out);
/** Message of the last failed nernst_potential_create on this thread ("" if none). */
NERNST_CAPI_EXPORT const char* nernst_create_error(void);
/** Frees a handle (NULL is fine). */
NERNST_CAPI_EXPORT void nernst_potential_destroy(nernst_potential* pot);
/** Message of the last failed call on this handle ("" if the last call succeeded). The pointer
 *  stays valid until the next call on the handle. */
NERNST_CAPI_EXPORT const char* nernst_potential_last_error(const nernst_potential* pot);

/** "m3gnet", "tensornet", "mace", "chgnet" or "lj". */
NERNST_CAPI_EXPORT const char* nernst_potential_kind(const nernst_potential* pot);
/** Interaction (graph) cutoff, Å. */
NERNST_CAPI_EXPORT double nernst_potential_cutoff(const nernst_potential* pot);
/** Range of influence, Å: the energy of an atom depends on atoms up to this distance. A host that
 *  evaluates owned atoms with nernst_compute_local must supply ghosts to at least this distance
 *  (M3GNet: nblocks x cutoff = 15 Å for the MP-2021 model; TensorNet: (nblocks + 1) x cutoff
 *  = 15 Å for the MatPES models; MACE: num_interactions x r_max = 12 Å for MACE-MP-0). 0 when
 *  the potential cannot be evaluated locally. */
NERNST_CAPI_EXPORT double nernst_potential_ghost_cutoff(const nernst_potential* pot);
/** 1 if the atomic number is supported by the model, else 0. */
NERNST_CAPI_EXPORT int nernst_potential_supports_element(const nernst_potential* pot, int z);
/** Per-structure energy constant (eV) that nernst_compute_local leaves out (a model's data
 *  mean): a host doing domain decomposition adds it once (e.g. on rank 0). */
NERNST_CAPI_EXPORT double nernst_potential_energy_offset(const nernst_potential* pot);

/** Periodic evaluation of n atoms in `cell`. `pbc` (3 ints, NULL = all periodic) must be all
 *  periodic; use nernst_compute_local for open boundaries. Outputs (each may be NULL):
 *  energy (1), forces (3n), stress (6), virial (9), atom_energies (n). */
NERNST_CAPI_EXPORT nernst_status nernst_compute(nernst_potential* pot, int n, const int* numbers,
                                                const double* positions, const double* cell, const int* pbc,
                                                double* energy, double* forces, double* stress,
                                                double* virial, double* atom_energies);

/** As nernst_compute, but on a neighbour list supplied by the host: `n_edges` directed edges
 *  (both directions present) i -> j with lattice shift s, bond vector x_j + s . cell - x_i; every
 *  pair within the cutoff must be listed, pairs beyond it are ignored. Graph networks only. */
NERNST_CAPI_EXPORT nernst_status nernst_compute_neighbors(nernst_potential* pot, int n, const int* numbers,
                                                          const double* positions, const double* cell,
                                                          int n_edges, const int* edge_i, const int* edge_j,
                                                          const int* edge_shift, double* energy, double* forces,
                                                          double* stress, double* virial, double* atom_energies);

/** Open-boundary evaluation for domain decomposition. Atoms 0..n_owned-1 are owned, atoms
 *  n_owned..n_all-1 are ghosts (periodic images or other ranks' atoms, as plain coordinates).
 *  energy = sum of the owned atoms' energies (without nernst_potential_energy_offset);
 *  forces (3 n_all) = -d energy / d x for every atom, ghosts included (the host adds ghost forces
 *  to their owners, as LAMMPS does with newton on); virial (9) = sum over all n_all atoms of
 *  x_i (x) f_i; atom_energies (n_owned). Exact when ghosts reach nernst_potential_ghost_cutoff
 *  beyond every owned atom. With n_owned == n_all this evaluates an isolated cluster. */
NERNST_CAPI_EXPORT nernst_status nernst_compute_local(nernst_potential* pot, int n_all, int n_owned,
                                                      const int* numbers, const double* positions, double* energy,
                                                      double* forces, double* virial, double* atom_energies);

#ifdef __cplusplus
}
#endif

#endif /* NERNST_CAPI_NERNST_H */
