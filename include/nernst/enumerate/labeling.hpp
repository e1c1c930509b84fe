#pragma once
/// \file
/// \brief Labelings of the sites of one supercell: site restrictions, exact label counts,
/// ranking (a bijection between admissible labelings and 0..total-1), orbit enumeration under
/// a permutation group with a bitmap of visited ranks, and the exact Burnside orbit count.
///
/// A label is an abstract colour (a species on a site class, or a vacancy); the problem says
/// which labels each site allows and, optionally, exactly how many sites carry each label.
/// Sites that share a constrained label form a block; blocks are ranked independently (a
/// dynamic programme over "remaining counts") and combined in mixed radix, so per-orbit counts
/// (one block per orbit) and per-element counts (one block over all sites) cost the same code.

#include <nernst/core/error.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace enumerate {

using Label = std::uint8_t;

/// Which labels each site allows and, per label, the exact number of sites carrying it (-1: free).
struct LabelingProblem {
  int n_labels = 0;
  std::vector<std::vector<int>> allowed;  ///< per site, sorted label ids
  std::vector<long> counts;               ///< per label; -1 = unconstrained

  int n_sites() const { return static_cast<int>(allowed.size()); }
  bool constrained() const {
    return std::any_of(counts.begin(), counts.end(), [](long c) { return c >= 0; });
  }
};

namespace detail {

/// Union-find over sites: sites that allow a common constrained label (count >= 0) end up with
/// the same root. Returns the root of every site; the roots are the blocks of the ranker and of
/// burnside_count.
inline std::vector<int> constraint_roots(const LabelingProblem& p) {
  const int N = p.n_sites();
  std::vector<int> parent(static_cast<std::size_t>(N));
  std::iota(parent.begin(), parent.end(), 0);
  std::function<int(int)> find = [&](int i) { return parent[static_cast<std::size_t>(i)] == i ? i : parent[static_cast<std::size_t>(i)] = find(parent[static_cast<std::size_t>(i)]); };
  std::vector<int> first_with(static_cast<std::size_t>(p.n_labels), -1);
  for (int i = 0; i < N; ++i)
    for (int x : p.allowed[static_cast<std::size_t>(i)])
      if (p.counts[static_cast<std::size_t>(x)] >= 0) {
        int& f = first_with[static_cast<std::size_t>(x)];
        if (f < 0) f = i;
        else parent[static_cast<std::size_t>(find(i))] = find(f);
      }
  std::vector<int> root(static_cast<std::size_t>(N));
  for (int i = 0; i < N; ++i) root[static_cast<std::size_t>(i)] = find(i);
  return root;
}

}  // namespace detail

/// Bijective ranking of the admissible labelings of a LabelingProblem.
class LabelingRanker {
 public:
  LabelingRanker() = default;
  explicit LabelingRanker(const LabelingProblem& p) : p_(p) {
    const int N = p.n_sites();
    if (p.n_labels < 1 || p.n_labels > 255) throw ValueError("labeling: between 1 and 255 labels are supported");
    if (static_cast<int>(p.counts.size()) != p.n_labels) throw ValueError("labeling: one count (or -1) per label is needed");
    for (const auto& a : p.allowed) {
      if (a.empty()) throw ValueError("labeling: a site allows no label");
      for (int x : a)
        if (x < 0 || x >= p.n_labels) throw ValueError("labeling: label out of range");
    }
    // Union sites sharing a constrained label into blocks.
    const std::vector<int> root = detail::constraint_roots(p);
    block_of_.assign(static_cast<std::size_t>(N), -1);
    for (int i = 0; i < N; ++i) {
      const int r = root[static_cast<std::size_t>(i)];
      if (block_of_[static_cast<std::size_t>(r)] < 0) {
        block_of_[static_cast<std::size_t>(r)] = static_cast<int>(blocks_.size());
        blocks_.emplace_back();
      }
      block_of_[static_cast<std::size_t>(i)] = block_of_[static_cast<std::size_t>(r)];
      blocks_[static_cast<std::size_t>(block_of_[static_cast<std::size_t>(i)])].sites.push_back(i);
    }
    // Per block: tracked labels, radices, DP table.
    for (auto& b : blocks_) build_block(b);
    // Mixed-radix weights (last block least significant).
    unsigned __int128 w = 1;
    for (std::size_t k = blocks_.size(); k-- > 0;) {
      blocks_[k].weight = static_cast<std::uint64_t>(w);
      w *= blocks_[k].total;
      if (w > (static_cast<unsigned __int128>(1) << 62)) throw ValueError("labeling: more than 2^62 labelings; count them with burnside_count instead");
    }
    total_ = static_cast<std::uint64_t>(w);
    // Labels of each site -> digit position (for the unconstrained fast path).
    digit_.assign(static_cast<std::size_t>(N) * static_cast<std::size_t>(p.n_labels), -1);
    for (int i = 0; i < N; ++i)
      for (std::size_t k = 0; k < p.allowed[static_cast<std::size_t>(i)].size(); ++k)
        digit_[static_cast<std::size_t>(i) * static_cast<std::size_t>(p.n_labels) + static_cast<std::size_t>(p.allowed[static_cast<std::size_t>(i)][k])] = static_cast<int>(k);
    free_ = !p.constrained();
    if (free_) {
      site_weight_.assign(static_cast<std::size_t>(N), 0);
      for (const auto& b : blocks_) site_weight_[static_cast<std::size_t>(b.sites[0])] = b.weight;
    }
  }

