#pragma once
/// \file
/// \brief Reading a mace-torch model: (a) `state_dict.pt` + the model's JSON description, or
/// (b) the `.model` file users have (the whole `ScaleShiftMACE` module pickled by torch.save).
///
/// Both give a MACESource: the configuration and the tensors under their state_dict names. For (b)
/// the module tree is walked (`_parameters`, `_buffers`, `_modules` of every module) and the
/// hyper-parameters are read from the modules' attributes; e3nn keeps the Wigner 3j constants of
/// its compiled tensor products inside a TorchScript archive pickled as bytes (`__codegen__`),
/// which is opened in memory so that its buffers get their state_dict names too
/// (`interactions.1.conv_tp._compiled_main_left_right._w3j_1_2_1`). Anything outside the supported
/// configuration, or missing, is an error naming the file and the item.

#include <nernst/core/error.hpp>
#include <nernst/io/checkpoint/torch_load.hpp>
#include <nernst/potential/graphnet/mace/mace_config.hpp>
#include <nernst/potential/graphnet/mace/mace_weights.hpp>

#include <nlohmann/json.hpp>

#include <fstream>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {
namespace mace {

/// A model as read from disk: configuration and tensors (state_dict names, float64 master copy).
struct MACESource {
  MACEConfig config;
  io::StateDict tensors;
  std::string file;  ///< what it was read from (for messages)
};

/// A model ready for evaluation in precision Scalar.
template <class Scalar>
struct MACEModel {
  MACEConfig config;
  MACEWeights<Scalar> weights;

  /// Builds the product-basis tensors of the given element indices (once per element; memory
  /// grows with the number of distinct elements used, so only those present are built). Must
  /// precede any evaluation of a structure with these elements; not thread-safe.
  void prepare_elements(const std::vector<int>& element) {
    for (auto& p : weights.products)
      for (int z : element) p.contraction.prepare(z);
  }
};

namespace detail {

/// A pickled torch.nn.Module: its class and its `__dict__` (BUILD state), with errors that name
/// the file and the module path.
struct PickledModule {
  const io::PickleValue* value = nullptr;
  std::string path;  ///< "interactions.0.linear_up"; empty for the top module
  std::string file;

