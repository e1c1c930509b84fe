#pragma once
// Helpers for the MACE tests: the random-weight models of shared/models/mace-random, their
// reference outputs (shared/reference/mace), loaded once per test binary.

#include "mace_test_support.hpp"

#include <nernst/potential/graphnet/mace/mace_reader.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace mace_test {

namespace gm = nernst::graphnet::mace;

inline const std::vector<std::string>& model_names() {
  static const std::vector<std::string> names{"mace-small-random", "mace-small-nonresfirst-random", "mace-mp0a-medium-random"};
  return names;
}
inline std::filesystem::path model_dir() { return nernst_test::mace_models_dir(); }
inline std::string model_file(const std::string& name) { return (model_dir() / (name + ".model")).string(); }
inline std::string model_json(const std::string& name) { return (model_dir() / (name + ".json")).string(); }
inline std::filesystem::path reference_dir(const std::string& name) { return nernst_test::shared_dir() / "reference" / "mace" / name; }

/// The reference structures present for a model (file stems, sorted).
inline std::vector<std::string> reference_structures(const std::string& name) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(reference_dir(name)))
    if (e.path().extension() == ".json") out.push_back(e.path().stem().string());
  std::sort(out.begin(), out.end());
  return out;
}

/// A model read from its `.model` file, once per binary.
inline const gm::MACESource& source(const std::string& name) {
  static std::map<std::string, std::unique_ptr<gm::MACESource>> cache;
  auto& s = cache[name];
  if (!s) s = std::make_unique<gm::MACESource>(gm::read_mace_model_file(model_file(name)));
  return *s;
}
inline const gm::MACEModel<double>& model64(const std::string& name) {
  static std::map<std::string, std::unique_ptr<gm::MACEModel<double>>> cache;
  auto& m = cache[name];
  if (!m) m = std::make_unique<gm::MACEModel<double>>(gm::make_mace_model<double>(source(name)));
  return *m;
}

/// Largest |a - b| / max(|b|max, tiny) over two equally shaped arrays (relative to the reference's scale).
template <class A>
double max_rel_diff(const A& got, const std::vector<double>& ref) {
  REQUIRE(static_cast<std::size_t>(got.size()) == ref.size());
  double scale = 0, d = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    scale = std::max(scale, std::abs(ref[i]));
    d = std::max(d, std::abs(static_cast<double>(got[static_cast<Eigen::Index>(i)]) - ref[i]));
  }
  return d / std::max(scale, 1e-300);
}

/// Flattens a JSON array of arrays of numbers.
inline std::vector<double> flat(const nlohmann::json& j) {
  std::vector<double> out;
  if (j.is_number()) return {j.get<double>()};
  for (const auto& x : j) {
    auto v = flat(x);
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

}  // namespace mace_test

#include <nernst/core/elements.hpp>
#include <nernst/potential/graphnet/mace/mace_forward.hpp>

namespace mace_test {

/// A reference structure: positions (as given), lattice rows, atomic numbers.
struct Structure {
  std::vector<std::array<double, 3>> x;
  Eigen::Matrix3d lattice;
  std::vector<int> z;
};

inline Structure structure_of(const nlohmann::json& ref) {
  const auto& s = ref.at("structure");
  Structure st;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) st.lattice(i, j) = s.at("lattice")[i][j].get<double>();
  for (const auto& p : s.at("positions")) st.x.push_back({p[0].get<double>(), p[1].get<double>(), p[2].get<double>()});
  for (const auto& sym : s.at("species")) st.z.push_back(nernst::atomic_number(sym.get<std::string>()));
  return st;
}

inline nlohmann::json reference(const std::string& model, const std::string& structure) {
  return nernst_test::read_json(nernst_test::mace_reference_file(model, structure));
}

/// The reference's own edge list as a MACEGraph (mace's edge order), geometry recomputed here.
inline gm::MACEGraph reference_graph(const nlohmann::json& ref, const Structure& st) {
  const auto& e = ref.at("graph").at("edges");
  gm::MACEGraph g;
  for (std::size_t k = 0; k < e.at("sender").size(); ++k) {
    const auto& S = e.at("unit_shift")[k];
    const bool added = g.add_within(e.at("sender")[k].get<int>(), e.at("receiver")[k].get<int>(),
                                    {S[0].get<int>(), S[1].get<int>(), S[2].get<int>()}, st.x, st.lattice, 1e300);
    REQUIRE(added);
  }
  return g;
}

}  // namespace mace_test