  /// Number of admissible labelings.
  std::uint64_t total() const { return total_; }
  const LabelingProblem& problem() const { return p_; }
  bool unconstrained() const { return free_; }
  const std::vector<std::uint64_t>& site_weights() const { return site_weight_; }
  int digit(int site, int label) const { return digit_[static_cast<std::size_t>(site) * static_cast<std::size_t>(p_.n_labels) + static_cast<std::size_t>(label)]; }

  /// Rank of an admissible labeling (one label per site).
  std::uint64_t rank(const Label* l) const {
    if (free_) {
      std::uint64_t r = 0;
      for (std::size_t i = 0; i < site_weight_.size(); ++i) r += static_cast<std::uint64_t>(digit(static_cast<int>(i), l[i])) * site_weight_[i];
      return r;
    }
    std::uint64_t r = 0;
    for (const auto& b : blocks_) r += rank_block(b, l) * b.weight;
    return r;
  }

  /// The labeling of rank r.
  void unrank(std::uint64_t r, Label* l) const {
    for (const auto& b : blocks_) {
      const std::uint64_t rb = r / b.weight;
      r %= b.weight;
      unrank_block(b, rb, l);
    }
  }

 private:
  struct Block {
    std::vector<int> sites;
    std::vector<int> tracked;      ///< constrained labels of this block
    std::vector<int> slot;         ///< label -> index into tracked, -1 if free
    std::vector<std::uint64_t> radix_w;  ///< state weight per tracked label
    std::uint64_t n_states = 1, full_state = 0;
    std::vector<std::uint64_t> table;    ///< (sites+1) x n_states completions
    std::uint64_t total = 0, weight = 1;
  };