  [[noreturn]] void fail(const std::string& what) const {
    throw ParseError(file, 0, "MACE model: " + (path.empty() ? std::string("top module") : "module '" + path + "'") + ": " + what);
  }
  std::string class_name() const { return value->as_opaque().name; }
  const io::PickleValue& state() const {
    if (!value->is_opaque() || value->as_opaque().state.empty() || !value->as_opaque().state[0].is_dict())
      fail("is not a pickled torch.nn.Module");
    return value->as_opaque().state[0];
  }
  bool is_module() const {
    return value->is_opaque() && !value->as_opaque().state.empty() && value->as_opaque().state[0].is_dict() &&
           value->as_opaque().state[0].contains("_modules");
  }
  const io::PickleValue& attr(const std::string& name) const {
    const io::PickleValue* p = state().find(name);
    if (!p) fail("has no attribute '" + name + "'");
    return *p;
  }
  const io::PickleValue* find_attr(const std::string& name) const { return state().find(name); }
  bool has_child(const std::string& name) const {
    const io::PickleValue* m = state().find("_modules");
    return m && m->find(name) && !m->find(name)->is_none();
  }
  PickledModule child(const std::string& name) const {
    const io::PickleValue* m = state().find("_modules");
    const io::PickleValue* c = m ? m->find(name) : nullptr;
    if (!c || c->is_none()) fail("has no submodule '" + name + "'");
    return {c, path.empty() ? name : path + "." + name, file};
  }
  PickledModule child(int index) const { return child(std::to_string(index)); }
  /// A parameter or buffer.
  const io::Tensor& tensor(const std::string& name) const {
    for (const char* where : {"_parameters", "_buffers"})
      if (const io::PickleValue* d = state().find(where))
        if (const io::PickleValue* t = d->find(name); t && t->is_tensor()) return t->as_tensor();
    fail("has no parameter or buffer '" + name + "'");
  }
  double scalar(const std::string& name) const {
    const io::Tensor& t = tensor(name);
    if (t.numel() != 1) fail("'" + name + "' is not a scalar");
    return t.is_floating() ? t.values[0] : static_cast<double>(t.int_values[0]);
  }
};

/// e3nn `Irreps` pickled as Irreps((_MulIr((mul, Irrep((l, p)))), ...)).
inline Irreps irreps_of(const io::PickleValue& v, const PickledModule& where, const std::string& what) {
  try {
    Irreps r;
    for (const auto& mi : v.as_opaque().args.at(0).items()) {
      const auto& pair = mi.as_opaque().args.at(0);
      const auto& lp = pair[1].as_opaque().args.at(0);
      r.items.push_back({static_cast<int>(pair[0].as_int()), {static_cast<int>(lp[0].as_int()), static_cast<int>(lp[1].as_int())}});
    }
    return r;
  } catch (const std::exception& e) {
    where.fail("attribute '" + what + "' is not an e3nn Irreps (" + e.what() + ")");
  }
}

/// Adds the parameters and buffers of `m` and of all its submodules to `out` under their
/// state_dict names, and the buffers of e3nn's compiled code (`__codegen__`).
inline void flatten_module(const PickledModule& m, io::StateDict& out) {
  const std::string prefix = m.path.empty() ? "" : m.path + ".";
  for (const char* where : {"_parameters", "_buffers"})
    if (const io::PickleValue* d = m.state().find(where); d && d->is_dict())
      for (const auto& kv : d->as_dict().items)
        if (kv.first.is_string() && kv.second.is_tensor()) out[prefix + kv.first.as_string()] = kv.second.as_tensor();
  if (const io::PickleValue* cg = m.state().find("__codegen__"); cg && cg->is_dict())
    for (const auto& kv : cg->as_dict().items) {
      if (!kv.first.is_string() || !kv.second.is_bytes()) continue;
      const std::string name = prefix + kv.first.as_string();
      const io::PickleValue code = io::load_torch_bytes(kv.second.as_bytes(), m.file + " [" + name + "]");
      if (!code.is_opaque() || code.as_opaque().state.empty() || !code.as_opaque().state[0].is_dict()) continue;
      for (const auto& a : code.as_opaque().state[0].as_dict().items)
        if (a.first.is_string() && a.second.is_tensor()) out[name + "." + a.first.as_string()] = a.second.as_tensor();
    }
  if (const io::PickleValue* mods = m.state().find("_modules"); mods && mods->is_dict())
    for (const auto& kv : mods->as_dict().items) {
      if (!kv.first.is_string() || kv.second.is_none()) continue;
      const PickledModule c{&kv.second, prefix + kv.first.as_string(), m.file};
      if (c.is_module()) flatten_module(c, out);
    }
}

inline InteractionKind interaction_kind(const std::string& cls, const std::string& file, const std::string& where) {
  if (cls == "RealAgnosticResidualInteractionBlock") return InteractionKind::Residual;
  if (cls == "RealAgnosticInteractionBlock") return InteractionKind::NonResidual;
  throw NotSupported(file + ": " + where + " is a " + cls +
                     "; only RealAgnosticResidualInteractionBlock and RealAgnosticInteractionBlock are implemented");
}

/// Per-element constants every source stores as tensors.
inline void read_element_tensors(const io::StateDict& sd, MACEConfig& c, const std::string& file) {
  const auto z = sd.find("atomic_numbers");
  if (z == sd.end() || z->second.is_floating()) throw ParseError(file, 0, "MACE model lacks the integer tensor 'atomic_numbers'");
  c.atomic_numbers.assign(z->second.int_values.begin(), z->second.int_values.end());
  c.e0 = sd_tensor(sd, "atomic_energies_fn.atomic_energies", file, static_cast<std::int64_t>(c.atomic_numbers.size())).values;
  c.scale = sd_tensor(sd, "scale_shift.scale", file, 1).values[0];
  c.shift = sd_tensor(sd, "scale_shift.shift", file, 1).values[0];
  c.r_max = sd_tensor(sd, "r_max", file, 1).values[0];
}

/// Hyper-parameters from the attributes of a pickled ScaleShiftMACE.
inline MACEConfig config_from_module(const PickledModule& top, const io::StateDict& sd) {
  const std::string& file = top.file;
  if (top.class_name() != "ScaleShiftMACE")
    throw NotSupported(file + ": the pickled model is a " + top.class_name() + "; only ScaleShiftMACE is implemented");
  for (const char* flag : {"use_reduced_cg", "use_so3", "use_agnostic_product", "use_last_readout_only", "lammps_mliap"})
    if (const io::PickleValue* v = top.find_attr(flag); v && v->is_bool() && v->as_bool())
      throw NotSupported(file + ": " + flag + "=True is not implemented");
  if (const io::PickleValue* v = top.find_attr("apply_cutoff"); v && v->is_bool() && !v->as_bool())
    throw NotSupported(file + ": apply_cutoff=False is not implemented");
  if (top.has_child("pair_repulsion_fn")) throw NotSupported(file + ": pair_repulsion (ZBL) is not implemented");
  if (const io::PickleValue* h = top.find_attr("heads"); h && h->is_sequence() && h->size() != 1)
    throw NotSupported(file + ": multi-head models are not implemented");
  MACEConfig c;
  read_element_tensors(sd, c, file);
  const PickledModule radial = top.child("radial_embedding");
  if (radial.has_child("distance_transform")) throw NotSupported(file + ": distance_transform is not implemented");
  if (radial.child("bessel_fn").class_name() != "BesselBasis")
    throw NotSupported(file + ": radial basis " + radial.child("bessel_fn").class_name() + " (only BesselBasis)");
  c.num_bessel = static_cast<int>(radial.child("bessel_fn").tensor("bessel_weights").numel());
  c.p = static_cast<int>(radial.child("cutoff_fn").scalar("p"));
  c.max_ell = static_cast<int>(top.child("spherical_harmonics").attr("_lmax").as_int());
  const PickledModule inter = top.child("interactions");
  const int T = static_cast<int>(top.scalar("num_interactions"));
  for (int t = 0; t < T; ++t) {
    const PickledModule b = inter.child(t);
    c.interactions.push_back(interaction_kind(b.class_name(), file, b.path));
  }
  const PickledModule i0 = inter.child(0);
  c.hidden_irreps = irreps_of(i0.attr("hidden_irreps"), i0, "hidden_irreps");
  c.avg_num_neighbors = i0.attr("avg_num_neighbors").as_double();
  c.radial_mlp.clear();
  for (const auto& w : i0.attr("radial_MLP").items()) c.radial_mlp.push_back(static_cast<int>(w.as_int()));
  c.act_constant = i0.child("conv_tp_weights").child("layer0").child("act").attr("cst").as_double();
  c.correlation = static_cast<int>(
      top.child("products").child(0).child("symmetric_contractions").child("contractions").child(0).attr("correlation").as_int());
  const PickledModule ro = top.child("readouts").child(T - 1).child("linear_1");
  c.mlp_irreps = irreps_of(ro.attr("irreps_out"), ro, "irreps_out");
  return c;
}

inline nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IOError("cannot open '" + path + "'");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw ParseError(path, 0, std::string("invalid JSON: ") + e.what());
  }
}

