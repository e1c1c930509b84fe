#pragma once
// What `--model` names: the bundled default graph network, the bundled rigid-ion toy potential, a
// matgl model directory (M3GNet or TensorNet, recognised by its model.json) or a CHGNet
// checkpoint file.

#include <nernst/core/error.hpp>
#include <nernst/potential/graphnet/chgnet.hpp>
#include <nernst/potential/graphnet/mace.hpp>
#include <nernst/potential/graphnet/m3gnet.hpp>
#include <nernst/potential/graphnet/tensornet.hpp>
#include <nernst/potential/rigid_ion.hpp>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <type_traits>
#include <vector>

#if defined(__linux__)
#include <unistd.h>
#endif

namespace nernst::cli {

/// The model `--model` falls back to (docs/models.md explains the choice with measurements).
inline constexpr const char* kDefaultModel = "m3gnet-matpes-r2scan-v2025.1-pes";

enum class ModelKind { rigid_ion, m3gnet, chgnet, tensornet, mace };

struct ModelChoice {
  ModelKind kind = ModelKind::m3gnet;
  std::string path;  ///< model directory or checkpoint file (empty for rigid-ion)
  std::string name;  ///< for reports: "M3GNet <path>", "TensorNet <path>", ...
};

namespace detail_model {

inline std::filesystem::path executable_dir() {
#if defined(__linux__)
  std::vector<char> buf(4096);
  const auto n = ::readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  if (n > 0) return std::filesystem::path(std::string(buf.data(), static_cast<std::size_t>(n))).parent_path();
#endif
  return {};
}

/// Where the bundled models live: $NERNST_MODELS_DIR, then <prefix>/share/nernst/models beside
/// an installed driver, then the source tree's models/ (build tree).
inline std::vector<std::filesystem::path> model_search_path() {
  std::vector<std::filesystem::path> dirs;
  if (const char* env = std::getenv("NERNST_MODELS_DIR"); env && *env) dirs.emplace_back(env);
  if (const auto exe = executable_dir(); !exe.empty()) dirs.push_back(exe.parent_path() / "share" / "nernst" / "models");
#ifdef NERNST_SOURCE_MODELS_DIR
  dirs.emplace_back(NERNST_SOURCE_MODELS_DIR);
#endif
  return dirs;
}

/// The class of the network in a matgl model.json ("M3GNet", "TensorNet", ...).
inline std::string matgl_model_class(const std::filesystem::path& json) {
  std::ifstream in(json);
  if (!in) throw IOError("cannot open '" + json.string() + "'");
  try {
    const auto j = nlohmann::json::parse(in);
    return j.at("kwargs").at("model").value("@class", std::string("(unnamed)"));
  } catch (const nlohmann::json::exception& e) {
    throw ParseError(json.string(), 0, std::string("not a matgl model.json: ") + e.what());
  }
}

}  // namespace detail_model

/// Finds a bundled model by folder name; IOError listing the places searched when absent.
inline std::filesystem::path bundled_model(const std::string& name) {
  std::string tried;
  for (const auto& d : detail_model::model_search_path()) {
    if (std::filesystem::exists(d / name / "model.json")) return d / name;
    tried += "\n  " + (d / name).string();
  }
  throw IOError("the bundled model '" + name + "' was not found; looked in:" + tried +
                "\nset NERNST_MODELS_DIR to the folder holding it, or pass --model DIR");
}

/// Resolves a --model value: "" or "default" (the bundled default), "rigid-ion", a matgl model
/// directory (its model.json must name an architecture nernst implements: M3GNet or TensorNet),
/// a mace-torch `.model` file (MACE) or a CHGNet checkpoint file (any other file).
inline ModelChoice resolve_model(const std::string& spec) {
  namespace fs = std::filesystem;
  ModelChoice c;
  if (spec == "rigid-ion") {
    c.kind = ModelKind::rigid_ion;
    c.name = "rigid-ion (Tosi-Fumi Li-Cl + formal charges, bundled)";
    return c;
  }
  const fs::path p = (spec.empty() || spec == "default") ? bundled_model(kDefaultModel) : fs::path(spec);
  if (!fs::exists(p)) throw IOError("model '" + spec + "' does not exist (a matgl model directory, a CHGNet .pth.tar, a MACE .model, "
                                    "'default' or 'rigid-ion')");
  c.path = p.string();
  const fs::path base = p.filename().empty() ? p.parent_path() : p;  // "dir/" names dir
  if (fs::is_directory(p)) {
    if (!fs::exists(p / "model.json"))
      throw IOError("model directory '" + c.path + "' has no model.json (expected a matgl model directory)");
    const std::string cls = detail_model::matgl_model_class(p / "model.json");
    if (cls == "TensorNet") {
      c.kind = ModelKind::tensornet;
      c.name = "TensorNet " + base.filename().string();
      return c;
    }
    if (cls != "M3GNet")
      throw NotSupported("model directory '" + c.path + "' holds a matgl " + cls +
                         " model; nernst runs matgl's M3GNet and TensorNet (directories), CHGNet (.pth.tar "
                         "checkpoints) and MACE (.model files)");
    c.kind = ModelKind::m3gnet;
    c.name = "M3GNet " + base.filename().string();
    return c;
  }
  if (p.extension() == ".model") {  // what mace-torch's training writes and mace_mp() loads
    c.kind = ModelKind::mace;
    c.name = "MACE " + base.filename().string();
    return c;
  }
  c.kind = ModelKind::chgnet;
  c.name = "CHGNet " + base.filename().string();
  return c;
}

/// The potential of a graph-network model of architecture Arch (M3GNet in three-body `mode`; the
/// other architectures have no three-body part).
template <class Arch, class Scalar = double>
auto make_graphnet(const typename Arch::Model& m, graphnet::ThreeBodyMode mode = graphnet::ThreeBodyMode::matgl) {
  if constexpr (std::is_same_v<Arch, M3GNet>)
    return Potential<GraphNet<M3GNet>, Scalar>(m, mode);
  else
    return Potential<GraphNet<Arch>, Scalar>(m);
}

namespace detail_model {

/// f(potential) for the Arch model at `path`, in float or double.
template <class Arch, class F>
auto with_graphnet(const std::string& path, bool fp32, graphnet::ThreeBodyMode mode, F&& f) {
  const auto model = Arch::load(path);
  if (fp32) {
    auto pot = make_graphnet<Arch, float>(model, mode);
    return f(pot);
  }
  auto pot = make_graphnet<Arch, double>(model, mode);
  return f(pot);
}

}  // namespace detail_model

/// Calls f(potential) with the potential `c` names, in `precision` ("float" or "double") for the
/// graph networks (the rigid-ion potential is always double) and the M3GNet three-body `mode`
/// (TensorNet and CHGNet ignore it); returns what f returns (the same type for every potential).
template <class F>
auto with_potential(const ModelChoice& c, const std::string& precision, graphnet::ThreeBodyMode mode, F&& f) {
  if (precision != "float" && precision != "double")
    throw ValueError("precision must be float or double, got '" + precision + "'");
  const bool fp32 = precision == "float";
  switch (c.kind) {
    case ModelKind::rigid_ion: {
      auto pot = make_rigid_ion<>();
      return f(pot);
    }
    case ModelKind::chgnet:
      return detail_model::with_graphnet<CHGNet>(c.path, fp32, mode, f);
    case ModelKind::tensornet:
      return detail_model::with_graphnet<TensorNet>(c.path, fp32, mode, f);
    case ModelKind::mace:
      return detail_model::with_graphnet<MACE>(c.path, fp32, mode, f);
    default:
      return detail_model::with_graphnet<M3GNet>(c.path, fp32, mode, f);
  }
}

}  // namespace nernst::cli
