#pragma once
// `nernst jumps TRAJ --sites SITES.cif | --sites-from structure|density ... [--layers c]`: site occupation and site-to-site jumps of the mobile
// ions exactly as GEMDAT 1.7.2 computes them (analysis/site_analysis.hpp): jumps per jump type,
// rates and activation energies per type over --parts parts, tracer and jump diffusivities,
// correlation factor, attempt frequency, occupancies; JSON in GEMDAT's names and units, and
// figures (jump-matrix heat map, jumps per type against time). Sites from a CIF, from a structure
// file or from the density maxima; with --layers, within/cross-layer jump classes and D per layer.
// docs/jumps.md has the definitions.

#include <CLI/CLI.hpp>

#include <nernst/analysis/density_map.hpp>
#include <nernst/analysis/density_sites.hpp>
#include <nernst/analysis/gemdat_arrhenius.hpp>
#include <nernst/analysis/jump_plots.hpp>
#include <nernst/analysis/layer_analysis_json.hpp>
#include <nernst/analysis/layer_diffusion.hpp>
#include <nernst/analysis/png.hpp>
#include <nernst/analysis/site_analysis.hpp>
#include <nernst/analysis/site_analysis_json.hpp>
#include <nernst/analysis/site_layers.hpp>
#include <nernst/analysis/site_list.hpp>
#include <nernst/core/elements.hpp>
#include <nernst/io/extxyz.hpp>
#include <nernst/io/read.hpp>

#include <nlohmann/json.hpp>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

