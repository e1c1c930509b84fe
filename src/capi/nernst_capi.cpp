/// \file
/// \brief The implementation of nernst's C API (include/nernst/capi/nernst.h): the one compiled
/// translation unit of nernst. It turns a spec string into one of a finite set of potential
/// instantiations (the runtime → compile-time boundary) and catches every exception at the
/// `extern "C"` edge.

#include <nernst/capi/nernst.h>

#include <nernst/config.hpp>
#include <nernst/core/elements.hpp>
#include <nernst/core/error.hpp>
#include <nernst/core/kokkos.hpp>
#include <nernst/core/system.hpp>
#include <nernst/potential/graphnet/m3gnet.hpp>
#include <nernst/potential/graphnet/mace.hpp>
#include <nernst/potential/graphnet/tensornet.hpp>
#include <nernst/potential/lennard_jones.hpp>
#include <nernst/potential/potential.hpp>
#if __has_include(<nernst/potential/graphnet/chgnet.hpp>)
#include <nernst/potential/graphnet/chgnet.hpp>
#define NERNST_CAPI_HAVE_CHGNET 1
#endif

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace nernst;
using MS = Kokkos::HostSpace;

/// Thrown for a request the potential cannot serve (mapped to NERNST_ERROR_NOT_SUPPORTED).
struct CapiNotSupported : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Kokkos must be running before any View is made. A host code that owns Kokkos initialises it
/// itself; otherwise the C API starts it once and leaves it running (Serial needs no teardown,
/// and Kokkos cannot be restarted after finalize, so a later create would fail).
void ensure_kokkos() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (!Kokkos::is_initialized()) Kokkos::initialize();
  });
}

/// Outputs of one evaluation (any pointer may be null).
struct Out {
  double* energy = nullptr;
  double* forces = nullptr;
  double* stress = nullptr;
  double* virial = nullptr;
  double* atom_energies = nullptr;
};

/// Edges i -> j with shifts, as given by a host code.
struct HostEdges {
  int n = 0;
  const int* i = nullptr;
  const int* j = nullptr;
  const int* shift = nullptr;
};

/// Directed edges of an open cluster within r (cell list), grouped by source ascending; images
/// are zero. Deterministic (neighbours in ascending index order per source).
void build_open_graph(const std::vector<std::array<double, 3>>& x, double r, graphnet::PeriodicGraph& g) {
  g.clear();
  const std::size_t n = x.size();
  if (n == 0) return;
  std::array<double, 3> lo = x[0], hi = x[0];
  for (const auto& p : x)
    for (int k = 0; k < 3; ++k) {
      if (!std::isfinite(p[k])) throw ValueError("non-finite position");
      lo[k] = std::min(lo[k], p[k]);
      hi[k] = std::max(hi[k], p[k]);
    }
  std::array<long, 3> nc;
  for (int k = 0; k < 3; ++k) nc[k] = std::max(1L, static_cast<long>((hi[k] - lo[k]) / r) + 1);
  if (double(nc[0]) * double(nc[1]) * double(nc[2]) > 8.0 * double(n) + 1e6) {
    // Very sparse clusters: coarsen the grid so it stays O(n) in memory.
    const double f = std::cbrt(double(nc[0]) * double(nc[1]) * double(nc[2]) / (8.0 * double(n) + 1e6));
    for (int k = 0; k < 3; ++k) nc[k] = std::max(1L, static_cast<long>(double(nc[k]) / f));
  }
  std::array<double, 3> h;
  for (int k = 0; k < 3; ++k) h[k] = std::max(r, (hi[k] - lo[k]) / double(nc[k]) * (1.0 + 1e-12));
  auto cell3 = [&](const std::array<double, 3>& p, int k) {
    return std::min(nc[static_cast<std::size_t>(k)] - 1, static_cast<long>((p[k] - lo[k]) / h[k]));
  };
  const long ncell = nc[0] * nc[1] * nc[2];
  std::vector<long> start(static_cast<std::size_t>(ncell + 1), 0), cell_of(n), order(n);
  for (std::size_t p = 0; p < n; ++p) {
    cell_of[p] = (cell3(x[p], 0) * nc[1] + cell3(x[p], 1)) * nc[2] + cell3(x[p], 2);
    ++start[static_cast<std::size_t>(cell_of[p] + 1)];
  }
  std::partial_sum(start.begin(), start.end(), start.begin());
  {
    std::vector<long> fill(start.begin(), start.end() - 1);
    for (std::size_t p = 0; p < n; ++p) order[static_cast<std::size_t>(fill[static_cast<std::size_t>(cell_of[p])]++)] = static_cast<long>(p);
  }
  const double r2 = r * r;
  std::vector<int> nb;
  for (std::size_t i = 0; i < n; ++i) {
    nb.clear();
    const long c[3] = {cell3(x[i], 0), cell3(x[i], 1), cell3(x[i], 2)};
    for (long a = std::max(0L, c[0] - 1); a <= std::min(nc[0] - 1, c[0] + 1); ++a)
      for (long b = std::max(0L, c[1] - 1); b <= std::min(nc[1] - 1, c[1] + 1); ++b)
        for (long d = std::max(0L, c[2] - 1); d <= std::min(nc[2] - 1, c[2] + 1); ++d) {
          const long cc = (a * nc[1] + b) * nc[2] + d;
          for (long q = start[static_cast<std::size_t>(cc)]; q < start[static_cast<std::size_t>(cc + 1)]; ++q) {
            const auto j = static_cast<std::size_t>(order[static_cast<std::size_t>(q)]);
            if (j == i) continue;
            double d2 = 0;
            for (int k = 0; k < 3; ++k) d2 += (x[j][k] - x[i][k]) * (x[j][k] - x[i][k]);
            if (d2 < r2) nb.push_back(static_cast<int>(j));
          }
        }
    std::sort(nb.begin(), nb.end());
    for (int j : nb) {
      double d2 = 0;
      for (int k = 0; k < 3; ++k) d2 += (x[static_cast<std::size_t>(j)][k] - x[i][k]) * (x[static_cast<std::size_t>(j)][k] - x[i][k]);
      g.src.push_back(static_cast<int>(i));
      g.dst.push_back(j);
      g.image.push_back({0, 0, 0});
      g.distance.push_back(std::sqrt(d2));
    }
  }
}

