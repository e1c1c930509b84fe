#pragma once
/// \file
/// \brief M3GNet as a trainable model: flat parameter vector by state_dict name, predictions,
/// and exact parameter gradients of losses on energies, forces and stresses.
///
/// Second-order gradients by forward-over-reverse (docs/training.md): for one structure with
/// loss weights a = ∂L/∂E, u = ∂L/∂F and v = ∂L/∂σ,
///
///     dL/dθ = a ∂E/∂θ − ∂/∂θ Σ_i u_i·∂E/∂x_i + ∂/∂θ Σ_ab (v_ab/V) ∂E/∂ε_ab
///           = a ∂E/∂θ + ∂/∂θ D_t E,      geometry tangent t = (δx = −u, δε = v/V).
///
/// One forward pass in Dual<double> with the bond vectors' tangents seeded from t, then the
/// reverse pass to the parameters in Dual<double>: the value of each parameter gradient is
/// ∂E/∂θ, its tangent is ∂(D_t E)/∂θ. Both passes are the inference code (M3GNetEvaluator)
/// instantiated with the dual scalar.

#include <nernst/core/error.hpp>
#include <nernst/io/checkpoint/torch_load.hpp>
#include <nernst/io/checkpoint/torch_save.hpp>
#include <nernst/nn/dual.hpp>
#include <nernst/potential/graphnet/graph.hpp>
#include <nernst/potential/graphnet/m3gnet.hpp>
#include <nernst/potential/graphnet/m3gnet_evaluator.hpp>
#include <nernst/potential/graphnet/m3gnet_model.hpp>
#include <nernst/train/dataset.hpp>

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace train {

/// Model outputs for one structure (eV, eV/Å, eV/Å³ ASE sign).
struct Prediction {
  double energy = 0;
  std::vector<std::array<double, 3>> forces;
  Eigen::Matrix3d stress = Eigen::Matrix3d::Zero();
};

/// One learnable tensor in the flat parameter vector.
struct ParameterInfo {
  std::string name;                  ///< state_dict key
  std::vector<std::int64_t> shape;
  std::size_t offset = 0, size = 0;  ///< position in the flat vector
};

class M3GNetTrainable {
 public:
  using Dual = nn::Dual<double>;
  static constexpr const char* atomref_name = "element_refs.property_offset";

  explicit M3GNetTrainable(graphnet::M3GNetModel model, graphnet::ThreeBodyMode mode = graphnet::ThreeBodyMode::matgl)
      : model_(std::move(model)), eval_(model_, mode), deval_(model_, mode) {
    deval_.set_training(true);
    std::size_t off = 0;
    graphnet::visit_m3gnet_parameters(model_.weights, [&](const std::string& n, double*, std::vector<std::int64_t> shape) {
      std::size_t sz = 1;
      for (auto s : shape) sz *= static_cast<std::size_t>(s);
      params_.push_back({n, std::move(shape), off, sz});
      off += sz;
    });
    const std::size_t nt = model_.config.element_types.size();
    params_.push_back({atomref_name, {static_cast<std::int64_t>(nt)}, off, nt});
    nparams_ = off + nt;
    gradD_ = graphnet::zero_m3gnet_gradients<Dual>(model_.weights);
  }

  const graphnet::M3GNetModel& model() const { return model_; }
  const std::vector<ParameterInfo>& parameters() const { return params_; }
  std::size_t num_parameters() const { return nparams_; }
  double cutoff() const { return model_.config.cutoff; }

  /// All parameters as one flat vector (the order of parameters()).
  std::vector<double> get_parameters() {
    std::vector<double> p(nparams_);
    std::size_t k = 0;
    graphnet::visit_m3gnet_parameters(model_.weights, [&](const std::string&, double* d, const std::vector<std::int64_t>&) {
      const auto& info = params_[k++];
      std::copy(d, d + info.size, p.begin() + static_cast<std::ptrdiff_t>(info.offset));
    });
    std::copy(model_.config.element_refs.begin(), model_.config.element_refs.end(),
              p.begin() + static_cast<std::ptrdiff_t>(params_.back().offset));
    return p;
  }

  /// Writes the flat vector into the model and both evaluators.
  void set_parameters(const std::vector<double>& p) {
    if (p.size() != nparams_) throw ValueError("M3GNetTrainable: parameter vector of the wrong length");
    std::size_t k = 0;
    graphnet::visit_m3gnet_parameters(model_.weights, [&](const std::string&, double* d, const std::vector<std::int64_t>&) {
      const auto& info = params_[k++];
      std::copy(p.begin() + static_cast<std::ptrdiff_t>(info.offset),
                p.begin() + static_cast<std::ptrdiff_t>(info.offset + info.size), d);
    });
    graphnet::sync_m3gnet_weights(model_.weights);
    const auto& ar = params_.back();
    model_.config.element_refs.assign(p.begin() + static_cast<std::ptrdiff_t>(ar.offset),
                                      p.begin() + static_cast<std::ptrdiff_t>(ar.offset + ar.size));
    eval_.set_model(model_);
    deval_.set_model(model_);
  }

  /// Model types of a sample's atoms (throws for an element the model lacks).
  std::vector<int> types_of(const Sample& s) const {
    std::vector<int> t(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) t[i] = model_.config.type_of(s.z[i]);
    return t;
  }

  /// Energy, forces and stress (double precision).
  Prediction predict(const Sample& s) {
    const auto& g = graph_of(s);
    eval_.evaluate(s.x, s.lattice, types_of(s), g, true, out_);
    Prediction p;
    p.energy = out_.energy;
    p.forces = out_.forces;
    p.stress = out_.virial / s.volume();
    return p;
  }

  /// Adds dL/dθ to `grad` (flat) for a loss whose derivatives w.r.t. this structure's outputs
  /// are dLdE (per eV), dLdF (per eV/Å, may be empty) and dLdS (per eV/Å³).
  void accumulate_gradient(const Sample& s, double dLdE, const std::vector<std::array<double, 3>>& dLdF,
                           const Eigen::Matrix3d& dLdS, std::vector<double>& grad) {
    if (grad.size() != nparams_) throw ValueError("M3GNetTrainable: gradient vector of the wrong length");
    const auto& g = graph_of(s);
    const auto types = types_of(s);
    std::vector<std::array<double, 3>> dx(s.size(), {0.0, 0.0, 0.0});
    for (std::size_t i = 0; i < dLdF.size(); ++i)
      for (int k = 0; k < 3; ++k) dx[i][static_cast<std::size_t>(k)] = -dLdF[i][static_cast<std::size_t>(k)];
    deval_.set_geometry_tangent(dx, dLdS / s.volume());
    deval_.evaluate(s.x, s.lattice, types, g, false, out_);
    graphnet::visit_m3gnet_parameters(gradD_, [](const std::string&, Dual* d, const std::vector<std::int64_t>& shape) {
      std::int64_t n = 1;
      for (auto v : shape) n *= v;
      std::fill(d, d + n, Dual(0));
    });
    deval_.accumulate_parameter_gradients(g, gradD_);
    std::size_t k = 0;
    graphnet::visit_m3gnet_parameters(gradD_, [&](const std::string&, Dual* d, const std::vector<std::int64_t>&) {
      const auto& info = params_[k++];
      double* gp = grad.data() + info.offset;
      for (std::size_t j = 0; j < info.size; ++j) gp[j] += dLdE * d[j].v + d[j].d;
    });
    double* gr = grad.data() + params_.back().offset;
    for (int t : types) gr[t] += dLdE;  // ∂E/∂ref_t = number of atoms of type t
  }

  /// Drops cached graphs (call when samples move in memory or change).
  void clear_graph_cache() { graphs_.clear(); }

  /// Writes a matgl model directory (model.json + state.pt) that M3GNet::load, `nernst eval
  /// --model` and matgl read. Tensors not learned here (data_mean, data_std, cutoffs, ...) are
  /// copied from the source model's state.pt. `float64 = false` keeps each tensor's dtype (as
  /// matgl stores it, float32); `true` stores every floating tensor in float64 (bit-exact).
  void save(const std::string& dir, bool float64 = false) {
    save_m3gnet_directory(model_, dir, float64);
  }

  /// See save(); usable with any M3GNetModel loaded from a directory.
  static void save_m3gnet_directory(graphnet::M3GNetModel model, const std::string& dir, bool float64) {
    namespace fs = std::filesystem;
    const fs::path src(model.source);
    if (model.source.empty() || !fs::exists(src / "state.pt") || !fs::exists(src / "model.json"))
      throw IOError("M3GNet save: the source model directory '" + model.source + "' (model.json, state.pt) is needed");
    io::StateDict sd = io::load_state_dict((src / "state.pt").string());
    auto put = [&](const std::string& name, const double* d, std::size_t n) {
      auto it = sd.find(name);
      if (it == sd.end()) throw ValueError("M3GNet save: source state_dict lacks '" + name + "'");
      if (it->second.numel() != n) throw ValueError("M3GNet save: '" + name + "' changed size");
      it->second.values.assign(d, d + n);
    };
    graphnet::visit_m3gnet_parameters(model.weights, [&](const std::string& n, double* d, const std::vector<std::int64_t>& shape) {
      std::size_t sz = 1;
      for (auto s : shape) sz *= static_cast<std::size_t>(s);
      put(n, d, sz);
    });
    put(atomref_name, model.config.element_refs.data(), model.config.element_refs.size());
    for (auto& kv : sd) {
      auto& t = kv.second;
      if (!t.is_floating()) continue;
      if (float64) t.dtype = io::DType::Float64;
      else if (t.dtype == io::DType::Float32)
        for (auto& v : t.values) v = static_cast<double>(static_cast<float>(v));
    }
    fs::create_directories(dir);
    if (fs::weakly_canonical(src) != fs::weakly_canonical(fs::path(dir))) {
      const fs::path dst = fs::path(dir) / "model.json";
      fs::remove(dst);  // a previous copy may be read-only (copy_file keeps the source's mode)
      fs::copy_file(src / "model.json", dst);
      fs::permissions(dst, fs::perms::owner_write, fs::perm_options::add);
    }
    io::save_state_dict((fs::path(dir) / "state.pt").string(), sd);
  }

 private:
  const graphnet::PeriodicGraph& graph_of(const Sample& s) {
    auto it = graphs_.find(&s);
    if (it != graphs_.end() && it->second.first == s.x.size()) return it->second.second;
    auto& slot = graphs_[&s];
    slot.first = s.x.size();
    graphnet::build_pymatgen_graph(s.x, s.lattice, model_.config.cutoff, slot.second);
    return slot.second;
  }

  graphnet::M3GNetModel model_;
  graphnet::M3GNetEvaluator<double> eval_;
  graphnet::M3GNetEvaluator<Dual> deval_;
  graphnet::M3GNetWeights<Dual> gradD_;
  graphnet::M3GNetOutput out_;
  std::vector<ParameterInfo> params_;
  std::size_t nparams_ = 0;
  std::unordered_map<const Sample*, std::pair<std::size_t, graphnet::PeriodicGraph>> graphs_;
};

}  // namespace train
NERNST_NAMESPACE_END
