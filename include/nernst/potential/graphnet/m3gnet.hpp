#pragma once
/// \file
/// \brief `Potential<GraphNet<M3GNet>, Scalar, MemorySpace>`: matgl's M3GNet universal potential,
/// native (energy, forces, stress from one reverse pass).
///
/// ```
/// auto model = nernst::M3GNet::load("M3GNet-MP-2021.2.8-PES");     // model.json + state.pt
/// nernst::Potential<nernst::GraphNet<nernst::M3GNet>, double> pot(model);
/// auto res = pot.compute(sys, {.forces = true, .stress = true});      // eV, eV/Å, eV/Å³
/// ```
///
/// The graph is rebuilt at every call with pymatgen's neighbour search (edge order included),
/// so results match matgl to floating-point precision (see docs/m3gnet.md). Positions are taken
/// as given in `System::x` (not wrapped), as matgl does. Two evaluators compute the same numbers
/// (to 1e-12 relative in double): the host evaluator (graphnet::M3GNetEvaluator, Eigen on the host
/// threads; positions and forces mirrored to and from the System's memory space) and Kokkos kernels
/// in the System's execution space (graphnet::M3GNetKernel: energy, forces and stress). The kernels
/// run when `kernels()` is on: by default where the System lives in device memory (a CUDA build),
/// off on the host, where the Eigen evaluator is faster (benchmarks/bench_m3gnet_kernel.cpp).

#include <nernst/core/error.hpp>
#include <nernst/core/system.hpp>
#include <nernst/potential/graphnet/compute_result.hpp>
#include <nernst/potential/graphnet/graphnet.hpp>
#include <nernst/potential/graphnet/kernel_launch.hpp>
#include <nernst/potential/graphnet/m3gnet_evaluator.hpp>
#include <nernst/potential/graphnet/m3gnet_kernel.hpp>
#include <nernst/potential/graphnet/m3gnet_model.hpp>
#include <nernst/potential/potential.hpp>

#include <nernst/io/checkpoint/torch_load.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

NERNST_NAMESPACE_BEGIN

/// Architecture tag of matgl's M3GNet; `M3GNet::load` reads a matgl model directory.
struct M3GNet {
  using Model = graphnet::M3GNetModel;

  /// Loads `dir/model.json` (hyper-parameters, element types) and `dir/state.pt` (weights,
  /// data_std/mean, element reference energies).
  static Model load(const std::string& dir) {
    namespace fs = std::filesystem;
    const fs::path d(dir);
    if (!fs::is_directory(d)) throw IOError("M3GNet model '" + dir + "' is not a directory (expected model.json + state.pt)");
    Model m;
    m.config = graphnet::read_m3gnet_model_json((d / "model.json").string());
    const fs::path state = d / "state.pt";
    if (!fs::exists(state)) throw IOError("M3GNet model '" + dir + "': state.pt not found");
    graphnet::load_m3gnet_state_dict(io::load_state_dict(state.string()), m);
    m.source = dir;
    return m;
  }
};

template <class Scalar, class MemorySpace>
class Potential<GraphNet<M3GNet>, Scalar, MemorySpace> {
 public:
  using memory_space = MemorySpace;
  using scalar_type = Scalar;

  explicit Potential(const graphnet::M3GNetModel& model, graphnet::ThreeBodyMode mode = graphnet::ThreeBodyMode::matgl)
      : eval_(model, mode),
        // the model for kernel_, read only: copies of this potential share it
        kernel_([m = std::make_shared<const graphnet::M3GNetModel>(model), mode] { return Kernel(*m, mode); }) {}
  explicit Potential(const std::string& model_dir, graphnet::ThreeBodyMode mode = graphnet::ThreeBodyMode::matgl)
      : Potential(M3GNet::load(model_dir), mode) {}

  /// Graph cutoff (Å).
  double cutoff() const { return eval_.config().cutoff; }
  const graphnet::M3GNetConfig& config() const { return eval_.config(); }
  /// The graph of the last compute() (pymatgen order).
  const graphnet::PeriodicGraph& graph() const { return graph_; }
  const graphnet::Triplets& triplets() const { return eval_.triplets(); }

  /// Whether evaluations run as kernels in the System's execution space (see above).
  bool kernels() const { return kernels_; }
  void set_kernels(bool on) { kernels_ = on; }