/// Host edges -> a graph grouped by source (stable: the host's order within a source is kept),
/// pairs beyond the cutoff dropped.
graphnet::PeriodicGraph graph_from_host(int n, const double* pos, const Eigen::Matrix3d& L, const HostEdges& e,
                                        double cutoff) {
  if (e.n < 0) throw ValueError("n_edges must be >= 0");
  if (e.n > 0 && (!e.i || !e.j || !e.shift)) throw ValueError("edge_i, edge_j and edge_shift must not be NULL");
  std::vector<int> idx(static_cast<std::size_t>(e.n));
  std::iota(idx.begin(), idx.end(), 0);
  for (int k = 0; k < e.n; ++k)
    if (e.i[k] < 0 || e.i[k] >= n || e.j[k] < 0 || e.j[k] >= n)
      throw ValueError("edge " + std::to_string(k) + " refers to an atom outside 0.." + std::to_string(n - 1));
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return e.i[a] < e.i[b]; });
  graphnet::PeriodicGraph g;
  const double rc2 = cutoff * cutoff;
  for (int k : idx) {
    const int i = e.i[k], j = e.j[k];
    const std::array<int, 3> s = {e.shift[3 * k], e.shift[3 * k + 1], e.shift[3 * k + 2]};
    double d2 = 0;
    for (int a = 0; a < 3; ++a) {
      const double v = pos[3 * j + a] + (s[0] * L(0, a) + s[1] * L(1, a) + s[2] * L(2, a)) - pos[3 * i + a];
      d2 += v * v;
    }
    if (i == j && s[0] == 0 && s[1] == 0 && s[2] == 0) continue;
    if (!(d2 < rc2 + 1e-8)) continue;
    g.src.push_back(i);
    g.dst.push_back(j);
    g.image.push_back(s);
    g.distance.push_back(std::sqrt(d2));
  }
  return g;
}

/// A System in host memory from C arrays; species in order of first appearance.
System<MS> make_system(int n, const int* numbers, const double* pos, const Eigen::Matrix3d& L) {
  System<MS> sys(static_cast<std::size_t>(n));
  sys.cell = Lattice(L);
  for (int i = 0; i < n; ++i) {
    const int z = numbers[i];
    if (z < 1 || z > max_atomic_number) throw ValueError("atom " + std::to_string(i) + ": invalid atomic number " + std::to_string(z));
    auto it = std::find(sys.species.begin(), sys.species.end(), z);
    if (it == sys.species.end()) {
      sys.species.push_back(z);
      it = sys.species.end() - 1;
    }
    sys.type(i) = static_cast<int>(it - sys.species.begin());
    sys.mass(i) = atomic_mass(z);
    for (int k = 0; k < 3; ++k) {
      const double v = pos[3 * i + k];
      if (!std::isfinite(v)) throw ValueError("atom " + std::to_string(i) + ": non-finite position");
      sys.x(i, k) = v;
    }
  }
  return sys;
}

