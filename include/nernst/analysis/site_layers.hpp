#pragma once
/// \file
/// \brief Layers of sites along a lattice direction, and the jumps of a site analysis
/// (Estimator<SiteAnalysis>) classified as within-layer or cross-layer, per layer pair and per
/// layer, with counts and rates.
///
/// Why: in layered conductors (Li3InCl6, Li3YCl6: Li between In/Y–Cl layers) the mechanism is read
/// from how often ions hop within a Li layer against across the metal layers; the jump types of
/// the sites file (oct_L, oct_M, …) do not say which layer a site is in.
///
/// Layers (gap clustering, periodic): the sites' fractional coordinates along the chosen lattice
/// vector are sorted on the circle [0, 1); a layer ends where the gap to the next coordinate,
/// measured as a distance perpendicular to the lattice planes (Δf × the cell's perpendicular width
/// along that vector), exceeds `tolerance_A`. The walk starts after the largest gap, so a layer
/// across the cell face (f ≈ 0.98 and 0.02) is one layer. Chaining: sites spread evenly with
/// gaps below the tolerance form one layer however thick. Layers are numbered L0, L1, … in order
/// of their mean coordinate (circular mean) in [0, 1).
///
/// Rates (jumps per second per mobile ion, GEMDAT's convention): the whole-trajectory jumps are
/// put into the analysis parts by their stop time (parts = the frames of SitePart::n_frames_states,
/// numpy.array_split), rate = mean over parts of n_p / (n · N·Δt / P), std with ddof = 1. Unlike
/// GEMDAT's per-type rates no jump is lost at part boundaries, so the counts of the classes add up
/// to n_jumps. Per layer, the rate per *resident* ion divides by the fraction of ions on the
/// layer's sites (occupancy), i.e. how often an ion in that layer hops.

#include <nernst/analysis/site_analysis.hpp>
#include <nernst/analysis/site_list.hpp>
#include <nernst/core/error.hpp>
#include <nernst/core/lattice.hpp>
#include <nernst/core/macros.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <map>
#include <numeric>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace analysis {

/// Sites grouped into layers along one lattice vector.
struct SiteLayers {
  int axis = 2;                        ///< lattice vector across the layers (0 a, 1 b, 2 c)
  double tolerance_A = 0.5;            ///< largest gap inside a layer (Å, perpendicular to the planes)
  double width_A = 0;                  ///< the cell's width perpendicular to the planes
  std::vector<int> layer_of_site;      ///< per site (SiteList order)
  std::vector<double> position_frac;   ///< per layer: mean coordinate along `axis`, in [0, 1)
  std::vector<std::size_t> n_sites;    ///< per layer

  std::size_t n_layers() const { return position_frac.size(); }
  static std::string name(int layer) { return "L" + std::to_string(layer); }
};

/// "a", "b", "c" (or 0, 1, 2) → lattice vector index; anything else is an error naming the choices.
inline int parse_lattice_axis(const std::string& s) {
  if (s == "a" || s == "0") return 0;
  if (s == "b" || s == "1") return 1;
  if (s == "c" || s == "2") return 2;
  throw ValueError("unknown lattice direction '" + s + "' for layers (choose a, b or c)");
}

/// Groups the sites into layers along lattice vector `axis` (definition in the file comment).
inline SiteLayers assign_layers(const SiteList& sites, const Lattice& lat, int axis, double tolerance_A) {
  if (axis < 0 || axis > 2) throw ValueError("layers: the lattice direction must be a, b or c");
  if (!(tolerance_A > 0)) throw ValueError("layers: the tolerance must be positive");
  if (sites.size() == 0) throw ValueError(sites.source + ": no sites to put into layers");
  SiteLayers L;
  L.axis = axis;
  L.tolerance_A = tolerance_A;
  L.width_A = lat.perpendicular_widths()[static_cast<std::size_t>(axis)];
  const std::size_t S = sites.size();
  std::vector<double> f(S);
  for (std::size_t k = 0; k < S; ++k) f[k] = sites.frac[k][axis] - std::floor(sites.frac[k][axis]);
  std::vector<std::size_t> order(S);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return f[a] < f[b]; });
  // gap[i]: from order[i] to the next on the circle
  std::vector<double> gap(S);
  for (std::size_t i = 0; i < S; ++i) gap[i] = i + 1 < S ? f[order[i + 1]] - f[order[i]] : f[order[0]] + 1.0 - f[order[i]];
  const std::size_t largest = static_cast<std::size_t>(std::max_element(gap.begin(), gap.end()) - gap.begin());
  L.layer_of_site.assign(S, -1);
  std::vector<std::vector<double>> members;  // unwrapped coordinates per provisional layer
  for (std::size_t step = 0; step < S; ++step) {
    const std::size_t i = (largest + 1 + step) % S;
    const double x = f[order[i]];
    if (members.empty() || gap[(i + S - 1) % S] * L.width_A > tolerance_A) members.emplace_back();
    const double base = members.back().empty() ? x : members.back().front();
    members.back().push_back(x < base ? x + 1.0 : x);
    L.layer_of_site[order[i]] = static_cast<int>(members.size()) - 1;
  }
  // number the layers by their mean coordinate in [0, 1)
  std::vector<double> pos;
  for (const auto& m : members) {
    const double mean = std::accumulate(m.begin(), m.end(), 0.0) / static_cast<double>(m.size());
    pos.push_back(mean - std::floor(mean));
  }
  std::vector<int> rank(members.size());
  std::vector<std::size_t> by_pos(members.size());
  std::iota(by_pos.begin(), by_pos.end(), std::size_t{0});
  std::stable_sort(by_pos.begin(), by_pos.end(), [&](std::size_t a, std::size_t b) { return pos[a] < pos[b]; });
  for (std::size_t r = 0; r < by_pos.size(); ++r) {
    rank[by_pos[r]] = static_cast<int>(r);
    L.position_frac.push_back(pos[by_pos[r]]);
    L.n_sites.push_back(members[by_pos[r]].size());
  }
  for (auto& l : L.layer_of_site) l = rank[static_cast<std::size_t>(l)];
  return L;
}

