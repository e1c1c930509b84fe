#pragma once
// What `--model` names: the bundled default graph network, the bundled rigid-ion toy potential, a
// matgl model directory (M3GNet or TensorNet, recognised by its model.json) or a CHGNet
// checkpoint file.

#include <nernst/core/error.hpp>
#include <nernst/potential/graphnet/chgnet.hpp>
#include <nernst/potential/graphnet/m3gnet.hpp>
#include <nernst/potential/graphnet/tensornet.hpp>
#include <nernst/potential/rigid_ion.hpp>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#if defined(__linux__)
#include <unistd.h>
#endif

namespace nernst::cli {

/// The model `--model` falls back to (docs/models.md explains the choice with measurements).
inline constexpr const char* kDefaultModel = "m3gnet-matpes-r2scan-v2025.1-pes";

enum class ModelKind { rigid_ion, m3gnet, chgnet, tensornet };

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
/// directory (its model.json must name an architecture nernst implements: M3GNet or TensorNet)
/// or a CHGNet checkpoint file.
inline ModelChoice resolve_model(const std::string& spec) {
  namespace fs = std::filesystem;
  ModelChoice c;
  if (spec == "rigid-ion") {
    c.kind = ModelKind::rigid_ion;
    c.name = "rigid-ion (Tosi-Fumi Li-Cl + formal charges, bundled)";
    return c;
  }
  const fs::path p = (spec.empty() || spec == "default") ? bundled_model(kDefaultModel) : fs::path(spec);
  if (!fs::exists(p)) throw IOError("model '" + spec + "' does not exist (a matgl model directory, a CHGNet .pth.tar, "
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
                         " model; nernst runs matgl's M3GNet and TensorNet (directories) and CHGNet (.pth.tar "
                         "checkpoints)");
    c.kind = ModelKind::m3gnet;
    c.name = "M3GNet " + base.filename().string();
    return c;
  }
  c.kind = ModelKind::chgnet;
  c.name = "CHGNet " + base.filename().string();
  return c;
}

/// Calls f(potential) with the potential `c` names, in `precision` ("float" or "double") for the
/// graph networks (the rigid-ion potential is always double) and the M3GNet three-body `mode`
/// (TensorNet has no three-body part and ignores it); returns what f returns (the same type for
/// every potential).
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
    case ModelKind::chgnet: {
      const auto model = CHGNet::load(c.path);
      if (fp32) {
        Potential<GraphNet<CHGNet>, float> pot(model);
        return f(pot);
      }
      Potential<GraphNet<CHGNet>, double> pot(model);
      return f(pot);
    }
    case ModelKind::tensornet: {
      const auto model = TensorNet::load(c.path);
      if (fp32) {
        Potential<GraphNet<TensorNet>, float> pot(model);
        return f(pot);
      }
      Potential<GraphNet<TensorNet>, double> pot(model);
      return f(pot);
    }
    default: {
      const auto model = M3GNet::load(c.path);
      if (fp32) {
        Potential<GraphNet<M3GNet>, float> pot(model, mode);
        return f(pot);
      }
      Potential<GraphNet<M3GNet>, double> pot(model, mode);
      return f(pot);
    }
  }
}

}  // namespace nernst::cli
