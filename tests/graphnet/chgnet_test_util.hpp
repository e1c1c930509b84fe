#pragma once
// Helpers for the CHGNet tests: checkpoints and reference files from ../shared.

#include "graphnet_test_util.hpp"

#include <nernst/core/elements.hpp>
#include <nernst/core/system.hpp>
#include <nernst/potential/graphnet/chgnet.hpp>

#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <memory>
#include <string>

namespace chgnet_test {

inline const char* kCheckpoints[] = {"chgnet_0.3.0_random_seed0", "chgnet_small_random_seed1"};
inline const char* kStructures[] = {"licl_rocksalt_prim",       "licl_conv8_rattled",
                                    "libr_prim_strained",       "liycl_triclinic_random10",
                                    "li_single_atom_small_cell", "li3ycl6_like_ordered20",
                                    "li3ycl6_like_2x2x2_rattled160", "cutoff_pairs_cluster"};

inline std::filesystem::path checkpoint_path(const std::string& name) {
  return nernst_test::shared_dir() / "models" / "chgnet-random" / (name + ".pth.tar");
}
inline std::filesystem::path ref_path(const std::string& ckpt, const std::string& structure) {
  return nernst_test::shared_dir() / "reference" / "chgnet" / ckpt / (structure + ".json");
}

using graphnet_test::read_json;

/// A System with the Cartesian positions exactly as stored (frac · lattice in float64, not wrapped).
inline nernst::System<> system_from(const nlohmann::json& s) {
  return nernst_test::system_from_json(s.at("lattice_A"), s.at("species"), s.at("cart_coords_A"));
}

/// Each checkpoint, loaded once per test binary.
inline const nernst::graphnet::CHGNetModel& model(const std::string& name) {
  static std::map<std::string, std::unique_ptr<nernst::graphnet::CHGNetModel>> cache;
  auto& m = cache[name];
  if (!m) m = std::make_unique<nernst::graphnet::CHGNetModel>(nernst::CHGNet::load(checkpoint_path(name).string()));
  return *m;
}

using graphnet_test::host_forces;

}  // namespace chgnet_test
