#pragma once
/// \file
/// \brief `Potential<GraphNet<MACE>, Scalar, MemorySpace>`: a mace-torch ScaleShiftMACE model
/// (MACE-MP-0 architecture), native: energy, forces and stress from the forward pass
/// (mace/mace_forward.hpp) and its hand-written reverse pass (mace/mace_backward.hpp).
///
/// ```
/// auto src = nernst::MACE::load("mace-mp-0a-medium.model");        // or load(state_dict, json)
/// nernst::Potential<nernst::GraphNet<nernst::MACE>, float> pot(src);
/// auto res = pot.compute(sys, {.forces = true, .stress = true});   // eV, eV/Å, eV/Å³
/// ```
///
/// Same conventions as the other graph networks (positions used as given, fully periodic cells,
/// stress with ASE's sign). Runs on every host thread (row chunks of edges and atoms,
/// mace/mace_chunks.hpp; deterministic, no atomics); `Scalar` is the model's precision
/// (float as `mace_mp(default_dtype="float32")`, or double).

#include <nernst/core/error.hpp>
#include <nernst/core/system.hpp>
#include <nernst/potential/graphnet/compute_result.hpp>
#include <nernst/potential/graphnet/graphnet.hpp>
#include <nernst/potential/graphnet/mace/mace_backward.hpp>
#include <nernst/potential/potential.hpp>

#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN

/// Architecture tag of mace-torch's MACE; `MACE::load` reads a model (float64 master copy).
struct MACE {
  using Source = graphnet::mace::MACESource;
  using Model = Source;  ///< what `load` returns (the name the other architectures use)

  /// A pickled `.model` file.
  static Source load(const std::string& model_file) { return graphnet::mace::read_mace_model_file(model_file); }
  /// A `state_dict.pt` with the JSON of its hyper-parameters.
  static Source load(const std::string& state_dict, const std::string& json) {
    return graphnet::mace::read_mace_state_dict(state_dict, json);
  }
};

template <class Scalar, class MemorySpace>
class Potential<GraphNet<MACE>, Scalar, MemorySpace> {
 public:
  using memory_space = MemorySpace;
  using scalar_type = Scalar;

  explicit Potential(const graphnet::mace::MACESource& source) : model_(graphnet::mace::make_mace_model<Scalar>(source)) {}
  explicit Potential(const std::string& model_file) : Potential(MACE::load(model_file)) {}

  /// Graph cutoff r_max (Å).
  double cutoff() const { return model_.config.r_max; }
  const graphnet::mace::MACEConfig& config() const { return model_.config; }
  /// Intermediates of the last compute() (graph, per-layer features).
  const graphnet::mace::ForwardState<Scalar>& state() const { return state_; }

  ComputeResult compute(System<MemorySpace>& sys, const ComputeRequest& req) {
    load_system(sys);
    return run(sys, req, graphnet::mace::build_mace_graph(x_, sys.cell.matrix(), cutoff()));
  }

  /// Same as compute() on a given pair list (a host code's neighbour list; src → dst with image
  /// S): the pairs shorter than r_max make MACE's graph, held fixed (no neighbour search).
  ComputeResult compute_with_graph(System<MemorySpace>& sys, const ComputeRequest& req, const graphnet::PeriodicGraph& g) {
    load_system(sys);
    return run(sys, req, graphnet::mace::mace_graph_from(g, x_, sys.cell.matrix(), cutoff()));
  }

  /// Forward pass on a given graph without a cell (open boundaries: a domain's owned + ghost
  /// atoms) and, when `grad`, the forces and virial of E = Σ_i w_i E_i (weights 1 for owned, 0 for
  /// ghost atoms; empty = all 1). state().node_energy holds every E_i. No stress: there is no cell.
  graphnet::mace::MACEGradient compute_weighted(graphnet::mace::MACEGraph g, const std::vector<int>& atomic_numbers,
                                                const std::vector<double>& weights, bool grad) {
    graphnet::mace::forward(model_, std::move(g), atomic_numbers, state_);
    if (grad) return graphnet::mace::gradient(model_, state_, weights, workspace_);
    graphnet::mace::MACEGradient none;
    none.forces.assign(atomic_numbers.size(), {0.0, 0.0, 0.0});
    return none;
  }

 private:
  void load_system(const System<MemorySpace>& sys) {
    z_.resize(sys.size());
    graphnet::load_host_atoms(sys, "MACE", x_, [&](std::size_t i, std::size_t t) { z_[i] = sys.species[t]; });
  }

  ComputeResult run(System<MemorySpace>& sys, const ComputeRequest& req, graphnet::mace::MACEGraph g) {
    const Eigen::Matrix3d lattice = sys.cell.matrix();
    graphnet::mace::forward(model_, std::move(g), z_, state_);  // reuses the last call's buffers
    graphnet::mace::MACEGradient grad;
    if (req.forces || req.stress) grad = graphnet::mace::backward(model_, state_, lattice, workspace_);
    else grad.forces.assign(sys.size(), {0.0, 0.0, 0.0});
    return graphnet::make_compute_result(sys, req, state_.energy, state_.node_energy, grad.forces, grad.virial);
  }

  graphnet::mace::MACEModel<Scalar> model_;
  graphnet::mace::ForwardState<Scalar> state_;
  graphnet::mace::BackwardWorkspace<Scalar> workspace_;
  std::vector<std::array<double, 3>> x_;
  std::vector<int> z_;
};

NERNST_NAMESPACE_END