namespace nernst::cli {

namespace jumps_detail {

/// "1.2" → one radius; "oct_L=1.2,oct_M=1.0" → per-label radii in the order given (GEMDAT walks
/// its radius dict in insertion order, and a later label overwrites an earlier one).
inline void parse_radius(const std::string& s, analysis::SiteAnalysisOptions& o) {
  auto number = [&](const std::string& t) {
    std::size_t used = 0;
    double x = 0;
    try {
      x = std::stod(t, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != t.size() || t.empty() || !(x > 0)) throw ValueError("--radius: '" + t + "' is not a positive number (Å)");
    return x;
  };
  if (s.find('=') == std::string::npos) {
    o.radius_A = number(s);
    return;
  }
  std::size_t begin = 0;
  while (begin <= s.size()) {
    const std::size_t end = std::min(s.find(',', begin), s.size());
    const std::string item = s.substr(begin, end - begin);
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) throw ValueError("--radius: expected LABEL=R in '" + item + "' (e.g. oct_L=1.2,oct_M=1.0)");
    o.label_radii.emplace_back(item.substr(0, eq), number(item.substr(eq + 1)));
    begin = end + 1;
  }
}

/// Case-insensitive frame key lookup (ASE writes "Time", "Temperature").
inline std::optional<double> info_number(const io::Frame& f, const std::string& key) {
  for (const auto& [k, v] : f.info) {
    std::string l = k;
    for (auto& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (l == key) {
      try {
        return std::stod(v);
      } catch (const std::exception&) {
        return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

inline void print_summary(const analysis::SiteAnalysisResult& r) {
  std::printf("%zu jumps of %zu ions in %zu frames (%.4g ps); site radius %s\n", r.jumps.size(), r.n_atoms, r.n_frames,
              r.total_time_s * 1e12, r.radius.source.c_str());
  for (const auto& [k, v] : r.rates_per_s) {
    const auto it = r.jump_counts.find(k);
    const auto& e = r.activation_energies_eV.at(k);
    std::printf("  %-20s %5zu jumps  rate %.4g +- %.2g /s  E_A %.4g +- %.2g eV\n", k.c_str(), it == r.jump_counts.end() ? 0 : it->second,
                v.value, v.std, e.value, e.std);
  }
  std::printf("D* = %.4g m^2/s, D_J = %.4g m^2/s, f = %.4g, attempt frequency %.4g Hz\n", r.tracer_diffusivity_m2_s,
              r.jump_diffusivity_m2_s, r.correlation_factor, r.attempt_frequency_Hz);
  for (const auto& c : r.collective)
    std::printf("collective jumps (sites closer than %g A within %ld frames): %zu of %zu jumps\n", c.max_dist_A, c.max_steps, c.n_coll,
                r.jumps.size());
  for (const auto& w : r.warnings) std::printf("  warning: %s\n", w.c_str());
}

/// The command's options.
struct JumpsOptions {
  std::string traj, sites, species = "Li", radius, json, plot_matrix, plot_time;
  std::string sites_from, structure, layers;  ///< --sites-from structure|density, --structure FILE, --layers a|b|c
  double layer_tolerance_A = 0.5, density_interval_A = 0.3;
  analysis::DensitySiteOptions density;
  std::optional<double> temperature, dt_fs;
  double inner_fraction = 1.0;
  std::size_t min_residence = 0, parts = 10;
  int dim = 3;
  bool fix_remap = false;
  std::vector<double> collective_max_dist{1.0};
};

/// Streams the trajectory into Estimator<SiteAnalysis>. The first frame is held until the second
/// gives the time step (Time= in ps) unless --dt-fs is given; the temperature comes from
/// --temperature or the first frame's Temperature=.
/// The mobile ions' indices in a frame (an error naming the trajectory when there are none).
inline std::vector<std::size_t> mobile_atoms(const io::Frame& frame, const JumpsOptions& opt) {
  const int mobile_z = atomic_number(opt.species);
  std::vector<std::size_t> mobile;
  const auto z = frame.structure.atomic_numbers();
  for (std::size_t i = 0; i < z.size(); ++i)
    if (z[i] == mobile_z) mobile.push_back(i);
  if (mobile.empty()) throw ValueError(opt.traj + ": the trajectory has no " + opt.species + " atoms");
  return mobile;
}

/// Sites from the density maxima of the mobile ions (a first pass over the trajectory).
inline analysis::SiteList density_sites(const JumpsOptions& opt) {
  io::ExtXYZReader reader(opt.traj);
  io::Frame frame;
  std::unique_ptr<analysis::Estimator<analysis::DensityMap>> dm;
  while (reader.next(frame)) {
    if (!dm) {
      analysis::DensityMapOptions o;
      o.interval_A = opt.density_interval_A;
      dm = std::make_unique<analysis::Estimator<analysis::DensityMap>>(mobile_atoms(frame, opt), frame.structure.lattice().matrix(), o);
    }
    std::vector<double> xyz(3 * frame.structure.size());
    for (std::size_t i = 0; i < frame.structure.size(); ++i)
      for (int a = 0; a < 3; ++a) xyz[3 * i + static_cast<std::size_t>(a)] = frame.structure.cart(i)[a];
    dm->push(xyz.data(), frame.structure.lattice().matrix());
  }
  if (!dm) throw ValueError(opt.traj + ": no frames");
  return analysis::sites_from_density(*dm, opt.density, opt.traj + " (density maxima)");
}

/// The sites: a sites CIF (--sites), the mobile species' sites of a structure file in the
/// trajectory's cell (--sites-from structure --structure FILE; atom count checked), or the density
/// maxima (--sites-from density).
inline analysis::SiteList resolve_sites(const JumpsOptions& opt) {
  if (!opt.sites.empty() && !opt.sites_from.empty()) throw ValueError("give --sites FILE or --sites-from, not both");
  if (!opt.sites.empty()) return analysis::read_site_list(opt.sites);
  if (opt.sites_from == "density") return density_sites(opt);
  if (opt.sites_from != "structure") throw ValueError("give --sites FILE.cif or --sites-from structure|density");
  if (opt.structure.empty()) throw ValueError("--sites-from structure needs --structure FILE (the ordered structure or its parent)");
  io::ExtXYZReader reader(opt.traj);
  io::Frame first;
  if (!reader.next(first)) throw ValueError(opt.traj + ": no frames");
  return analysis::sites_from_structure(io::read_structure(opt.structure), atomic_number(opt.species), first.structure.lattice(),
                                        first.structure.size(), opt.structure, opt.traj);
}

inline analysis::SiteAnalysisResult analyse_trajectory(JumpsOptions& opt, analysis::SiteList sites, analysis::SiteAnalysisOptions so,
                                                       std::optional<analysis::UnwrappedIons>* track = nullptr) {
  using namespace nernst::analysis;
  io::ExtXYZReader reader(opt.traj);
  io::Frame frame;
  std::optional<Structure> first;
  std::optional<double> t_first;
  std::vector<std::size_t> mobile;
  std::unique_ptr<Estimator<SiteAnalysis>> est;
  while (reader.next(frame)) {
    if (!first && !est) {
      mobile = mobile_atoms(frame, opt);
      if (track) track->emplace(mobile);
      check_same_cell(sites, frame.structure.lattice(), opt.traj);
      if (!opt.temperature) opt.temperature = info_number(frame, "temperature");
      if (!opt.temperature) throw ValueError(opt.traj + ": no Temperature= in the frames; give --temperature (K)");
      t_first = info_number(frame, "time");
      first = std::move(frame.structure);
      continue;
    }
    if (!est) {
      if (opt.dt_fs) {
        so.dt_fs = *opt.dt_fs;
      } else {
        const auto t = info_number(frame, "time");
        if (!t || !t_first) throw ValueError(opt.traj + ": no Time= in the frames; give --dt-fs");
        so.dt_fs = (*t - *t_first) * 1000.0;  // ps → fs
        if (!(so.dt_fs > 0)) throw ValueError(opt.traj + ": Time= does not increase between the first two frames; give --dt-fs");
      }
      so.temperature_K = *opt.temperature;
      est = std::make_unique<Estimator<SiteAnalysis>>(mobile, sites, so);
      est->push(*first);
      if (track) (*track)->push(*first);
      first.reset();
    }
    est->push(frame.structure);
    if (track) (*track)->push(frame.structure);
  }
  if (!est) throw ValueError(opt.traj + ": the site analysis needs at least two frames");
  return est->result();
}

/// Layers along --layers, jumps per layer class and D per layer (docs/jumps.md#layers).
inline nlohmann::json layer_analysis(const JumpsOptions& opt, const analysis::SiteList& sites, const analysis::SiteAnalysisResult& r,
                                     const analysis::UnwrappedIons& track) {
  using namespace nernst::analysis;
  const SiteLayers layers = assign_layers(sites, Lattice(track.cell()), parse_lattice_axis(opt.layers), opt.layer_tolerance_A);
  const LayerJumpStats st = layer_jump_stats(r, layers);
  const auto D = layer_diffusivities(track, r, layers);
  std::printf("%zu layers along %s (gap tolerance %g A):", layers.n_layers(), opt.layers.c_str(), opt.layer_tolerance_A);
  for (const char* k : {"within", "cross"})
    std::printf("  %s-layer %zu jumps (%.4g +- %.2g /s)", k, st.classes.at(k).count, st.classes.at(k).rate_per_s.value,
                st.classes.at(k).rate_per_s.std);
  std::printf("\n");
  for (std::size_t l = 0; l < layers.n_layers(); ++l) {
    const auto& p = st.per_layer[l];
    std::printf("  %s at %.3f: %zu sites, %.3f of the ions, %zu within / %zu out", SiteLayers::name(static_cast<int>(l)).c_str(),
                p.position_frac, p.n_sites, p.ion_fraction, p.n_within, p.n_out);
    if (D[l].fit) std::printf(", D = %.3e +- %.1e cm^2/s\n", D[l].fit->D_cm2_s, D[l].fit->D_err_cm2_s);
    else std::printf(", no D (%s)\n", D[l].reason.c_str());
  }
  return layer_analysis_json(st, D);
}

/// What the sites were taken from, for the JSON.
inline nlohmann::json sites_source_json(const JumpsOptions& opt, const analysis::SiteList& sites) {
  if (!opt.sites.empty()) return opt.sites;
  nlohmann::json j = {{"from", opt.sites_from}};
  if (opt.sites_from == "structure") j["structure"] = opt.structure;
  if (opt.sites_from == "density")
    j["options"] = {{"interval_A", opt.density_interval_A}, {"min_fraction_of_max", opt.density.min_fraction_of_max},
                    {"min_separation_A", opt.density.min_separation_A}};
  nlohmann::json pos = nlohmann::json::array();
  for (std::size_t k = 0; k < sites.size(); ++k) pos.push_back({{"label", sites.labels[k]}, {"frac", {sites.frac[k][0], sites.frac[k][1], sites.frac[k][2]}}});
  j["positions"] = pos;
  return j;
}

/// GEMDAT's per-part tracer diffusivity (point 19; the input of its ArrheniusFit across
/// temperatures, `nernst arrhenius` on several jumps reports).
inline nlohmann::json tracer_parts_json(const JumpsOptions& opt, const analysis::SiteAnalysisResult& r, const analysis::UnwrappedIons& track) {
  try {
    const auto pt = analysis::tracer_diffusivity_per_part(track, opt.parts, opt.dim, r.time_step_s);
    return {{"mean", pt.mean_m2_s}, {"std", pt.std_m2_s}, {"parts", pt.D_parts_m2_s}, {"frames_per_part", pt.frames_per_part}};
  } catch (const Error& e) {
    return {{"error", e.what()}};
  }
}

/// Writes the JSON (GEMDAT's keys plus `extra`: sites, per-part tracer D, layers) and the figures.
inline void write_jumps_outputs(const JumpsOptions& opt, const analysis::SiteAnalysisResult& r, const nlohmann::json& extra) {
  using namespace nernst::analysis;
  const std::string name = opt.traj.substr(opt.traj.find_last_of('/') + 1);
  if (!opt.json.empty()) {
    nlohmann::json j = site_analysis_json(r);
    j["trajectory"] = opt.traj;
    j.update(extra);
    j["species"] = opt.species;
    j["inputs"] = {{"radius", opt.radius.empty() ? nlohmann::json() : nlohmann::json(opt.radius)},
                   {"inner_fraction", opt.inner_fraction}, {"min_residence", opt.min_residence}, {"n_parts", opt.parts},
                   {"fix_integer_remap", opt.fix_remap}};
    std::ofstream out(opt.json);
    if (!out) throw IOError("cannot open '" + opt.json + "' for writing");
    out << j.dump(1) << "\n";
  }
  if (!opt.plot_matrix.empty())
    write_svg_and_png(render_jump_matrix_svg(r, opt.species + " jumps between sites (" + name + ")"), opt.plot_matrix);
  if (!opt.plot_time.empty()) write_svg_and_png(render_svg(jumps_vs_time_plot(r, opt.species + " jumps per type (" + name + ")")), opt.plot_time);
}

}  // namespace jumps_detail

inline void add_jumps_command(CLI::App& app) {
  auto opt = std::make_shared<jumps_detail::JumpsOptions>();
  auto* cmd = app.add_subcommand("jumps", "Site occupation and site-to-site jumps as GEMDAT 1.7.2 computes them");
  cmd->add_option("trajectory", opt->traj, "extended XYZ trajectory (constant cell; the first frame's cell is used)")->required();
  cmd->add_option("--sites", opt->sites, "CIF with the sites (labels = site types), in the trajectory's cell");
  cmd->add_option("--sites-from", opt->sites_from,
                  "instead of --sites: 'structure' (the mobile species' sites of --structure, repeated into the trajectory's cell) "
                  "or 'density' (maxima of the mobile-ion density)")
      ->check(CLI::IsMember({"structure", "density"}));
  cmd->add_option("--structure", opt->structure, "structure file for --sites-from structure (the ordered structure or its parent)");
  cmd->add_option("--density-interval", opt->density_interval_A, "--sites-from density: grid spacing (Å)")->capture_default_str();
  cmd->add_option("--density-threshold", opt->density.min_fraction_of_max,
                  "--sites-from density: a maximum is a site when its density is at least this fraction of the highest")
      ->capture_default_str();
  cmd->add_option("--density-min-separation", opt->density.min_separation_A,
                  "--sites-from density: maxima closer than this (Å) are one site")->capture_default_str();
  cmd->add_option("--layers", opt->layers, "group the sites into layers along lattice vector a, b or c: within/cross-layer jumps, D per layer")
      ->check(CLI::IsMember({"a", "b", "c"}));
  cmd->add_option("--layer-tolerance", opt->layer_tolerance_A, "largest gap (Å, perpendicular to the layers) inside one layer")
      ->capture_default_str();
  cmd->add_option("--species", opt->species, "mobile species")->capture_default_str();
  cmd->add_option("--temperature", opt->temperature, "temperature in K for the activation energies (default: the frames' Temperature=)");
  cmd->add_option("--dt-fs", opt->dt_fs, "time between stored frames in fs (default: from the frames' Time= key, in ps)");
  cmd->add_option("--radius", opt->radius,
                  "site radius in Å, one value or LABEL=R,... per site label (default: GEMDAT's 2 x vibration amplitude, "
                  "capped below half the smallest site distance)");
  cmd->add_option("--inner-fraction", opt->inner_fraction, "inner radius / radius: an arrival counts once the ion reaches the inner sphere")
      ->capture_default_str();
  cmd->add_option("--min-residence", opt->min_residence, "frames an ion must stay on the destination for a jump to count")->capture_default_str();
  cmd->add_option("--parts", opt->parts, "parts of the trajectory for rates, activation energies and their spread")->capture_default_str();
  cmd->add_option("--dimensions", opt->dim, "dimensionality of D* and D_J")->check(CLI::Range(1, 3))->capture_default_str();
  cmd->add_flag("--fix-integer-remap", opt->fix_remap,
                "correct GEMDAT 1.7.2's site numbering when a site of a labelled group is never visited (default: as GEMDAT)");
  cmd->add_option("--collective-max-dist", opt->collective_max_dist,
                  "collective jumps: two jumps within the attempt period whose sites are closer than this (Å; several: comma-separated)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--json", opt->json, "JSON report (GEMDAT's names and units)");
  cmd->add_option("--plot-matrix", opt->plot_matrix, "SVG heat map of the site-to-site jump matrix (+ PNG when built with librsvg)");
  cmd->add_option("--plot-time", opt->plot_time, "SVG plot of the jumps per jump type in each part against time (+ PNG)");
  cmd->callback([opt]() {
    using namespace nernst::analysis;
    SiteAnalysisOptions so;
    if (!opt->radius.empty()) jumps_detail::parse_radius(opt->radius, so);
    so.inner_fraction = opt->inner_fraction;
    so.min_residence = opt->min_residence;
    so.n_parts = opt->parts;
    so.dim = opt->dim;
    so.fix_integer_remap = opt->fix_remap;
    so.trajectory_name = opt->traj;
    so.collective_max_dist_A = opt->collective_max_dist;
    const SiteList sites = jumps_detail::resolve_sites(*opt);
    std::optional<UnwrappedIons> track;
    const SiteAnalysisResult r = jumps_detail::analyse_trajectory(*opt, sites, so, &track);
    jumps_detail::print_summary(r);
    nlohmann::json extra = {{"sites", jumps_detail::sites_source_json(*opt, sites)},
                            {"tracer_diffusivity_parts_m2_s", jumps_detail::tracer_parts_json(*opt, r, *track)}};
    if (!opt->layers.empty()) extra["layers"] = jumps_detail::layer_analysis(*opt, sites, r, *track);
    jumps_detail::write_jumps_outputs(*opt, r, extra);
  });
}

}  // namespace nernst::cli
