#pragma once
// Helpers for the M3GNet tests: reference files from ../shared as Systems.

#include "graphnet_test_util.hpp"

#include <nernst/core/elements.hpp>
#include <nernst/core/system.hpp>
#include <nernst/potential/graphnet/m3gnet.hpp>

#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <memory>
#include <string>

namespace m3gnet_test {

inline const char* kReferences[] = {"licl_rocksalt_prim",        "licl_conv8_rattled",
                                    "libr_rocksalt_prim",        "li_y_cl_triclinic_rattled",
                                    "li_single_atom_small_cell", "li3ycl6_ordered_40",
                                    "li3ycl6_supercell_180_rattled", "near_cutoff_cluster"};

inline std::filesystem::path model_dir() { return nernst_test::shared_dir() / "models" / "m3gnet-mp-2021.2.8-pes"; }
inline std::filesystem::path ref_dir() { return nernst_test::shared_dir() / "reference" / "m3gnet"; }

using graphnet_test::read_json;

/// A System with the Cartesian positions exactly as stored (not wrapped, no round trip).
inline nernst::System<> system_from(const nlohmann::json& s) {
  return nernst_test::system_from_json(s.at("lattice"), s.at("species"), s.at("positions"));
}

/// The model, loaded once per test binary.
inline const nernst::graphnet::M3GNetModel& model() {
  static std::unique_ptr<nernst::graphnet::M3GNetModel> m;
  if (!m) m = std::make_unique<nernst::graphnet::M3GNetModel>(nernst::M3GNet::load(model_dir().string()));
  return *m;
}

using graphnet_test::host_forces;

}  // namespace m3gnet_test