/// Counts and rates of one class of jumps ("within", "cross", or a layer pair "L0->L1").
struct JumpClassStats {
  std::size_t count = 0;
  ValueStd rate_per_s;  ///< per mobile ion, mean ± std over parts
};

/// One layer: its sites' occupancy and the jumps that start in it.
struct LayerStats {
  double position_frac = 0;
  std::size_t n_sites = 0;
  double ion_fraction = 0;       ///< fraction of the mobile ions on the layer's sites (time average)
  std::size_t n_within = 0, n_out = 0;  ///< jumps inside the layer, jumps leaving it
  double rate_within_per_resident_s = 0, rate_out_per_resident_s = 0;  ///< per ion in the layer
};

struct LayerJumpStats {
  SiteLayers layers;
  std::map<std::string, JumpClassStats> classes;  ///< "within", "cross", and every layer pair with jumps
  std::vector<LayerStats> per_layer;
};

namespace layer_detail {

/// Per part, the number of jumps (of the whole-trajectory table) whose stop time lies in it.
inline std::vector<std::vector<std::size_t>> part_of_jumps(const SiteAnalysisResult& r) {
  std::vector<std::size_t> end;
  std::size_t t = 0;
  for (const auto& p : r.parts) end.push_back(t += p.n_frames_states);
  std::vector<std::vector<std::size_t>> in(end.size());
  for (std::size_t k = 0; k < r.jumps.size(); ++k) {
    const auto stop = static_cast<std::size_t>(r.jumps[k].stop_time);
    const std::size_t p = static_cast<std::size_t>(std::upper_bound(end.begin(), end.end(), stop) - end.begin());
    in[std::min(p, end.size() - 1)].push_back(k);
  }
  return in;
}

}  // namespace layer_detail

/// Classifies the jumps of `r` (sites in the order of the SiteList the layers were built from).
/// Refused when GEMDAT's integer remap has shifted the site indices (docs/jumps.md): the layer of
/// a shifted index is another site's.
inline LayerJumpStats layer_jump_stats(const SiteAnalysisResult& r, const SiteLayers& layers) {
  const std::size_t S = r.n_sites();
  if (layers.layer_of_site.size() != S)
    throw ValueError("layers: built for " + std::to_string(layers.layer_of_site.size()) + " sites, the analysis has " + std::to_string(S));
  if (r.integer_remap_shifted && !r.integer_remap_fixed)
    throw ValueError("layers: GEMDAT's integer remap shifted the site indices (a site of a labelled group is never visited), "
                     "so jumps cannot be put into layers; use --fix-integer-remap");
  if (r.parts.empty()) throw ValueError("layers: the analysis has no parts");
  LayerJumpStats st;
  st.layers = layers;
  const auto parts = layer_detail::part_of_jumps(r);
  const double P = static_cast<double>(parts.size());
  const double part_time = static_cast<double>(r.n_atoms) * r.total_time_s / P;
  std::map<std::string, std::vector<double>> per_part;
  auto count = [&](const std::string& key, std::size_t p) {
    auto& v = per_part[key];
    v.resize(parts.size(), 0.0);
    v[p] += 1;
  };
  per_part["within"].assign(parts.size(), 0.0);
  per_part["cross"].assign(parts.size(), 0.0);
  st.per_layer.resize(layers.n_layers());
  for (std::size_t p = 0; p < parts.size(); ++p)
    for (std::size_t k : parts[p]) {
      const auto& j = r.jumps[k];
      const int a = layers.layer_of_site[site_detail::site_index(j.start, S)], b = layers.layer_of_site[site_detail::site_index(j.dest, S)];
      count(a == b ? "within" : "cross", p);
      count(SiteLayers::name(a) + "->" + SiteLayers::name(b), p);
      (a == b ? st.per_layer[static_cast<std::size_t>(a)].n_within : st.per_layer[static_cast<std::size_t>(a)].n_out) += 1;
    }
  for (const auto& [key, v] : per_part) {
    JumpClassStats c;
    c.count = static_cast<std::size_t>(std::accumulate(v.begin(), v.end(), 0.0));
    const ValueStd m = site_detail::mean_std(v, 1);
    c.rate_per_s = {m.value / part_time, m.std / part_time};
    st.classes[key] = c;
  }
  const double ion_time = static_cast<double>(r.n_atoms) * r.total_time_s;
  for (std::size_t l = 0; l < layers.n_layers(); ++l) {
    auto& s = st.per_layer[l];
    s.position_frac = layers.position_frac[l];
    s.n_sites = layers.n_sites[l];
    for (std::size_t k = 0; k < S; ++k)
      if (layers.layer_of_site[k] == static_cast<int>(l)) s.ion_fraction += r.occupancy[k] / static_cast<double>(r.n_atoms);
    const double resident = s.ion_fraction * ion_time;
    s.rate_within_per_resident_s = resident > 0 ? static_cast<double>(s.n_within) / resident : 0.0;
    s.rate_out_per_resident_s = resident > 0 ? static_cast<double>(s.n_out) / resident : 0.0;
  }
  return st;
}

}  // namespace analysis
NERNST_NAMESPACE_END