/// Hyper-parameters from the model JSON (`hyper_parameters`, `architecture.normalize2mom_constants`).
inline MACEConfig config_from_json(const nlohmann::json& j, const io::StateDict& sd, const std::string& json_path,
                                   const std::string& sd_path) {
  MACEConfig c;
  read_element_tensors(sd, c, sd_path);
  try {
    const auto& h = j.at("hyper_parameters");
    if (h.at("model").get<std::string>() != "ScaleShiftMACE")
      throw NotSupported(json_path + ": model " + h.at("model").get<std::string>() + " (only ScaleShiftMACE)");
    if (h.value("use_reduced_cg", false)) throw NotSupported(json_path + ": use_reduced_cg=True is not implemented");
    if (h.value("pair_repulsion", false)) throw NotSupported(json_path + ": pair_repulsion is not implemented");
    if (h.value("radial_type", std::string("bessel")) != "bessel") throw NotSupported(json_path + ": radial_type must be bessel");
    if (h.value("gate", std::string("silu")) != "silu") throw NotSupported(json_path + ": gate must be silu");
    c.num_bessel = h.at("num_bessel").get<int>();
    c.p = h.at("num_polynomial_cutoff").get<int>();
    c.max_ell = h.at("max_ell").get<int>();
    c.hidden_irreps = Irreps::parse(h.at("hidden_irreps").get<std::string>());
    c.correlation = h.at("correlation").get<int>();
    const int T = h.at("num_interactions").get<int>();
    for (int t = 0; t < T; ++t)
      c.interactions.push_back(interaction_kind(h.at(t == 0 ? "interaction_first" : "interaction").get<std::string>(), json_path,
                                                "interaction " + std::to_string(t)));
    c.mlp_irreps = Irreps::parse(h.at("MLP_irreps").get<std::string>());
    c.avg_num_neighbors = h.at("avg_num_neighbors").get<double>();
    c.radial_mlp = h.at("radial_MLP").get<std::vector<int>>();
    const auto& consts = j.at("architecture").at("normalize2mom_constants");
    if (consts.empty()) throw ParseError(json_path, 0, "architecture.normalize2mom_constants is empty");
    c.act_constant = consts.begin()->at("cst").get<double>();
    if (std::abs(h.at("r_max").get<double>() - c.r_max) > 0)
      throw ParseError(json_path, 0, "r_max differs from the state_dict's (" + std::to_string(c.r_max) + ")");
  } catch (const nlohmann::json::exception& e) {
    throw ParseError(json_path, 0, std::string("missing or malformed MACE hyper-parameters: ") + e.what());
  } catch (const ValueError& e) {
    throw ParseError(json_path, 0, e.what());
  }
  return c;
}

}  // namespace detail

