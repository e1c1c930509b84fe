#pragma once
// `nernst info STRUCTURE`: formula, composition, cell, density, space group and either neighbour
// statistics (ordered structures) or the symmetry-distinct site table (disordered structures).

#include <CLI/CLI.hpp>

#include "number_validators.hpp"

#include <nernst/core/elements.hpp>
#include <nernst/core/structure.hpp>
#include <nernst/io/read.hpp>
#include <nernst/neighbor/neighbor_statistics.hpp>
#include <nernst/symmetry/symmetry_dataset.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace nernst::cli {

namespace detail {

inline std::string species_string(const Site& s) {
  std::string out;
  char buf[64];
  for (const auto& sp : s.species) {
    if (!out.empty()) out += " ";
    std::snprintf(buf, sizeof buf, "%s:%.4g", element_symbol(sp.z), sp.occupancy);
    out += buf;
  }
  const double vac = 1.0 - s.total_occupancy();
  if (vac > 1e-6) {
    std::snprintf(buf, sizeof buf, " (vacancy %.4g)", vac);
    out += buf;
  }
  return out;
}

/// Elements in order of first appearance (the file's order).
inline std::vector<int> element_order(const Structure& s) {
  std::vector<int> order;
  for (const auto& site : s.sites())
    for (const auto& sp : site.species)
      if (std::find(order.begin(), order.end(), sp.z) == order.end()) order.push_back(sp.z);
  return order;
}

inline void print_neighbour_statistics(const Structure& s, double cutoff) {
  const auto st = neighbor_statistics(s, cutoff);
  std::printf("neighbours  d < %.3f Å: %zu directed pairs, max %d per atom\n", cutoff, st.directed_pairs,
              st.max_neighbors);
  std::printf("  %-8s %10s %10s %10s\n", "pair", "pairs", "mean d/Å", "min d/Å");
  for (const auto& p : st.pairs) {
    const std::string name = std::string(element_symbol(p.z_a)) + "-" + element_symbol(p.z_b);
    if (p.pairs == 0)
      std::printf("  %-8s %10d %10s %10s\n", name.c_str(), 0, "-", "-");
    else
      std::printf("  %-8s %10ld %10.4f %10.4f\n", name.c_str(), p.pairs, p.mean_distance, p.min_distance);
  }
  std::printf("coordination (mean neighbours per atom within the cutoff, by neighbour element;\n"
              "              CN1: first shell, d < %.2f x the atom's nearest-neighbour distance)\n",
              st.first_shell_factor);
  std::printf("  %-4s %6s %8s %8s %8s", "el", "atoms", "d_nn/Å", "CN1", "total");
  for (int zb : st.elements) std::printf(" %7s", element_symbol(zb));
  std::printf("\n");
  for (const auto& c : st.coordination) {
    if (std::isfinite(c.nearest_distance))
      std::printf("  %-4s %6ld %8.4f %8.2f %8.2f", element_symbol(c.z), c.atoms, c.nearest_distance, c.first_shell,
                  c.total);
    else
      std::printf("  %-4s %6ld %8s %8s %8.2f", element_symbol(c.z), c.atoms, "-", "-", 0.0);
    for (double v : c.by_element) std::printf(" %7.2f", v);
    std::printf("\n");
  }
}

inline void print_site_table(const Structure& s, const symmetry::SymmetryDataset* d) {
  std::printf("sites (%s)\n", d ? "one row per symmetry-distinct site" : "all sites; symmetry unknown");
  std::printf("  %-8s %-8s %10s %10s %10s  %s\n", "label", "wyckoff", "x", "y", "z", "species:occupancy");
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (d && d->equivalent_atoms[i] != static_cast<int>(i)) continue;
    const auto& site = s[i];
    const std::string wy = d ? d->wyckoff(i) : (site.wyckoff.empty() ? std::string("-") : site.wyckoff);
    std::printf("  %-8s %-8s %10.6f %10.6f %10.6f  %s\n", site.label.c_str(), wy.c_str(), site.frac[0], site.frac[1],
                site.frac[2], species_string(site).c_str());
  }
}


}  // namespace detail

inline void add_info_command(CLI::App& app) {
  struct Options {
    std::string path;
    double cutoff = 5.0;
    double symprec = 1e-2;
  };
  auto opt = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("info", "Print formula, space group, density and neighbour statistics of a structure");
  cmd->add_option("structure", opt->path, "structure file (POSCAR, extended XYZ, CIF)")->required();
  cmd->add_option("--cutoff", opt->cutoff, "neighbour cutoff in Å (pairs with d < cutoff)")
      ->check(positive)
      ->capture_default_str();
  cmd->add_option("--symprec", opt->symprec, "symmetry tolerance in Å (spglib symprec)")
      ->check(positive)
      ->capture_default_str();
  cmd->callback([opt]() {
    const Structure s = io::read_structure(opt->path);
    const auto& L = s.lattice();
    const auto len = L.lengths();
    const auto ang = L.angles();
    std::printf("file        %s\n", opt->path.c_str());
    std::printf("formula     %s (reduced %s)\n", s.formula().c_str(), s.formula(true).c_str());
    std::printf("sites       %zu%s\n", s.size(), s.is_ordered() ? "" : " (disordered)");
    {
      const auto comp = s.composition();
      double total = 0;
      for (const auto& kv : comp) total += kv.second;
      std::printf("composition");
      for (int z : detail::element_order(s)) std::printf(" %s %.4g (%.2f%%)", element_symbol(z), comp.at(z), 100.0 * comp.at(z) / total);
      std::printf("\n");
    }
    std::printf("cell        a=%.5f b=%.5f c=%.5f Å  alpha=%.3f beta=%.3f gamma=%.3f°\n", len[0], len[1], len[2],
                ang[0], ang[1], ang[2]);
    std::printf("volume      %.4f Å³\n", L.volume());
    std::printf("density     %.4f g/cm³\n", s.density());

    std::optional<symmetry::SymmetryDataset> d;
    try {
      d = symmetry::get_symmetry_dataset(s, opt->symprec);
      std::printf("space group %s (%d), Hall %d, point group %s, %zu operations (symprec %g Å%s)\n",
                  d->international.c_str(), d->number, d->hall_number, d->point_group.c_str(), d->operations.size(),
                  opt->symprec, s.is_ordered() ? "" : ", sites typed by species and occupancy");
    } catch (const Error& e) {
      std::printf("space group undetermined: %s\n", e.what());
    }

    if (s.is_ordered()) {
      detail::print_neighbour_statistics(s, opt->cutoff);
    } else {
      detail::print_site_table(s, d ? &*d : nullptr);
      std::printf("neighbours  skipped: the structure is disordered (order it first, e.g. nernst enumerate)\n");
    }
  });
}

}  // namespace nernst::cli
