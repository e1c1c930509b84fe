#pragma once
/// \file
/// \brief `Potential<GraphNet<CHGNet>, Scalar, MemorySpace>`: CHGNet (Crystal Hamiltonian Graph
/// Network) from its official `.pth.tar` checkpoints, native (energy, forces, stress and
/// magnetic moments; forces and stress from one hand-written reverse pass).
///
/// ```
/// auto model = nernst::CHGNet::load("chgnet_0.3.0_e29f68s314m37.pth.tar");
/// nernst::Potential<nernst::GraphNet<nernst::CHGNet>, double> pot(model);
/// auto res = pot.compute(sys, {.forces = true, .stress = true});   // eV, eV/Å, eV/Å³
/// auto m = pot.magmoms();                                           // μ_B, last compute()
/// ```
///
/// The graph (atom graph within r_a, bonds, bond graph within r_b, angles) is rebuilt at every
/// call from positions as given (not wrapped), with pymatgen's neighbour search, so results match
/// CHGNet to floating-point precision (docs/chgnet.md). `energy` is the total energy CHGNet
/// reports (N · e, AtomRef included); `per_atom_energy` are CHGNet's site energies. Two evaluators
/// compute the same numbers (to 1e-12 relative in double): the host evaluator
/// (graphnet::CHGNetEvaluator, Eigen on the host threads; positions and forces mirrored to and from
/// the System's memory space) and Kokkos kernels in the System's execution space
/// (graphnet::CHGNetKernel). The kernels run when `kernels()` is on: by default where the System
/// lives in device memory (a CUDA build), off on the host, where the Eigen evaluator is faster.

#include <nernst/core/error.hpp>
#include <nernst/core/system.hpp>
#include <nernst/potential/graphnet/bond_graph.hpp>
#include <nernst/potential/graphnet/chgnet_evaluator.hpp>
#include <nernst/potential/graphnet/chgnet_kernel.hpp>
#include <nernst/potential/graphnet/chgnet_model.hpp>
#include <nernst/potential/graphnet/compute_result.hpp>
#include <nernst/potential/graphnet/graph.hpp>
#include <nernst/potential/graphnet/graphnet.hpp>
#include <nernst/potential/graphnet/kernel_launch.hpp>
#include <nernst/potential/potential.hpp>

#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

NERNST_NAMESPACE_BEGIN

/// Architecture tag of CHGNet; `CHGNet::load` reads a CHGNet `.pth.tar` checkpoint.
struct CHGNet {
  using Model = graphnet::CHGNetModel;
  static Model load(const std::string& path) { return graphnet::load_chgnet_checkpoint(path); }
};

template <class Scalar, class MemorySpace>
class Potential<GraphNet<CHGNet>, Scalar, MemorySpace> {
 public:
  using memory_space = MemorySpace;
  using scalar_type = Scalar;

  explicit Potential(const graphnet::CHGNetModel& model)
      : eval_(model),
        // the model for kernel_, read only: copies of this potential share it
        kernel_([m = std::make_shared<const graphnet::CHGNetModel>(model)] { return Kernel(*m); }) {}
  explicit Potential(const std::string& checkpoint) : Potential(CHGNet::load(checkpoint)) {}

  /// Atom-graph cutoff r_a (Å).
  double cutoff() const { return eval_.config().atom_graph_cutoff; }
  const graphnet::CHGNetConfig& config() const { return eval_.config(); }
  /// Graph and bond graph of the last compute().
  const graphnet::PeriodicGraph& graph() const { return graph_; }
  const graphnet::BondGraph& bond_graph() const { return bond_graph_; }
  /// Magnetic moments (μ_B) and site energies (eV) of the last compute().
  const std::vector<double>& magmoms() const { return out_.magmom; }
  const std::vector<double>& site_energies() const { return out_.site_energy; }
  /// Full output of the last compute() (forces in double, virial, model energy).
  const graphnet::CHGNetOutput& output() const { return out_; }
  /// The host evaluator (its per-layer arrays belong to the last compute() that ran on the host).
  const graphnet::CHGNetEvaluator<Scalar>& evaluator() const { return eval_; }

  /// Whether evaluations run as kernels in the System's execution space (see above).
  bool kernels() const { return kernels_; }
  void set_kernels(bool on) { kernels_ = on; }

  /// Whether compute_batch evaluates its Systems together (with the kernels: one block-diagonal
  /// graph); otherwise it evaluates them one after another.
  bool batched() const { return kernels_; }

