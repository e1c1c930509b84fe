#pragma once
/// \file
/// \brief Electrostatic ranking of the orderings of one supercell. The Ewald energy is a
/// quadratic form in the site charges, E = ½ qᵀ Φ q (potential/ewald.hpp), so Φ over all
/// supercell sites is computed once and each configuration costs O(n_occ²) multiply–adds over
/// its charged active sites; spectator–spectator and spectator–active terms are folded into a
/// constant and a per-site linear term. TopK keeps the K lowest energies in a bounded heap.

#include <nernst/enumerate/enumerator.hpp>
#include <nernst/potential/ewald.hpp>

#include <algorithm>
#include <queue>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace enumerate {

class EwaldRanker {
 public:
  /// `group`/`active`: the supercell (Enumerator<HNF>::active_group); `label_charge`: charge
  /// of every label (0 for vacancies).
  EwaldRanker(const Enumerator<HNF>& e, const SupercellGroup& group, const std::vector<int>& active,
              const std::vector<double>& label_charge, EwaldParameters p = {}) {
    const auto& ml = e.parent();
    const int N = group.size();
    const Lattice cell = group.lattice(ml.lattice);
    std::vector<Eigen::Vector3d> r(static_cast<std::size_t>(N));
    for (int s = 0; s < N; ++s) r[static_cast<std::size_t>(s)] = cell.to_cart(group.frac(e.cell(), s));
    std::vector<int> pos(static_cast<std::size_t>(N), -1);
    for (std::size_t i = 0; i < active.size(); ++i) pos[static_cast<std::size_t>(active[i])] = static_cast<int>(i);
    // Number of atoms (for the automatic split): spectators with nonzero charge + active sites
    // times the mean occupation is not known here; the site count is a fine proxy.
    const Eigen::MatrixXd phi = ewald_matrix(cell, r, p, static_cast<std::size_t>(N));
    na_ = static_cast<int>(active.size());
    nl_ = static_cast<int>(label_charge.size());
    charge_ = label_charge;
    std::vector<double> qfix(static_cast<std::size_t>(N), 0.0);
    n_fixed_atoms_ = 0;
    for (int s = 0; s < N; ++s)
      if (pos[static_cast<std::size_t>(s)] < 0) {
        const int l = ml.allowed[static_cast<std::size_t>(s / group.n)][0];
        qfix[static_cast<std::size_t>(s)] = label_charge[static_cast<std::size_t>(l)];
        if (ml.label_z.empty() || ml.label_z[static_cast<std::size_t>(l)] != 0) ++n_fixed_atoms_;
      }
    is_atom_.assign(static_cast<std::size_t>(nl_), 1);
    for (int l = 0; l < nl_; ++l)
      if (!ml.label_z.empty() && ml.label_z[static_cast<std::size_t>(l)] == 0) is_atom_[static_cast<std::size_t>(l)] = 0;
    constant_ = 0;
    for (int s = 0; s < N; ++s)
      for (int t = 0; t < N; ++t) constant_ += 0.5 * qfix[static_cast<std::size_t>(s)] * qfix[static_cast<std::size_t>(t)] * phi(s, t);
    lin_.assign(static_cast<std::size_t>(na_) * static_cast<std::size_t>(nl_), 0.0);
    pair_.assign(static_cast<std::size_t>(na_) * static_cast<std::size_t>(na_), 0.0);
    for (int a = 0; a < na_; ++a) {
      const int sa = active[static_cast<std::size_t>(a)];
      double v = 0;
      for (int s = 0; s < N; ++s) v += phi(sa, s) * qfix[static_cast<std::size_t>(s)];
      for (int l = 0; l < nl_; ++l) {
        const double q = label_charge[static_cast<std::size_t>(l)];
        lin_[static_cast<std::size_t>(a) * static_cast<std::size_t>(nl_) + static_cast<std::size_t>(l)] = q * v + 0.5 * q * q * phi(sa, sa);
      }
      for (int b = 0; b < na_; ++b)
        pair_[static_cast<std::size_t>(a) * static_cast<std::size_t>(na_) + static_cast<std::size_t>(b)] = phi(sa, active[static_cast<std::size_t>(b)]);
    }
    occ_.resize(static_cast<std::size_t>(na_));
    occ_q_.resize(static_cast<std::size_t>(na_));
  }

  /// Ewald energy (eV) of the supercell with the active sites labelled `l`.
  double energy(const Label* l) const {
    double e = constant_;
    int m = 0;
    for (int a = 0; a < na_; ++a) {
      const double q = charge_[l[a]];
      e += lin_[static_cast<std::size_t>(a) * static_cast<std::size_t>(nl_) + l[a]];
      if (q != 0) occ_[static_cast<std::size_t>(m)] = a, occ_q_[static_cast<std::size_t>(m)] = q, ++m;
    }
    for (int i = 0; i < m; ++i) {
      const double* row = &pair_[static_cast<std::size_t>(occ_[static_cast<std::size_t>(i)]) * static_cast<std::size_t>(na_)];
      double s = 0;
      for (int j = i + 1; j < m; ++j) s += occ_q_[static_cast<std::size_t>(j)] * row[occ_[static_cast<std::size_t>(j)]];
      e += occ_q_[static_cast<std::size_t>(i)] * s;
    }
    return e;
  }
  /// Number of atoms (non-vacancy sites) of a labeling.
  int atoms(const Label* l) const {
    int n = n_fixed_atoms_;
    for (int a = 0; a < na_; ++a) n += is_atom_[l[a]];
    return n;
  }

 private:
  int na_ = 0, nl_ = 0, n_fixed_atoms_ = 0;
  double constant_ = 0;
  std::vector<double> charge_, lin_, pair_;
  std::vector<char> is_atom_;
  mutable std::vector<int> occ_;
  mutable std::vector<double> occ_q_;
};

/// The K entries with the lowest key (ties: the earlier insertion wins), bounded memory.
template <class Payload>
class TopK {
 public:
  explicit TopK(std::size_t k) : k_(k) {}
  /// True when the entry was kept.
  bool push(double key, const Payload& p) {
    if (k_ == 0) return false;
    const Entry e{key, seq_++, p};
    if (heap_.size() < k_) {
      heap_.push_back(e);
      std::push_heap(heap_.begin(), heap_.end(), less);
      return true;
    }
    if (!less(e, heap_.front())) return false;
    std::pop_heap(heap_.begin(), heap_.end(), less);
    heap_.back() = e;
    std::push_heap(heap_.begin(), heap_.end(), less);
    return true;
  }
  /// Would `key` be kept now?
  bool admits(double key) const { return heap_.size() < k_ || key < heap_.front().key; }
  /// Entries sorted by increasing key.
  std::vector<std::pair<double, Payload>> sorted() const {
    auto h = heap_;
    std::sort(h.begin(), h.end(), less);
    std::vector<std::pair<double, Payload>> out;
    for (auto& e : h) out.emplace_back(e.key, e.payload);
    return out;
  }
  std::size_t size() const { return heap_.size(); }

 private:
  struct Entry {
    double key;
    std::uint64_t seq;
    Payload payload;
  };
  static bool less(const Entry& a, const Entry& b) { return a.key < b.key || (a.key == b.key && a.seq < b.seq); }
  std::size_t k_;
  std::uint64_t seq_ = 0;
  std::vector<Entry> heap_;
};

}  // namespace enumerate
NERNST_NAMESPACE_END