/// Writes a ComputeResult and the System's forces to the outputs.
void write_out(const ComputeResult& r, const System<MS>& sys, const Out& o) {
  const int n = static_cast<int>(sys.size());
  if (o.energy) *o.energy = r.energy;
  if (o.forces)
    for (int i = 0; i < n; ++i)
      for (int k = 0; k < 3; ++k) o.forces[3 * i + k] = sys.f(i, k);
  if (o.stress || o.virial) {
    if (!r.has_stress) throw CapiNotSupported("this potential gives no stress");
    if (o.stress) {
      const auto v = r.voigt();
      std::copy(v.begin(), v.end(), o.stress);
    }
    if (o.virial) {
      const double V = sys.cell.volume();
      for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) o.virial[3 * a + b] = -V * r.stress(a, b);
    }
  }
  if (o.atom_energies) {
    if (r.per_atom_energy.size() != static_cast<std::size_t>(n)) throw CapiNotSupported("this potential gives no per-atom energies");
    std::copy(r.per_atom_energy.begin(), r.per_atom_energy.end(), o.atom_energies);
  }
}

ComputeRequest request_for(const Out& o) {
  ComputeRequest req;
  req.forces = o.forces != nullptr;
  req.stress = o.stress != nullptr || o.virial != nullptr;
  req.per_atom_energy = o.atom_energies != nullptr;
  return req;
}

/// One potential behind the C handle.
struct Impl {
  virtual ~Impl() = default;
  virtual const char* kind() const = 0;
  virtual double cutoff() const = 0;
  virtual double ghost_cutoff() const = 0;
  virtual bool supports(int z) const = 0;
  virtual double energy_offset() const { return 0.0; }
  virtual void compute(System<MS>& sys, const Out& o) = 0;
  virtual void compute_edges(System<MS>&, const HostEdges&, const Out&) {
    throw CapiNotSupported(std::string(kind()) + ": a host neighbour list is supported for graph networks only");
  }
  virtual void compute_local(int n_all, int n_owned, const int* numbers, const double* pos, const Out& o) = 0;
};

/// Local (domain-decomposed) evaluation of a graph network: the first n_owned of n_all atoms
/// are owned, the rest ghosts, on an open (non-periodic) graph. Energy = the owned atoms'
/// energies; forces and virial those of that energy (the evaluator's energy weights: 1 owned,
/// 0 ghost), ghost forces included for the host to send back to their owners. Exact when the
/// ghosts reach the network's range of influence (ghost_cutoff()).
template <class Evaluator, class Output>
struct LocalGraphNet {
  LocalGraphNet(Evaluator e, double cutoff, double data_mean) : eval(std::move(e)), cutoff(cutoff), data_mean(data_mean) {}

  template <class TypeOf>
  void evaluate(int n_all, int n_owned, const int* numbers, const double* pos, const Out& o, TypeOf&& type_of) {
    x.resize(static_cast<std::size_t>(n_all));
    types.resize(static_cast<std::size_t>(n_all));
    for (int i = 0; i < n_all; ++i) {
      for (int k = 0; k < 3; ++k) {
        x[static_cast<std::size_t>(i)][static_cast<std::size_t>(k)] = pos[3 * i + k];
        if (!std::isfinite(pos[3 * i + k])) throw ValueError("atom " + std::to_string(i) + ": non-finite position");
      }
      types[static_cast<std::size_t>(i)] = type_of(numbers[i]);
    }
    build_open_graph(x, cutoff, graph);
    weights.assign(static_cast<std::size_t>(n_all), 0.0);
    std::fill(weights.begin(), weights.begin() + n_owned, 1.0);
    eval.set_energy_weights(weights);
    eval.evaluate(x, Eigen::Matrix3d::Identity(), types, graph, o.forces || o.virial, out);
    write(n_all, n_owned, o);
  }

  Evaluator eval;
  double cutoff, data_mean;
  graphnet::PeriodicGraph graph;
  Output out;
  std::vector<std::array<double, 3>> x;
  std::vector<int> types;
  std::vector<double> weights;