  void build_block(Block& b) {
    b.slot.assign(static_cast<std::size_t>(p_.n_labels), -1);
    for (int i : b.sites)
      for (int x : p_.allowed[static_cast<std::size_t>(i)])
        if (p_.counts[static_cast<std::size_t>(x)] >= 0 && b.slot[static_cast<std::size_t>(x)] < 0) {
          b.slot[static_cast<std::size_t>(x)] = static_cast<int>(b.tracked.size());
          b.tracked.push_back(x);
        }
    b.radix_w.resize(b.tracked.size());
    unsigned __int128 ns = 1;
    for (std::size_t k = 0; k < b.tracked.size(); ++k) {
      b.radix_w[k] = static_cast<std::uint64_t>(ns);
      b.full_state += static_cast<std::uint64_t>(p_.counts[static_cast<std::size_t>(b.tracked[k])]) * static_cast<std::uint64_t>(ns);
      ns *= static_cast<unsigned __int128>(p_.counts[static_cast<std::size_t>(b.tracked[k])] + 1);
      if (ns > 50'000'000) throw ValueError("labeling: the count constraints of one block need too large a table; split the problem");
    }
    b.n_states = static_cast<std::uint64_t>(ns);
    const std::size_t m = b.sites.size();
    b.table.assign((m + 1) * b.n_states, 0);
    b.table[m * b.n_states + 0] = 1;
    for (std::size_t j = m; j-- > 0;) {
      const auto& al = p_.allowed[static_cast<std::size_t>(b.sites[j])];
      std::uint64_t* cur = &b.table[j * b.n_states];
      const std::uint64_t* nxt = &b.table[(j + 1) * b.n_states];
      for (std::uint64_t st = 0; st < b.n_states; ++st) {
        unsigned __int128 s = 0;
        for (int x : al) {
          const int k = b.slot[static_cast<std::size_t>(x)];
          if (k < 0) s += nxt[st];
          else if (remaining(b, st, k) > 0) s += nxt[st - b.radix_w[static_cast<std::size_t>(k)]];
        }
        if (s > (static_cast<unsigned __int128>(1) << 62)) throw ValueError("labeling: more than 2^62 labelings");
        cur[st] = static_cast<std::uint64_t>(s);
      }
    }
    b.total = b.table[b.full_state];
    if (b.total == 0) throw ValueError("labeling: no labeling satisfies the requested counts");
  }
  std::uint64_t remaining(const Block& b, std::uint64_t st, int k) const {
    const std::uint64_t w = b.radix_w[static_cast<std::size_t>(k)];
    const std::uint64_t r = static_cast<std::uint64_t>(p_.counts[static_cast<std::size_t>(b.tracked[static_cast<std::size_t>(k)])] + 1);
    return (st / w) % r;
  }
  std::uint64_t rank_block(const Block& b, const Label* l) const {
    std::uint64_t r = 0, st = b.full_state;
    const std::size_t m = b.sites.size();
    for (std::size_t j = 0; j < m; ++j) {
      const int site = b.sites[j];
      const int lab = l[site];
      const std::uint64_t* nxt = &b.table[(j + 1) * b.n_states];
      for (int x : p_.allowed[static_cast<std::size_t>(site)]) {
        const int k = b.slot[static_cast<std::size_t>(x)];
        if (x == lab) {
          if (k >= 0) st -= b.radix_w[static_cast<std::size_t>(k)];
          break;
        }
        if (k < 0) r += nxt[st];
        else if (remaining(b, st, k) > 0) r += nxt[st - b.radix_w[static_cast<std::size_t>(k)]];
      }
    }
    return r;
  }
  void unrank_block(const Block& b, std::uint64_t r, Label* l) const {
    std::uint64_t st = b.full_state;
    const std::size_t m = b.sites.size();
    for (std::size_t j = 0; j < m; ++j) {
      const int site = b.sites[j];
      const std::uint64_t* nxt = &b.table[(j + 1) * b.n_states];
      for (int x : p_.allowed[static_cast<std::size_t>(site)]) {
        const int k = b.slot[static_cast<std::size_t>(x)];
        std::uint64_t c = 0, next = st;
        if (k < 0) c = nxt[st];
        else if (remaining(b, st, k) > 0) next = st - b.radix_w[static_cast<std::size_t>(k)], c = nxt[next];
        if (r < c) {
          l[site] = static_cast<Label>(x);
          st = next;
          break;
        }
        r -= c;
      }
    }
  }

  LabelingProblem p_;
  std::vector<int> block_of_;
  std::vector<Block> blocks_;
  std::vector<int> digit_;
  std::vector<std::uint64_t> site_weight_;
  std::uint64_t total_ = 0;
  bool free_ = true;
};

/// What to keep while enumerating orbits.
struct OrbitOptions {
  bool remove_superperiodic = false;  ///< drop labelings fixed by a pure translation
  bool label_exchange = false;        ///< merge labelings equal up to a permutation of labels
  bool complete_only = false;         ///< keep only labelings in which every label occurs
  std::uint64_t max_labelings = std::uint64_t(1) << 35;  ///< bitmap limit (bits)
};

/// Information passed to the visitor with each representative.
struct OrbitInfo {
  std::uint64_t rank = 0;        ///< rank of the representative (the smallest rank in its orbit)
  std::uint64_t orbit_size = 0;  ///< number of distinct labelings in the orbit (degeneracy)
  std::uint64_t index = 0;       ///< running number of this representative among those kept
};