  /// Whether compute_batch evaluates its Systems together (with the kernels: one block-diagonal
  /// graph); otherwise it evaluates them one after another.
  bool batched() const { return kernels_; }

  /// Result k is what compute(*systems[k], req) gives, forces into systems[k]->f (potential.hpp's
  /// batch evaluation). With the kernels all Systems are one evaluation (M3GNetKernel::
  /// evaluate_batch: bitwise each System alone on a device, to rounding on host threads).
  std::vector<ComputeResult> compute_batch(const std::vector<System<MemorySpace>*>& systems, const ComputeRequest& req) {
    if (!kernels_) return graphnet::compute_each(*this, systems, req);
    std::vector<graphnet::M3GNetOutput> out;
    return graphnet::evaluate_batch_with(kernel_, batch_, systems, req, out, &graphnet::M3GNetOutput::atom_energy,
                                         [&](System<MemorySpace>& sys, Entry& b) -> typename Kernel::Structure {
                                           load_system(sys, b.x, b.types);
                                           b.L = sys.cell.matrix();
                                           graphnet::build_pymatgen_graph(b.x, b.L, cutoff(), b.graph);
                                           return {b.x, b.L, b.types, b.graph};
                                         });
  }

  ComputeResult compute(System<MemorySpace>& sys, const ComputeRequest& req) {
    load_system(sys, x_, types_);
    graphnet::build_pymatgen_graph(x_, sys.cell.matrix(), cutoff(), graph_);
    return run(sys, req, graph_);
  }

  /// Same as compute() on a given graph (held fixed: no neighbour search). Used for finite
  /// differences across positions where the pymatgen edge order would change.
  ComputeResult compute_with_graph(System<MemorySpace>& sys, const ComputeRequest& req, const graphnet::PeriodicGraph& g) {
    load_system(sys, x_, types_);
    return run(sys, req, g);
  }

 private:
  using Kernel = graphnet::M3GNetKernel<Scalar, typename MemorySpace::execution_space>;

  /// Positions and model types of a System, on the host.
  void load_system(const System<MemorySpace>& sys, std::vector<std::array<double, 3>>& x, std::vector<int>& types) {
    if (type_map_species_ != sys.species) {
      type_map_.clear();
      for (int z : sys.species) type_map_.push_back(eval_.config().type_of(z));
      type_map_species_ = sys.species;
    }
    types.resize(sys.size());
    graphnet::load_host_atoms(sys, "M3GNet", x, [&](std::size_t i, std::size_t t) { types[i] = type_map_[t]; });
  }

  ComputeResult run(System<MemorySpace>& sys, const ComputeRequest& req, const graphnet::PeriodicGraph& g) {
    const bool grad = req.forces || req.stress;
    if (kernels_) {
      kernel_.run([&](Kernel& k) { k.evaluate(execution_space(), x_, sys.cell.matrix(), types_, g, grad, out_); });
      return graphnet::make_compute_result(sys, req, out_.energy, out_.atom_energy, out_.forces, out_.virial);
    }
    eval_.evaluate(x_, sys.cell.matrix(), types_, g, grad, out_);
    return graphnet::make_compute_result(sys, req, out_.energy, out_.atom_energy, out_.forces, out_.virial);
  }

  using execution_space = typename MemorySpace::execution_space;
  graphnet::M3GNetEvaluator<Scalar> eval_;
  /// Built on first use; kernel_.run: one kernel evaluation at a time in the process, the host
  /// work around it (graph construction) concurrent (graphnet::LazyKernel says why).
  graphnet::LazyKernel<Kernel> kernel_;
  /// One System of compute_batch, on the host.
  struct Entry {
    std::vector<std::array<double, 3>> x;
    std::vector<int> types;
    Eigen::Matrix3d L;
    graphnet::PeriodicGraph graph;
  };
  std::vector<Entry> batch_;
  bool kernels_ = !std::is_same_v<MemorySpace, Kokkos::HostSpace>;
  graphnet::PeriodicGraph graph_;
  graphnet::M3GNetOutput out_;
  std::vector<std::array<double, 3>> x_;
  std::vector<int> types_, type_map_, type_map_species_;
};

NERNST_NAMESPACE_END
