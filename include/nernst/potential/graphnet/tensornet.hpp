#pragma once
/// \file
/// \brief `Potential<GraphNet<TensorNet>, Scalar, MemorySpace>`: matgl's TensorNet universal
/// potential (TensorNet-MatPES-{PBE,r2SCAN}-v2025.1-PES), native: energy, forces and stress
/// from one hand-written reverse pass.
///
/// ```
/// auto model = nernst::TensorNet::load("tensornet-matpes-pbe-v2025.1-pes");  // model.json + state.pt
/// nernst::Potential<nernst::GraphNet<nernst::TensorNet>, double> pot(model);
/// auto res = pot.compute(sys, {.forces = true, .stress = true});             // eV, eV/Å, eV/Å³
/// ```
///
/// Same interface and conventions as `Potential<GraphNet<M3GNet>>` (positions used as given,
/// not wrapped; pymatgen's neighbour search; stress with ASE's sign), so it drops in wherever
/// that one is used. TensorNet has no triplets, so the edge order does not matter; only the
/// edge set does (specs/tensornet.md §3).

#include <nernst/core/error.hpp>
#include <nernst/core/system.hpp>
#include <nernst/io/checkpoint/torch_load.hpp>
#include <nernst/potential/graphnet/compute_result.hpp>
#include <nernst/potential/graphnet/graphnet.hpp>
#include <nernst/potential/graphnet/tensornet_evaluator.hpp>
#include <nernst/potential/graphnet/tensornet_model.hpp>
#include <nernst/potential/potential.hpp>

#include <filesystem>
#include <string>

NERNST_NAMESPACE_BEGIN

/// Architecture tag of matgl's TensorNet; `TensorNet::load` reads a matgl model directory.
struct TensorNet {
  using Model = graphnet::TensorNetModel;

  /// Loads `dir/model.json` (hyper-parameters, element types) and `dir/state.pt` (weights,
  /// data_std/mean, element reference energies).
  static Model load(const std::string& dir) {
    namespace fs = std::filesystem;
    const fs::path d(dir);
    if (!fs::is_directory(d))
      throw IOError("TensorNet model '" + dir + "' is not a directory (expected model.json + state.pt)");
    Model m;
    m.config = graphnet::read_tensornet_model_json((d / "model.json").string());
    const fs::path state = d / "state.pt";
    if (!fs::exists(state)) throw IOError("TensorNet model '" + dir + "': state.pt not found");
    graphnet::load_tensornet_state_dict(io::load_state_dict(state.string()), m, state.string());
    m.source = dir;
    return m;
  }
};

template <class Scalar, class MemorySpace>
class Potential<GraphNet<TensorNet>, Scalar, MemorySpace> {
 public:
  using memory_space = MemorySpace;
  using scalar_type = Scalar;

  explicit Potential(const graphnet::TensorNetModel& model) : eval_(model) {}
  explicit Potential(const std::string& model_dir) : Potential(TensorNet::load(model_dir)) {}

  /// Graph cutoff (Å).
  double cutoff() const { return eval_.config().cutoff; }
  const graphnet::TensorNetConfig& config() const { return eval_.config(); }
  /// The graph of the last compute() (pymatgen's edge set).
  const graphnet::PeriodicGraph& graph() const { return graph_; }
  /// The evaluator (intermediates of the last evaluation, ∂E/∂r_e).
  const graphnet::TensorNetEvaluator<Scalar>& evaluator() const { return eval_; }
  /// Memory the forward may keep for the reverse pass (TensorNetEvaluator::set_activation_budget).
  void set_activation_budget(double bytes) { eval_.set_activation_budget(bytes); }

  ComputeResult compute(System<MemorySpace>& sys, const ComputeRequest& req) {
    load_system(sys);
    graphnet::build_pymatgen_graph(x_, sys.cell.matrix(), cutoff(), graph_);
    return run(sys, req, graph_);
  }

  /// Same as compute() on a given graph (held fixed: no neighbour search), e.g. for finite
  /// differences that must not see edges cross the cutoff.
  ComputeResult compute_with_graph(System<MemorySpace>& sys, const ComputeRequest& req, const graphnet::PeriodicGraph& g) {
    load_system(sys);
    return run(sys, req, g);
  }

 private:
  void load_system(const System<MemorySpace>& sys) {
    if (type_map_species_ != sys.species) {
      type_map_.clear();
      for (int z : sys.species) type_map_.push_back(eval_.config().type_of(z));
      type_map_species_ = sys.species;
    }
    types_.resize(sys.size());
    graphnet::load_host_atoms(sys, "TensorNet", x_, [&](std::size_t i, std::size_t t) { types_[i] = type_map_[t]; });
  }

  ComputeResult run(System<MemorySpace>& sys, const ComputeRequest& req, const graphnet::PeriodicGraph& g) {
    const bool grad = req.forces || req.stress;
    eval_.evaluate(x_, sys.cell.matrix(), types_, g, grad, out_);
    return graphnet::make_compute_result(sys, req, out_.energy, out_.atom_energy, out_.forces, out_.virial);
  }

  graphnet::TensorNetEvaluator<Scalar> eval_;
  graphnet::PeriodicGraph graph_;
  graphnet::TensorNetOutput out_;
  std::vector<std::array<double, 3>> x_;
  std::vector<int> types_, type_map_, type_map_species_;
};

NERNST_NAMESPACE_END