struct OrbitStats {
  std::uint64_t labelings = 0;      ///< admissible labelings (size of the space)
  std::uint64_t orbits = 0;         ///< all orbits (= Burnside count)
  std::uint64_t superperiodic = 0;  ///< orbits dropped as superperiodic
  std::uint64_t incomplete = 0;     ///< orbits dropped as incomplete
  std::uint64_t kept = 0;           ///< orbits passed to the visitor
};

/// Label permutations that keep every site's allowed set and the label counts.
inline std::vector<std::vector<int>> label_symmetries(const LabelingProblem& p, bool exchange) {
  std::vector<int> sigma(static_cast<std::size_t>(p.n_labels));
  std::iota(sigma.begin(), sigma.end(), 0);
  std::vector<std::vector<int>> out;
  if (!exchange) {
    out.push_back(sigma);
    return out;
  }
  do {
    bool ok = true;
    for (int x = 0; x < p.n_labels && ok; ++x)
      ok = p.counts[static_cast<std::size_t>(x)] == p.counts[static_cast<std::size_t>(sigma[static_cast<std::size_t>(x)])];
    for (std::size_t i = 0; i < p.allowed.size() && ok; ++i) {
      std::vector<int> img;
      for (int x : p.allowed[i]) img.push_back(sigma[static_cast<std::size_t>(x)]);
      std::sort(img.begin(), img.end());
      ok = img == p.allowed[i];
    }
    if (ok) out.push_back(sigma);
  } while (std::next_permutation(sigma.begin(), sigma.end()));
  return out;
}

/// Visits one representative (the smallest rank) of every orbit of admissible labelings under
/// `perms` (site permutations forming a group; perms[k][i] = image of site i), in increasing
/// rank order. `is_translation[k]` marks pure translations (for superperiodicity).
/// visitor(const Label* labels, const OrbitInfo&). Memory: one bit per admissible labeling.
template <class Visitor>
OrbitStats enumerate_orbits(const LabelingRanker& ranker, const std::vector<std::vector<int>>& perms,
                            const std::vector<char>& is_translation, const OrbitOptions& opt, Visitor&& visitor) {
  const LabelingProblem& p = ranker.problem();
  const std::size_t N = static_cast<std::size_t>(p.n_sites());
  const std::uint64_t total = ranker.total();
  if (total > opt.max_labelings)
    throw ValueError("enumerate: " + std::to_string(total) + " labelings exceed the limit of " +
                     std::to_string(opt.max_labelings) + " (one bit each); count them with the Burnside count first");
  const auto sigmas = label_symmetries(p, opt.label_exchange);
  std::vector<std::uint64_t> seen((total + 63) / 64, 0);
  std::vector<Label> l(N), img(N);
  std::vector<char> used_label(static_cast<std::size_t>(p.n_labels), 0);
  for (const auto& a : p.allowed)
    for (int x : a) used_label[static_cast<std::size_t>(x)] = 1;
  OrbitStats st;
  st.labelings = total;
  const bool fast = ranker.unconstrained();
  const auto& sw = ranker.site_weights();
  // Precomputed per-perm weights for the unconstrained fast path: rank(g·l) = Σ digit_i w[π(i)].
  std::vector<std::uint64_t> pw;
  if (fast) {
    pw.resize(perms.size() * N);
    for (std::size_t k = 0; k < perms.size(); ++k)
      for (std::size_t i = 0; i < N; ++i) pw[k * N + i] = sw[static_cast<std::size_t>(perms[k][i])];
  }
  for (std::uint64_t word = 0; word < seen.size(); ++word) {
    while (seen[word] != ~std::uint64_t(0)) {
      const int bit = __builtin_ctzll(~seen[word]);
      const std::uint64_t r = word * 64 + static_cast<std::uint64_t>(bit);
      if (r >= total) break;
      ranker.unrank(r, l.data());
      std::uint64_t orbit = 0;
      bool superperiodic = false;
      for (const auto& sg : sigmas) {
        const bool id_sigma = (&sg == &sigmas[0]);
        for (std::size_t k = 0; k < perms.size(); ++k) {
          std::uint64_t rr;
          if (fast) {
            rr = 0;
            const std::uint64_t* w = &pw[k * N];
            for (std::size_t i = 0; i < N; ++i) rr += static_cast<std::uint64_t>(ranker.digit(static_cast<int>(i), sg[l[i]])) * w[i];
          } else {
            const auto& pk = perms[k];
            for (std::size_t i = 0; i < N; ++i) img[static_cast<std::size_t>(pk[i])] = static_cast<Label>(sg[l[i]]);
            rr = ranker.rank(img.data());
          }
          if (id_sigma && rr == r && k > 0 && is_translation[k]) superperiodic = true;
          std::uint64_t& wd = seen[rr >> 6];
          const std::uint64_t m = std::uint64_t(1) << (rr & 63);
          if (!(wd & m)) {
            wd |= m;
            ++orbit;
          }
        }
      }
      ++st.orbits;
      if (opt.remove_superperiodic && superperiodic) {
        ++st.superperiodic;
        continue;
      }
      if (opt.complete_only) {
        std::vector<char> present(static_cast<std::size_t>(p.n_labels), 0);
        for (std::size_t i = 0; i < N; ++i) present[l[i]] = 1;
        bool complete = true;
        for (int x = 0; x < p.n_labels; ++x)
          if (used_label[static_cast<std::size_t>(x)] && !present[static_cast<std::size_t>(x)]) complete = false;
        if (!complete) {
          ++st.incomplete;
          continue;
        }
      }
      OrbitInfo info{r, orbit, st.kept};
      ++st.kept;
      visitor(static_cast<const Label*>(l.data()), info);
    }
  }
  return st;
}