 private:
  void write(int n_all, int n_owned, const Out& o) const {
    // atom_energy carries data_mean / n_all each; the per-structure constant is the host's to add.
    const double mean_share = n_all > 0 ? data_mean / double(n_all) : 0.0;
    double e = 0;
    for (int i = 0; i < n_owned; ++i) {
      const double ei = out.atom_energy[static_cast<std::size_t>(i)] - mean_share;
      e += ei;
      if (o.atom_energies) o.atom_energies[i] = ei;
    }
    if (o.energy) *o.energy = e;
    if (o.forces)
      for (int i = 0; i < n_all; ++i)
        for (int k = 0; k < 3; ++k) o.forces[3 * i + k] = out.forces[static_cast<std::size_t>(i)][static_cast<std::size_t>(k)];
    if (o.virial)
      for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) o.virial[3 * a + b] = -out.virial(a, b);
  }
};

/// What every graph-network potential behind the handle shares: the potential, its cutoff,
/// periodic evaluation and evaluation on a host neighbour list.
template <class Pot>
struct GraphNetImpl : Impl {
  template <class... Args>
  explicit GraphNetImpl(Args&&... args) : pot(std::forward<Args>(args)...) {}
  double cutoff() const override { return pot.cutoff(); }
  void compute(System<MS>& sys, const Out& o) override { write_out(pot.compute(sys, request_for(o)), sys, o); }
  void compute_edges(System<MS>& sys, const HostEdges& e, const Out& o) override {
    const auto g = graph_from_host(static_cast<int>(sys.size()), sys.x.data(), sys.cell.matrix(), e, cutoff());
    write_out(pot.compute_with_graph(sys, request_for(o), g), sys, o);
  }
  Pot pot;
};