/// Reads `state_dict.pt` and the model JSON describing it (hyper_parameters as in the shared models).
inline MACESource read_mace_state_dict(const std::string& state_dict_path, const std::string& json_path) {
  MACESource s;
  s.file = state_dict_path;
  s.tensors = io::load_state_dict(state_dict_path);
  s.config = detail::config_from_json(detail::read_json_file(json_path), s.tensors, json_path, state_dict_path);
  s.config.validate(json_path);
  return s;
}

/// Reads a `.model` file (a pickled ScaleShiftMACE).
inline MACESource read_mace_model_file(const std::string& path) {
  const io::PickleValue top = io::load_torch(path);
  if (!top.is_opaque()) throw ParseError(path, 0, "expected a pickled mace model, found a " + std::string(top.type_name()));
  const detail::PickledModule m{&top, "", path};
  MACESource s;
  s.file = path;
  detail::flatten_module(m, s.tensors);
  s.config = detail::config_from_module(m, s.tensors);
  s.config.validate(path);
  return s;
}

/// The model in precision Scalar, from a read source.
template <class Scalar>
MACEModel<Scalar> make_mace_model(const MACESource& s) {
  return {s.config, make_mace_weights<Scalar>(s.tensors, s.config, s.file)};
}

}  // namespace mace
}  // namespace graphnet
NERNST_NAMESPACE_END