  /// Result k is what compute(*systems[k], req) gives, forces into systems[k]->f (potential.hpp's
  /// batch evaluation). With the kernels all Systems are one evaluation (CHGNetKernel::
  /// evaluate_batch). magmoms() and site_energies() then hold those of the last System.
  std::vector<ComputeResult> compute_batch(const std::vector<System<MemorySpace>*>& systems, const ComputeRequest& req) {
    if (!kernels_) return graphnet::compute_each(*this, systems, req);
    std::vector<graphnet::CHGNetOutput> out;
    auto results = graphnet::evaluate_batch_with(
        kernel_, batch_, systems, req, out, &graphnet::CHGNetOutput::site_energy,
        [&](System<MemorySpace>& sys, Entry& b) -> typename Kernel::Structure {
          load_system(sys, b.x, b.z);
          b.L = sys.cell.matrix();
          graphnet::build_pymatgen_graph(b.x, b.L, cutoff(), b.graph);
          check_isolated(b.graph, b.x.size());
          graphnet::build_bond_graph(b.graph, b.x.size(), eval_.config().bond_graph_cutoff, b.bonds);
          return {b.x, b.L, b.z, b.graph, b.bonds};
        });
    if (!out.empty()) out_ = std::move(out.back());
    return results;
  }

  ComputeResult compute(System<MemorySpace>& sys, const ComputeRequest& req) {
    load_system(sys, x_, z_);
    graphnet::build_pymatgen_graph(x_, sys.cell.matrix(), cutoff(), graph_);
    check_isolated(graph_, x_.size());
    graphnet::build_bond_graph(graph_, x_.size(), eval_.config().bond_graph_cutoff, bond_graph_);
    return run(sys, req);
  }

  /// Same as compute() on a given atom graph (held fixed: no neighbour search); the bond graph
  /// is derived from it. Used for finite differences across positions where the graph changes.
  ComputeResult compute_with_graph(System<MemorySpace>& sys, const ComputeRequest& req, const graphnet::PeriodicGraph& g) {
    load_system(sys, x_, z_);
    graph_ = g;
    graphnet::build_bond_graph(graph_, x_.size(), eval_.config().bond_graph_cutoff, bond_graph_);
    return run(sys, req);
  }

 private:
  using Kernel = graphnet::CHGNetKernel<Scalar, typename MemorySpace::execution_space>;
  using execution_space = typename MemorySpace::execution_space;

  /// Positions and atomic numbers of a System, on the host.
  static void load_system(const System<MemorySpace>& sys, std::vector<std::array<double, 3>>& x, std::vector<int>& z) {
    z.resize(sys.size());
    graphnet::load_host_atoms(sys, "CHGNet", x, [&](std::size_t i, std::size_t t) { z[i] = sys.species[t]; });
  }

  /// CHGNet's converter refuses structures with an atom that has no neighbour within r_a.
  void check_isolated(const graphnet::PeriodicGraph& g, const std::size_t natoms) const {
    std::vector<char> seen(natoms, 0);
    for (int s : g.src) seen[static_cast<std::size_t>(s)] = 1;
    for (std::size_t i = 0; i < seen.size(); ++i)
      if (!seen[i])
        throw ValueError("CHGNet: atom " + std::to_string(i) + " has no neighbour within the " + std::to_string(cutoff()) +
                         " Å atom-graph cutoff (isolated atom)");
  }

  ComputeResult run(System<MemorySpace>& sys, const ComputeRequest& req) {
    const bool grad = req.forces || req.stress;
    if (kernels_)
      kernel_.run([&](Kernel& k) { k.evaluate(execution_space(), x_, sys.cell.matrix(), z_, graph_, bond_graph_, grad, out_); });
    else
      eval_.evaluate(x_, sys.cell.matrix(), z_, graph_, bond_graph_, grad, out_);
    return graphnet::make_compute_result(sys, req, out_.energy, out_.site_energy, out_.forces, out_.virial);
  }

  graphnet::CHGNetEvaluator<Scalar> eval_;
  /// Built on first use; kernel_.run: one kernel evaluation at a time in the process, the host
  /// work around it (graph construction) concurrent (graphnet::LazyKernel says why).
  graphnet::LazyKernel<Kernel> kernel_;
  /// One System of compute_batch, on the host.
  struct Entry {
    std::vector<std::array<double, 3>> x;
    std::vector<int> z;
    Eigen::Matrix3d L;
    graphnet::PeriodicGraph graph;
    graphnet::BondGraph bonds;
  };
  std::vector<Entry> batch_;
  bool kernels_ = !std::is_same_v<MemorySpace, Kokkos::HostSpace>;
  graphnet::PeriodicGraph graph_;
  graphnet::BondGraph bond_graph_;
  graphnet::CHGNetOutput out_;
  std::vector<std::array<double, 3>> x_;
  std::vector<int> z_;
};

NERNST_NAMESPACE_END
