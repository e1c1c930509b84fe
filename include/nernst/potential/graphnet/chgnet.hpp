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
/// reports (N · e, AtomRef included); `per_atom_energy` are CHGNet's site energies. The dense
/// network runs on the host; positions and forces are mirrored from/to the System's memory space.

#include <nernst/core/error.hpp>
#include <nernst/core/system.hpp>
#include <nernst/potential/graphnet/bond_graph.hpp>
#include <nernst/potential/graphnet/chgnet_evaluator.hpp>
#include <nernst/potential/graphnet/chgnet_model.hpp>
#include <nernst/potential/graphnet/compute_result.hpp>
#include <nernst/potential/graphnet/graph.hpp>
#include <nernst/potential/graphnet/graphnet.hpp>
#include <nernst/potential/potential.hpp>

#include <string>
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

  explicit Potential(const graphnet::CHGNetModel& model) : eval_(model) {}
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
  const graphnet::CHGNetEvaluator<Scalar>& evaluator() const { return eval_; }

  ComputeResult compute(System<MemorySpace>& sys, const ComputeRequest& req) {
    load_system(sys);
    graphnet::build_pymatgen_graph(x_, sys.cell.matrix(), cutoff(), graph_);
    check_isolated();
    graphnet::build_bond_graph(graph_, x_.size(), eval_.config().bond_graph_cutoff, bond_graph_);
    return run(sys, req);
  }

  /// Same as compute() on a given atom graph (held fixed: no neighbour search); the bond graph
  /// is derived from it. Used for finite differences across positions where the graph changes.
  ComputeResult compute_with_graph(System<MemorySpace>& sys, const ComputeRequest& req, const graphnet::PeriodicGraph& g) {
    load_system(sys);
    graph_ = g;
    graphnet::build_bond_graph(graph_, x_.size(), eval_.config().bond_graph_cutoff, bond_graph_);
    return run(sys, req);
  }

 private:
  void load_system(const System<MemorySpace>& sys) {
    z_.resize(sys.size());
    graphnet::load_host_atoms(sys, "CHGNet", x_, [&](std::size_t i, std::size_t t) { z_[i] = sys.species[t]; });
  }

  /// CHGNet's converter refuses structures with an atom that has no neighbour within r_a.
  void check_isolated() const {
    std::vector<char> seen(x_.size(), 0);
    for (int s : graph_.src) seen[static_cast<std::size_t>(s)] = 1;
    for (std::size_t i = 0; i < seen.size(); ++i)
      if (!seen[i])
        throw ValueError("CHGNet: atom " + std::to_string(i) + " has no neighbour within the " + std::to_string(cutoff()) +
                         " Å atom-graph cutoff (isolated atom)");
  }

  ComputeResult run(System<MemorySpace>& sys, const ComputeRequest& req) {
    const bool grad = req.forces || req.stress;
    eval_.evaluate(x_, sys.cell.matrix(), z_, graph_, bond_graph_, grad, out_);
    return graphnet::make_compute_result(sys, req, out_.energy, out_.site_energy, out_.forces, out_.virial);
  }

  graphnet::CHGNetEvaluator<Scalar> eval_;
  graphnet::PeriodicGraph graph_;
  graphnet::BondGraph bond_graph_;
  graphnet::CHGNetOutput out_;
  std::vector<std::array<double, 3>> x_;
  std::vector<int> z_;
};

NERNST_NAMESPACE_END