/// Exact number of orbits of admissible labelings under the group `perms` (Burnside's lemma),
/// optionally also under label exchange (unconstrained problems only). Superperiodic labelings
/// are included: this is the number enumerate_orbits visits with default options.
inline std::uint64_t burnside_count(const LabelingProblem& p, const std::vector<std::vector<int>>& perms,
                                    bool label_exchange = false) {
  const int N = p.n_sites();
  if (label_exchange && p.constrained()) throw NotSupported("burnside_count: label exchange with count constraints");
  const auto sigmas = label_symmetries(p, label_exchange);
  // Blocks as in the ranker: sites sharing a constrained label. A cycle lies in one block
  // (the group keeps allowed sets), so the fixed-point count factorises over blocks.
  std::vector<int> block(static_cast<std::size_t>(N), -1);
  int n_blocks = 0;
  {
    const std::vector<int> root = detail::constraint_roots(p);
    std::vector<int> id(static_cast<std::size_t>(N), -1);
    for (int i = 0; i < N; ++i) {
      bool tracked = false;
      for (int x : p.allowed[static_cast<std::size_t>(i)]) tracked = tracked || p.counts[static_cast<std::size_t>(x)] >= 0;
      if (!tracked) continue;
      const int r = root[static_cast<std::size_t>(i)];
      if (id[static_cast<std::size_t>(r)] < 0) id[static_cast<std::size_t>(r)] = n_blocks++;
      block[static_cast<std::size_t>(i)] = id[static_cast<std::size_t>(r)];
    }
  }
  // Per block: tracked labels and mixed-radix state weights.
  struct BlockInfo {
    std::vector<int> slot;
    std::vector<std::uint64_t> w, radix;
    std::uint64_t ns = 1, full = 0;
  };
  std::vector<BlockInfo> binfo(static_cast<std::size_t>(n_blocks));
  for (auto& b : binfo) b.slot.assign(static_cast<std::size_t>(p.n_labels), -1);
  for (int i = 0; i < N; ++i) {
    if (block[static_cast<std::size_t>(i)] < 0) continue;
    auto& b = binfo[static_cast<std::size_t>(block[static_cast<std::size_t>(i)])];
    for (int x : p.allowed[static_cast<std::size_t>(i)])
      if (p.counts[static_cast<std::size_t>(x)] >= 0 && b.slot[static_cast<std::size_t>(x)] < 0) {
        b.slot[static_cast<std::size_t>(x)] = static_cast<int>(b.w.size());
        b.w.push_back(b.ns);
        b.radix.push_back(static_cast<std::uint64_t>(p.counts[static_cast<std::size_t>(x)] + 1));
        b.full += static_cast<std::uint64_t>(p.counts[static_cast<std::size_t>(x)]) * b.ns;
        b.ns *= static_cast<std::uint64_t>(p.counts[static_cast<std::size_t>(x)] + 1);
        if (b.ns > 50'000'000) throw ValueError("burnside_count: count constraints need too large a table");
      }
  }
  std::vector<std::vector<std::size_t>> block_cycles(static_cast<std::size_t>(n_blocks));
  unsigned __int128 sum = 0;
  std::vector<char> visited(static_cast<std::size_t>(N));
  std::vector<int> cyc_site, cyc_len;
  for (const auto& perm : perms) {
    std::fill(visited.begin(), visited.end(), 0);
    cyc_site.clear();
    cyc_len.clear();
    for (int i = 0; i < N; ++i) {
      if (visited[static_cast<std::size_t>(i)]) continue;
      int len = 0;
      for (int j = i; !visited[static_cast<std::size_t>(j)]; j = perm[static_cast<std::size_t>(j)]) visited[static_cast<std::size_t>(j)] = 1, ++len;
      cyc_site.push_back(i);
      cyc_len.push_back(len);
    }
    for (const auto& sg : sigmas) {
      if (!p.constrained()) {
        unsigned __int128 f = 1;
        for (std::size_t c = 0; c < cyc_site.size(); ++c) {
          long k = 0;
          for (int x : p.allowed[static_cast<std::size_t>(cyc_site[c])]) {
            int y = x;
            for (int t = 0; t < cyc_len[c]; ++t) y = sg[static_cast<std::size_t>(y)];
            if (y == x) ++k;
          }
          f *= static_cast<unsigned __int128>(k);
        }
        sum += f;
        continue;
      }
      // Constrained: a generating-function DP over the cycles of each block; state = remaining
      // counts of the block's constrained labels. Free labels multiply by 1 per choice.
      unsigned __int128 f = 1;
      for (auto& bc : block_cycles) bc.clear();
      for (std::size_t c = 0; c < cyc_site.size(); ++c) {
        const int b = block[static_cast<std::size_t>(cyc_site[c])];
        if (b < 0) f *= static_cast<unsigned __int128>(p.allowed[static_cast<std::size_t>(cyc_site[c])].size());
        else block_cycles[static_cast<std::size_t>(b)].push_back(c);
      }
      for (int b = 0; b < n_blocks && f; ++b) {
        const auto& bi = binfo[static_cast<std::size_t>(b)];
        std::vector<unsigned __int128> cur(bi.ns, 0), nxt(bi.ns, 0);
        cur[bi.full] = 1;
        for (std::size_t c : block_cycles[static_cast<std::size_t>(b)]) {
          std::fill(nxt.begin(), nxt.end(), 0);
          const auto& al = p.allowed[static_cast<std::size_t>(cyc_site[c])];
          const std::uint64_t L = static_cast<std::uint64_t>(cyc_len[c]);
          for (std::uint64_t s = 0; s < bi.ns; ++s) {
            if (!cur[s]) continue;
            for (int x : al) {
              const int k = bi.slot[static_cast<std::size_t>(x)];
              if (k < 0) {
                nxt[s] += cur[s];
                continue;
              }
              const std::uint64_t rem = (s / bi.w[static_cast<std::size_t>(k)]) % bi.radix[static_cast<std::size_t>(k)];
              if (rem >= L) nxt[s - L * bi.w[static_cast<std::size_t>(k)]] += cur[s];
            }
          }
          std::swap(cur, nxt);
        }
        f *= cur[0];
      }
      sum += f;
    }
  }
  const unsigned __int128 order = static_cast<unsigned __int128>(perms.size()) * sigmas.size();
  if (sum % order != 0) throw Error("burnside_count: the permutations do not form a group (sum not divisible by the order)");
  const unsigned __int128 q = sum / order;
  if (q > static_cast<unsigned __int128>(~std::uint64_t(0))) throw ValueError("burnside_count: more than 2^64 orbits");
  return static_cast<std::uint64_t>(q);
}

}  // namespace enumerate
NERNST_NAMESPACE_END
