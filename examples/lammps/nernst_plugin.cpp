/// \file
/// \brief `plugin load libnernst_lammps_plugin.so` for LAMMPS built with the PLUGIN package
/// (LAMMPS >= 8Apr2021 with its full source tree: lammpsplugin.h and version.h). Built only when
/// those headers are found; Debian's liblammps-dev has neither, so there lmp_nernst is the route.

#include "lammpsplugin.h"
#include "version.h"

#include "pair_nernst.h"

extern "C" void lammpsplugin_init(void* lmp, void* handle, void* regfunc) {
  lammpsplugin_t plugin{};
  auto reg = reinterpret_cast<lammpsplugin_regfunc>(regfunc);
  plugin.version = LAMMPS_VERSION;
  plugin.style = "pair";
  plugin.name = "nernst";
  plugin.info = "nernst graph-network and pair potentials through the nernst C API";
  plugin.author = "nernst developers";
  plugin.creator.v1 = reinterpret_cast<lammpsplugin_factory1*>(&LAMMPS_NS::PairNernst::creator);
  plugin.handle = handle;
  (*reg)(&plugin, lmp);
}