/// True when the model configuration `c` (M3GNet, TensorNet) has element z in its table.
template <class Config>
bool in_element_table(const Config& c, int z) {
  try {
    (void)c.type_of(z);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

template <class S>
struct M3GNetImpl final : GraphNetImpl<Potential<GraphNet<M3GNet>, S, MS>> {
  M3GNetImpl(const graphnet::M3GNetModel& m, graphnet::ThreeBodyMode mode)
      : GraphNetImpl<Potential<GraphNet<M3GNet>, S, MS>>(m, mode),
        local(graphnet::M3GNetEvaluator<S>(m, mode), m.config.cutoff, m.config.data_mean),
        mode(mode) {}
  const char* kind() const override { return "m3gnet"; }
  double ghost_cutoff() const override {
    // Each block passes information one graph edge (cutoff) further; the three-body terms stay
    // within the three-body cutoff of the receiving atom. Checked in tests/capi (slow suite): with
    // ghosts to 15 Å an owned atom's energy equals its periodic one to 2e-13 eV, at 13.5 Å it is
    // off by 2.5e-7 eV.
    const auto& c = this->pot.config();
    return double(c.nblocks) * std::max(c.cutoff, c.threebody_cutoff);
  }
  bool supports(int z) const override { return in_element_table(this->pot.config(), z); }
  double energy_offset() const override { return this->pot.config().data_mean; }
  void compute_local(int n_all, int n_owned, const int* numbers, const double* pos, const Out& o) override {
    if (mode != graphnet::ThreeBodyMode::smooth)
      throw CapiNotSupported(
          "m3gnet: local (domain-decomposed) evaluation needs options threebody=smooth; matgl's three-body "
          "indexing couples atoms by their position in the edge list, so an atom's energy is not a function "
          "of its neighbourhood");
    local.evaluate(n_all, n_owned, numbers, pos, o, [this](int z) { return this->pot.config().type_of(z); });
  }

  LocalGraphNet<graphnet::M3GNetEvaluator<S>, graphnet::M3GNetOutput> local;
  graphnet::ThreeBodyMode mode;
};

template <class S>
struct TensorNetImpl final : GraphNetImpl<Potential<GraphNet<TensorNet>, S, MS>> {
  explicit TensorNetImpl(const graphnet::TensorNetModel& m)
      : GraphNetImpl<Potential<GraphNet<TensorNet>, S, MS>>(m),
        local(graphnet::TensorNetEvaluator<S>(m), m.config.cutoff, m.config.data_mean) {}
  const char* kind() const override { return "tensornet"; }
  /// The embedding reaches one cutoff, each interaction layer one more: an atom's energy depends
  /// on the atoms within (nblocks + 1) cutoffs (15 Å for the MatPES models; tests/capi).
  double ghost_cutoff() const override { return double(this->pot.config().nblocks + 1) * this->pot.cutoff(); }
  bool supports(int z) const override { return in_element_table(this->pot.config(), z); }
  double energy_offset() const override { return this->pot.config().data_mean; }
  void compute_local(int n_all, int n_owned, const int* numbers, const double* pos, const Out& o) override {
    local.evaluate(n_all, n_owned, numbers, pos, o, [this](int z) { return this->pot.config().type_of(z); });
  }

  LocalGraphNet<graphnet::TensorNetEvaluator<S>, graphnet::TensorNetOutput> local;
};

/// What MACE's local route gives LocalGraphNet (the fields it reads).
struct MACELocalOutput {
  std::vector<double> atom_energy;                   ///< eV, every atom (ghosts included)
  std::vector<std::array<double, 3>> forces;         ///< of Σ_i w_i E_i, eV/Å
  Eigen::Matrix3d virial = Eigen::Matrix3d::Zero();  ///< sym(Σ_e r_e ⊗ ∂E/∂r_e) (eV)
};

/// A MACE potential behind LocalGraphNet's evaluator interface: types are atomic numbers, and
/// the open graph becomes MACE's graph (pairs within r_max) before the weighted evaluation.
template <class Pot>
struct MACELocalEvaluator {
  explicit MACELocalEvaluator(Pot* p) : pot(p) {}
  void set_energy_weights(std::vector<double> w) { weights = std::move(w); }
  void evaluate(const std::vector<std::array<double, 3>>& x, const Eigen::Matrix3d& L, const std::vector<int>& z,
                const graphnet::PeriodicGraph& g, bool grad, MACELocalOutput& out) {
    auto r = pot->compute_weighted(graphnet::mace::mace_graph_from(g, x, L, pot->cutoff()), z, weights, grad);
    out.atom_energy = pot->state().node_energy;
    out.forces = std::move(r.forces);
    out.virial = r.virial;
  }
  Pot* pot;
  std::vector<double> weights;
};

template <class S>
struct MACEImpl final : GraphNetImpl<Potential<GraphNet<MACE>, S, MS>> {
  using Pot = Potential<GraphNet<MACE>, S, MS>;
  explicit MACEImpl(const MACE::Source& src)
      : GraphNetImpl<Pot>(src), local(MACELocalEvaluator<Pot>(&this->pot), this->pot.cutoff(), 0.0) {}
  const char* kind() const override { return "mace"; }
  /// Each interaction layer passes information one edge (r_max) further: an atom's energy
  /// depends on the atoms within num_interactions x r_max (tests/capi's ghost-shell case).
  double ghost_cutoff() const override { return double(this->pot.config().num_interactions()) * this->pot.cutoff(); }
  bool supports(int z) const override {
    const auto& t = this->pot.config().atomic_numbers;
    return std::find(t.begin(), t.end(), z) != t.end();
  }
  // energy_offset() stays 0: E0(z) is part of every atom's energy, not a per-structure constant.
  void compute_local(int n_all, int n_owned, const int* numbers, const double* pos, const Out& o) override {
    local.evaluate(n_all, n_owned, numbers, pos, o, [](int z) { return z; });
  }

  LocalGraphNet<MACELocalEvaluator<Pot>, MACELocalOutput> local;
};

#ifdef NERNST_CAPI_HAVE_CHGNET
template <class S>
struct CHGNetImpl final : GraphNetImpl<Potential<GraphNet<CHGNet>, S, MS>> {
  explicit CHGNetImpl(const graphnet::CHGNetModel& m) : GraphNetImpl<Potential<GraphNet<CHGNet>, S, MS>>(m) {}
  const char* kind() const override { return "chgnet"; }
  double ghost_cutoff() const override { return 0.0; }
  bool supports(int z) const override { return z >= 1 && z <= max_atomic_number; }
  void compute_local(int, int, const int*, const double*, const Out&) override {
    throw CapiNotSupported("chgnet: local (domain-decomposed) evaluation is not implemented; use nernst_compute");
  }
};
#endif

struct LJImpl final : Impl {
  explicit LJImpl(const LennardJones& p) : pot(p) {}
  const char* kind() const override { return "lj"; }
  double cutoff() const override { return pot.cutoff(); }
  double ghost_cutoff() const override { return pot.cutoff(); }
  bool supports(int z) const override { return z >= 1 && z <= max_atomic_number; }
  void compute(System<MS>& sys, const Out& o) override {
    pot.invalidate();  // the host may have reordered or re-wrapped its atoms since the last call
    write_out(pot.compute(sys, request_for(o)), sys, o);
  }
  /// Half of every pair energy to each partner; forces of the owned atoms' energies only.
  void compute_local(int n_all, int n_owned, const int*, const double* pos, const Out& o) override {
    const auto& p = pot.parameters();
    std::vector<std::array<double, 3>> x(static_cast<std::size_t>(n_all));
    for (int i = 0; i < n_all; ++i)
      for (int k = 0; k < 3; ++k) x[static_cast<std::size_t>(i)][static_cast<std::size_t>(k)] = pos[3 * i + k];
    graphnet::PeriodicGraph g;
    build_open_graph(x, p.cutoff, g);
    std::vector<double> f(3 * static_cast<std::size_t>(n_all), 0.0), ea(static_cast<std::size_t>(n_owned), 0.0);
    double W[9] = {0};
    const double eshift = pot.shift_energy();
    for (std::size_t e = 0; e < g.size(); ++e) {
      const int i = g.src[e], j = g.dst[e];
      if (i >= n_owned) continue;
      double r[3], r2 = 0;
      for (int k = 0; k < 3; ++k) {
        r[k] = x[static_cast<std::size_t>(j)][static_cast<std::size_t>(k)] - x[static_cast<std::size_t>(i)][static_cast<std::size_t>(k)];
        r2 += r[k] * r[k];
      }
      const double s2 = p.sigma * p.sigma / r2, s6 = s2 * s2 * s2;
      ea[static_cast<std::size_t>(i)] += 0.5 * (4.0 * p.epsilon * (s6 * s6 - s6) - eshift);
      const double dphi_over_r = 4.0 * p.epsilon * (-12.0 * s6 * s6 + 6.0 * s6) / r2;  // φ'(r)/r
      for (int k = 0; k < 3; ++k) {
        const double gk = 0.5 * dphi_over_r * r[k];  // ∂(½φ)/∂r_k
        f[3 * static_cast<std::size_t>(i) + static_cast<std::size_t>(k)] += gk;
        f[3 * static_cast<std::size_t>(j) + static_cast<std::size_t>(k)] -= gk;
        for (int a = 0; a < 3; ++a) W[3 * a + k] -= r[a] * gk;
      }
    }
    if (o.energy) *o.energy = std::accumulate(ea.begin(), ea.end(), 0.0);
    if (o.atom_energies) std::copy(ea.begin(), ea.end(), o.atom_energies);
    if (o.forces) std::copy(f.begin(), f.end(), o.forces);
    if (o.virial) std::copy(W, W + 9, o.virial);
  }
  Potential<LennardJones, double, MS> pot;
};

/// "a=1,b=2" -> map; keys lower-case, no spaces.
std::map<std::string, std::string> parse_kv(const std::string& s, const std::string& what) {
  std::map<std::string, std::string> kv;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item.erase(std::remove_if(item.begin(), item.end(), [](unsigned char c) { return std::isspace(c); }), item.end());
    if (item.empty()) continue;
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) throw ValueError(what + ": expected key=value, got '" + item + "'");
    kv[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return kv;
}

double to_double(const std::string& v, const std::string& key) {
  std::size_t pos = 0;
  double d = 0;
  try {
    d = std::stod(v, &pos);
  } catch (const std::exception&) {
    pos = 0;
  }
  if (pos != v.size() || v.empty()) throw ValueError("lj spec: " + key + "='" + v + "' is not a number");
  return d;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

/// The model specs make_impl accepts, for its error messages.
const std::string kAcceptedSpecs =
    "a matgl model directory (M3GNet or TensorNet), a mace-torch .model file (MACE), a CHGNet .pth.tar, or lj:...";

std::unique_ptr<Impl> make_impl(const std::string& spec, const std::string& options) {
  auto opt = parse_kv(options, "options");
  const std::string precision = opt.count("precision") ? opt["precision"] : "double";
  const std::string tb = opt.count("threebody") ? opt["threebody"] : "matgl";
  opt.erase("precision");
  opt.erase("threebody");
  if (!opt.empty()) throw ValueError("options: unknown key '" + opt.begin()->first + "' (known: threebody, precision)");
  if (precision != "double" && precision != "float")
    throw ValueError("options: precision must be double or float, got '" + precision + "'");
  if (tb != "matgl" && tb != "smooth") throw ValueError("options: threebody must be matgl or smooth, got '" + tb + "'");

  if (spec.rfind("lj:", 0) == 0) {
    auto kv = parse_kv(spec.substr(3), "lj spec");
    LennardJones p;
    for (const auto& [k, v] : kv) {
      if (k == "epsilon") p.epsilon = to_double(v, k);
      else if (k == "sigma") p.sigma = to_double(v, k);
      else if (k == "cutoff") p.cutoff = to_double(v, k);
      else if (k == "shift") p.shift = to_double(v, k) != 0.0;
      else throw ValueError("lj spec: unknown key '" + k + "' (known: epsilon, sigma, cutoff, shift)");
    }
    if (!kv.count("epsilon") || !kv.count("sigma") || !kv.count("cutoff"))
      throw ValueError("lj spec: needs epsilon, sigma and cutoff, e.g. lj:epsilon=0.01,sigma=3.0,cutoff=8.0");
    return std::make_unique<LJImpl>(p);
  }
  if (ends_with(spec, ".pth.tar") || ends_with(spec, ".pth")) {
#ifdef NERNST_CAPI_HAVE_CHGNET
    const auto model = CHGNet::load(spec);
    if (precision == "float") return std::make_unique<CHGNetImpl<float>>(model);
    return std::make_unique<CHGNetImpl<double>>(model);
#else
    throw NotSupported("CHGNet is not available in this build");
#endif
  }
  namespace fs = std::filesystem;
  if (ends_with(spec, ".model") && !fs::is_directory(spec)) {  // what mace-torch's training writes and mace_mp() loads
    if (!fs::exists(spec)) throw IOError("'" + spec + "' does not exist (expected a mace-torch .model file)");
    if (tb != "matgl") throw ValueError("options: threebody applies to M3GNet only; '" + spec + "' is a MACE model");
    const auto source = MACE::load(spec);
    if (precision == "float") return std::make_unique<MACEImpl<float>>(source);
    return std::make_unique<MACEImpl<double>>(source);
  }
  if (fs::is_directory(spec)) {
    if (graphnet::is_tensornet_model_json((fs::path(spec) / "model.json").string())) {
      const auto model = TensorNet::load(spec);
      if (tb != "matgl") throw ValueError("options: threebody applies to M3GNet only; '" + spec + "' is a TensorNet model");
      if (precision == "float") return std::make_unique<TensorNetImpl<float>>(model);
      return std::make_unique<TensorNetImpl<double>>(model);
    }
    const auto model = M3GNet::load(spec);
    const auto mode = tb == "smooth" ? graphnet::ThreeBodyMode::smooth : graphnet::ThreeBodyMode::matgl;
    if (precision == "float") return std::make_unique<M3GNetImpl<float>>(model, mode);
    return std::make_unique<M3GNetImpl<double>>(model, mode);
  }
  if (!fs::exists(spec))
    throw IOError("'" + spec + "' does not exist (expected " + kAcceptedSpecs + ")");
  throw ValueError("'" + spec + "' is not a model: expected " + kAcceptedSpecs);
}

thread_local std::string create_error;

/// Status code of an exception (most specific class first).
nernst_status status_of(const std::exception& e) {
  if (dynamic_cast<const ParseError*>(&e)) return NERNST_ERROR_PARSE;
  if (dynamic_cast<const IOError*>(&e)) return NERNST_ERROR_IO;
  if (dynamic_cast<const NotSupported*>(&e) || dynamic_cast<const CapiNotSupported*>(&e))
    return NERNST_ERROR_NOT_SUPPORTED;
  if (dynamic_cast<const ValueError*>(&e)) return NERNST_ERROR_INVALID_ARGUMENT;
  return NERNST_ERROR_RUNTIME;
}

/// Runs f, mapping exceptions to status codes and a message.
template <class F>
nernst_status guarded(std::string& msg, F&& f) {
  try {
    f();
    msg.clear();
    return NERNST_OK;
  } catch (const std::exception& e) {
    msg = e.what();
    return status_of(e);
  } catch (...) {
    msg = "unknown exception";
    return NERNST_ERROR_RUNTIME;
  }
}

Eigen::Matrix3d cell_matrix(const double* cell) {
  if (!cell) throw ValueError("cell must not be NULL");
  Eigen::Matrix3d L;
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) {
      if (!std::isfinite(cell[3 * a + b])) throw ValueError("cell has a non-finite entry");
      L(a, b) = cell[3 * a + b];
    }
  return L;
}

void check_atoms(int n, const int* numbers, const double* positions) {
  if (n < 0) throw ValueError("number of atoms must be >= 0, got " + std::to_string(n));
  if (n > 0 && (!numbers || !positions)) throw ValueError("numbers and positions must not be NULL");
}

}  // namespace

struct nernst_potential {
  std::unique_ptr<Impl> impl;
  std::string error;
};

extern "C" {

int nernst_api_version(void) { return NERNST_C_API_VERSION; }

const char* nernst_version(void) { return NERNST_VERSION_STRING " (" NERNST_GIT_HASH ")"; }

const char* nernst_status_string(nernst_status s) {
  switch (s) {
    case NERNST_OK: return "ok";
    case NERNST_ERROR_INVALID_ARGUMENT: return "invalid argument";
    case NERNST_ERROR_IO: return "I/O error";
    case NERNST_ERROR_PARSE: return "parse error";
    case NERNST_ERROR_NOT_SUPPORTED: return "not supported";
    case NERNST_ERROR_RUNTIME: return "runtime error";
  }
  return "unknown status";
}

nernst_status nernst_potential_create(const char* spec, const char* options, nernst_potential** out) {
  if (out) *out = nullptr;
  std::unique_ptr<nernst_potential> h;
  const nernst_status st = guarded(create_error, [&] {
    if (!out) throw ValueError("nernst_potential_create: out must not be NULL");
    if (!spec || !*spec) throw ValueError("nernst_potential_create: empty model spec");
    ensure_kokkos();
    h = std::make_unique<nernst_potential>();
    h->impl = make_impl(spec, options ? options : "");
  });
  if (st == NERNST_OK) *out = h.release();
  return st;
}

const char* nernst_create_error(void) { return create_error.c_str(); }

void nernst_potential_destroy(nernst_potential* pot) { delete pot; }

const char* nernst_potential_last_error(const nernst_potential* pot) {
  return pot ? pot->error.c_str() : "NULL nernst_potential handle";
}

const char* nernst_potential_kind(const nernst_potential* pot) { return pot ? pot->impl->kind() : ""; }
double nernst_potential_cutoff(const nernst_potential* pot) { return pot ? pot->impl->cutoff() : 0.0; }
double nernst_potential_ghost_cutoff(const nernst_potential* pot) { return pot ? pot->impl->ghost_cutoff() : 0.0; }
int nernst_potential_supports_element(const nernst_potential* pot, int z) { return pot && pot->impl->supports(z) ? 1 : 0; }
double nernst_potential_energy_offset(const nernst_potential* pot) { return pot ? pot->impl->energy_offset() : 0.0; }

nernst_status nernst_compute(nernst_potential* pot, int n, const int* numbers, const double* positions,
                             const double* cell, const int* pbc, double* energy, double* forces, double* stress,
                             double* virial, double* atom_energies) {
  if (!pot) return NERNST_ERROR_INVALID_ARGUMENT;
  return guarded(pot->error, [&] {
    check_atoms(n, numbers, positions);
    if (pbc && !(pbc[0] && pbc[1] && pbc[2]))
      throw CapiNotSupported("nernst_compute needs a fully periodic cell; use nernst_compute_local for open boundaries");
    auto sys = make_system(n, numbers, positions, cell_matrix(cell));
    pot->impl->compute(sys, Out{energy, forces, stress, virial, atom_energies});
  });
}

nernst_status nernst_compute_neighbors(nernst_potential* pot, int n, const int* numbers, const double* positions,
                                       const double* cell, int n_edges, const int* edge_i, const int* edge_j,
                                       const int* edge_shift, double* energy, double* forces, double* stress,
                                       double* virial, double* atom_energies) {
  if (!pot) return NERNST_ERROR_INVALID_ARGUMENT;
  return guarded(pot->error, [&] {
    check_atoms(n, numbers, positions);
    auto sys = make_system(n, numbers, positions, cell_matrix(cell));
    pot->impl->compute_edges(sys, HostEdges{n_edges, edge_i, edge_j, edge_shift},
                             Out{energy, forces, stress, virial, atom_energies});
  });
}

nernst_status nernst_compute_local(nernst_potential* pot, int n_all, int n_owned, const int* numbers,
                                   const double* positions, double* energy, double* forces, double* virial,
                                   double* atom_energies) {
  if (!pot) return NERNST_ERROR_INVALID_ARGUMENT;
  return guarded(pot->error, [&] {
    check_atoms(n_all, numbers, positions);
    if (n_owned < 0 || n_owned > n_all)
      throw ValueError("n_owned must be in 0..n_all (got " + std::to_string(n_owned) + " of " + std::to_string(n_all) + ")");
    for (int i = 0; i < n_all; ++i)
      if (!pot->impl->supports(numbers[i]))
        throw ValueError("atom " + std::to_string(i) + ": element Z=" + std::to_string(numbers[i]) + " is not supported by the model");
    if (pot->impl->ghost_cutoff() <= 0.0)
      throw CapiNotSupported(std::string(pot->impl->kind()) + ": local evaluation is not supported");
    pot->impl->compute_local(n_all, n_owned, numbers, positions, Out{energy, forces, nullptr, virial, atom_energies});
  });
}

}  // extern "C"
