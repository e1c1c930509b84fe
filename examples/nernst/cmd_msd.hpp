#pragma once
// `nernst msd TRAJ --species Li ...`: windowed MSD, D with He et al. and block error bars,
// per-axis / per-lattice-direction D, collective (charge) D and Haven ratio, Nernst–Einstein σ,
// seeded bootstrap of D over ions and over trajectory blocks, optional density map, JSON report
// and SVG plots with PNG copies (when built with librsvg). Site-to-site hops are counted
// (analysis/hops.hpp) and a slope that is not significantly above zero, or rests on too few hops,
// is reported as "no diffusion detected, D < limit" (analysis/detection.hpp), never as a D.

#include <CLI/CLI.hpp>

#include <nernst/analysis/density_map.hpp>
#include <nernst/analysis/detection.hpp>
#include <nernst/analysis/diffusion.hpp>
#include <nernst/analysis/hops.hpp>
#include <nernst/analysis/msd.hpp>
#include <nernst/analysis/planar_diffusion.hpp>
#include <nernst/analysis/png.hpp>
#include <nernst/analysis/svg_plot.hpp>
#include <nernst/analysis/transport_plots.hpp>
#include <nernst/core/elements.hpp>
#include <nernst/io/extxyz.hpp>
#include <nernst/workflow/transport_report.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

namespace nernst::cli {

inline void add_msd_command(CLI::App& app) {
  struct Options {
    std::string traj, species = "Li", json, plot, fit = "ols", drift = "none", density;
    std::optional<double> dt_fs, fit_start, fit_end, temperature, charge;
    double skip_ps = 0.0, haven = 1.0, site_distance = 3.0, density_interval = 0.5;
    double hop_threshold = 1.5, hop_coarse_ps = 0.5, detection_k = 2.0;
    std::size_t blocks = 5, direct_window = 0, bootstrap = 2000, min_hops = 10;
    std::uint64_t seed = 20180201;
    std::vector<std::string> planes;
  };
  auto opt = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("msd", "Windowed MSD, diffusion coefficient with error bars and Nernst–Einstein conductivity");
  cmd->add_option("trajectory", opt->traj, "extended XYZ trajectory (wrapped or unwrapped positions, per-frame Lattice)")->required();
  cmd->add_option("--species", opt->species, "mobile species")->capture_default_str();
  cmd->add_option("--dt-fs", opt->dt_fs, "time between stored frames in fs (default: from the frames' Time= key, in ps)");
  cmd->add_option("--skip-ps", opt->skip_ps, "discard frames before this time (equilibration), ps")->capture_default_str();
  cmd->add_option("--fit-start-ps", opt->fit_start, "start of the fit window (default: where the log-log slope reaches ~1, ≥ 1 ps)");
  cmd->add_option("--fit-end-ps", opt->fit_end, "end of the fit window (default: min(0.7 t_total, 500 ps))");
  cmd->add_option("--fit", opt->fit, "ols | weighted (weights 1/Δt)")->check(CLI::IsMember({"ols", "weighted"}))->capture_default_str();
  cmd->add_option("--temperature", opt->temperature, "temperature in K (for σ)");
  cmd->add_option("--charge", opt->charge, "ionic charge in e (for σ)");
  cmd->add_option("--haven", opt->haven, "Haven ratio H_R used in σ = N q² D/(V kB T H_R)")->capture_default_str();
  cmd->add_option("--drift", opt->drift, "centre-of-mass drift removal: none | framework (non-mobile atoms) | system")
      ->check(CLI::IsMember({"none", "framework", "system"}))->capture_default_str();
  cmd->add_option("--site-distance", opt->site_distance, "He et al. a: mean distance between mobile-ion sites, Å")->capture_default_str();
  cmd->add_option("--blocks", opt->blocks, "number of trajectory blocks for the block estimate of D (0 = off)")->capture_default_str();
  cmd->add_option("--bootstrap", opt->bootstrap, "bootstrap resamples for the error of D over ions and over blocks (0 = off)")->capture_default_str();
  cmd->add_option("--seed", opt->seed, "bootstrap random seed")->capture_default_str();
  cmd->add_option("--direct-window", opt->direct_window, "use the streaming direct algorithm with this lag window in frames (0 = FFT, all lags)")->capture_default_str();
  cmd->add_option("--density", opt->density, "write the species' probability density as STEM.npy (+ _ab/_ac/_bc .npy and .svg)");
  cmd->add_option("--density-interval", opt->density_interval, "density grid spacing, Å")->capture_default_str();
  cmd->add_option("--hop-threshold", opt->hop_threshold, "hop counting: displacement of an ion's coarse-grained position from its resting position that counts as a site-to-site hop, Å")->capture_default_str();
  cmd->add_option("--hop-coarse-ps", opt->hop_coarse_ps, "hop counting: positions averaged over blocks of this length (at least one frame), ps")->capture_default_str();
  cmd->add_option("--detection-k", opt->detection_k, "D counts as measured only if D - k*sigma_D > 0 (sigma_D = max(He et al., ion standard error)); otherwise D < max(D,0) + k*sigma_D")->capture_default_str();
  cmd->add_option("--min-hops", opt->min_hops, "D counts as measured only with at least this many site-to-site hops")->capture_default_str();
  cmd->add_option("--plane", opt->planes,
                  "also D in lattice planes (ab, ac, bc; repeat or comma-separate): MSD of the displacements projected onto the "
                  "plane, d = 2, same fit window and error treatment as D")
      ->delimiter(',')
      ->check(CLI::IsMember({"ab", "ac", "bc", "ba", "ca", "cb"}));
  cmd->add_option("--json", opt->json, "JSON report")->required();
  cmd->add_option("--plot", opt->plot, "SVG plot of the MSD with the fit window (+ a PNG copy when built with librsvg)");
  cmd->callback([opt]() {
    using namespace nernst::analysis;
    if (opt->temperature.has_value() != opt->charge.has_value())
      throw ValueError("--temperature and --charge go together (both are needed for σ)");
    const int mobile_z = atomic_number(opt->species);
    io::detail::LineReader reader(opt->traj);
    io::Frame frame;
    std::vector<int> z;
    std::vector<double> xyz;
    std::optional<double> t_first, t_second;
    std::size_t n_read = 0;
    std::vector<std::size_t> mobile;
    // Frames are buffered only until dt is known (2 frames); then everything streams.
    std::vector<std::pair<std::vector<double>, Eigen::Matrix3d>> pending;
    std::unique_ptr<Estimator<WindowedMSD<FFTCorrelation>>> fft;
    std::unique_ptr<Estimator<WindowedMSD<DirectSum>>> direct;
    std::unique_ptr<Estimator<DensityMap>> density;
    std::unique_ptr<Estimator<HopCounting>> hops;
    double dt_ps = opt->dt_fs ? *opt->dt_fs / 1000.0 : 0.0;
    auto time_of = [&](const io::Frame& f) -> std::optional<double> {
      for (const auto& [k, v] : f.info) {  // key case as written (ASE/LAMMPS write "Time")
        std::string l = k;
        for (auto& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (l == "time") return std::stod(v);
      }
      return std::nullopt;
    };
    auto start = [&]() {
      MSDOptions mo;
      mo.dt_ps = dt_ps;
      mo.collective = true;
      mo.per_atom = true;  // per-ion MSD curves: the detection test's noise level and the bootstrap
      std::vector<AtomGroup> groups{{opt->species, mobile}};
      if (opt->drift == "system")
        for (std::size_t i = 0; i < z.size(); ++i) mo.drift_atoms.push_back(i);
      if (opt->drift == "framework") {
        for (std::size_t i = 0; i < z.size(); ++i)
          if (z[i] != mobile_z) mo.drift_atoms.push_back(i);
        if (mo.drift_atoms.empty()) throw ValueError("--drift framework: the trajectory has no framework (non-" + opt->species + ") atoms");
      }
      if (opt->direct_window) {
        mo.max_lag = opt->direct_window;
        direct = std::make_unique<Estimator<WindowedMSD<DirectSum>>>(z.size(), groups, mo);
      } else {
        fft = std::make_unique<Estimator<WindowedMSD<FFTCorrelation>>>(z.size(), groups, mo);
      }
      HopOptions ho;
      ho.threshold_A = opt->hop_threshold;
      ho.dt_ps = dt_ps;
      ho.coarse_frames = static_cast<std::size_t>(std::max(1.0, std::round(opt->hop_coarse_ps / dt_ps)));
      hops = std::make_unique<Estimator<HopCounting>>(mobile, ho);
    };
    auto push = [&](const std::vector<double>& p, const Eigen::Matrix3d& cell) {
      if (fft) fft->push(p.data(), cell);
      else direct->push(p.data(), cell);
      hops->push(p.data(), cell);
      if (!opt->density.empty()) {
        if (!density) {
          DensityMapOptions d;
          d.interval_A = opt->density_interval;
          density = std::make_unique<Estimator<DensityMap>>(mobile, cell, d);
        }
        density->push(p.data(), cell);
      }
    };
    while (io::read_extxyz_frame(reader, frame)) {
      const auto t = time_of(frame);
      if (n_read == 0) {
        z = frame.structure.atomic_numbers();
        for (std::size_t i = 0; i < z.size(); ++i)
          if (z[i] == mobile_z) mobile.push_back(i);
        if (mobile.empty()) throw ValueError("trajectory '" + opt->traj + "' has no " + opt->species + " atoms");
        t_first = t;
      } else if (n_read == 1) {
        t_second = t;
      }
      if (frame.structure.size() != z.size())
        throw ParseError(opt->traj, reader.line(), "frame has " + std::to_string(frame.structure.size()) + " atoms, the first had " + std::to_string(z.size()));
      ++n_read;
      if (opt->skip_ps > 0) {
        const double tr = t && t_first ? *t - *t_first
                                       : (opt->dt_fs ? static_cast<double>(n_read - 1) * *opt->dt_fs / 1000.0 : 0.0);
        if (!t && !opt->dt_fs) throw ValueError("--skip-ps needs Time= in the frames or --dt-fs");
        if (tr < opt->skip_ps - 1e-9) continue;
      }
      xyz.resize(3 * z.size());
      for (std::size_t i = 0; i < z.size(); ++i) {
        const auto r = frame.structure.cart(i);
        for (int k = 0; k < 3; ++k) xyz[3 * i + k] = r[k];
      }
      const Eigen::Matrix3d cell = frame.structure.lattice().matrix();
      if (!fft && !direct) {
        if (dt_ps <= 0 && !(t_first && t_second)) {
          pending.emplace_back(xyz, cell);
          continue;
        }
        if (dt_ps <= 0) dt_ps = *t_second - *t_first;
        if (!(dt_ps > 0)) throw ValueError("cannot infer the frame spacing from Time= (use --dt-fs)");
        start();
        for (const auto& [p, c] : pending) push(p, c);
        pending.clear();
      }
      push(xyz, cell);
    }
    if (!fft && !direct) throw ValueError("trajectory '" + opt->traj + "' needs at least 2 frames after --skip-ps (and Time= or --dt-fs)");
    // Block estimate (FFT path: blocks are cut from the stored trajectory after the fact).
    const std::size_t n_frames = fft ? fft->n_frames() : direct->n_frames();
    if (fft && opt->blocks >= 2 && n_frames / opt->blocks >= 4) fft->set_block_frames(n_frames / opt->blocks);
    const MSDResult res = fft ? fft->result() : direct->result();
    const auto& g = res.groups.front();
    const auto lag = res.lag_ps();
    DiffusionOptions d;
    d.fit_start_ps = opt->fit_start;
    d.fit_end_ps = opt->fit_end;
    d.weighting = opt->fit == "weighted" ? FitWeighting::InverseLag : FitWeighting::OLS;
    d.site_distance_A = opt->site_distance;
    std::vector<std::vector<double>> blocks;
    for (const auto& b : g.blocks) blocks.push_back(b.xyz());
    const auto fit = fit_diffusion(lag, g.tensor.xyz(), g.n_atoms, d, blocks);
    // Each ion's MSD over all time origins, fitted on the same window: the noise level of the
    // detection test and the units of the ion bootstrap.
    std::vector<std::vector<double>> ions(g.n_atoms);
    for (std::size_t i = 0; i < g.n_atoms; ++i)
      for (std::size_t m = 0; m < lag.size(); ++m) ions[i].push_back(g.per_atom(i, m));
    const std::vector<double> ion_D = unit_diffusion(lag, ions, fit.t_start_ps, fit.t_end_ps, d);
    DetectionOptions det;
    det.k_sigma = opt->detection_k;
    det.min_hops = opt->min_hops;
    const HopResult hop_res = hops->result();
    const DiffusivityVerdict verdict = assess_diffusivity(fit, ion_D, hop_res.n_hops, det);
    nlohmann::json j;
    j["trajectory"] = opt->traj;
    j["species"] = opt->species;
    j["n_ions"] = g.n_atoms;
    j["n_frames"] = res.n_frames;
    j["dt_ps"] = res.dt_ps;
    j["total_time_ps"] = lag.back();
    j["volume_A3"] = res.mean_volume;
    j["algorithm"] = fft ? "fft" : "direct";
    j["drift_correction"] = opt->drift;
    j.update(workflow::diffusivity_json(verdict, fit, hop_res, det));  // diffusive, D or D_upper_limit, n_hops, fit window
    j["D_err_method"] = "max(He, Zhu, Epstein, Mo, npj Comput. Mater. 4, 18 (2018): RSD = 3.43/sqrt(N_eff) + 0.04; "
                        "standard error of the per-ion D's on the fit window)";
    j["D_err_he_cm2_s"] = fit.D_err_cm2_s;
    j["D_rsd"] = fit.rsd_he;
    j["n_eff"] = fit.n_eff;
    j["site_distance_A"] = opt->site_distance;
    j["D_ols_stderr_cm2_s"] = fit.D_ols_err_cm2_s;
    auto boot_json = [](const DiffusionBootstrap& b) {
      return nlohmann::json{{"n_units", b.n_units}, {"resamples", b.resamples}, {"seed", b.seed},
                            {"D_cm2_s", b.D_cm2_s}, {"std_cm2_s", b.std_cm2_s},
                            {"interval68_cm2_s", {b.p16_cm2_s, b.p84_cm2_s}}, {"interval95_cm2_s", {b.p2_5_cm2_s, b.p97_5_cm2_s}}};
    };
    if (!fit.D_blocks_cm2_s.empty()) {
      j["D_block"] = {{"n_blocks", fit.D_blocks_cm2_s.size()}, {"frames_per_block", res.block_frames},
                      {"D_blocks_cm2_s", fit.D_blocks_cm2_s}, {"mean_cm2_s", fit.D_block_mean_cm2_s},
                      {"std_cm2_s", fit.D_block_std_cm2_s}, {"sem_cm2_s", fit.D_block_sem_cm2_s}};
      if (opt->bootstrap && fit.D_blocks_cm2_s.size() >= 2) {
        j["D_block"]["bootstrap"] = boot_json(bootstrap_diffusion(fit.D_blocks_cm2_s, opt->bootstrap, opt->seed));
        j["D_block"]["bootstrap"]["method"] = "trajectory blocks (time origins grouped into contiguous segments) resampled with replacement";
      }
    }
    if (opt->bootstrap) {
      // Each ion's MSD over all time origins is one unit: resampling ions keeps the strongly
      // correlated overlapping origins of one ion together (resampling single origins would not).
      if (g.n_atoms >= 2) {
        const auto b = bootstrap_diffusion(ion_D, opt->bootstrap, opt->seed);
        j["D_bootstrap"] = boot_json(b);
        j["D_bootstrap"]["method"] = "ions resampled with replacement, each with its MSD over all time origins, same fit window";
      }
    }
    j["fit"] = {{"start_ps", fit.t_start_ps}, {"end_ps", fit.t_end_ps}, {"n_points", fit.n_points},
                {"slope_A2_per_ps", fit.line.slope}, {"intercept_A2", fit.line.intercept}, {"r2", fit.line.r2},
                {"weighting", opt->fit}};
    // Per-axis and per-lattice-direction D: measured only where the total D is and the direction
    // passes the MSD part of the detection test; otherwise null plus an upper limit.
    std::vector<DiffusivityVerdict> Dax, Dlat;
    nlohmann::json Dax_err = nlohmann::json::array();
    DiffusionOptions d1 = d;
    d1.dim = 1;
    d1.fit_start_ps = fit.t_start_ps;
    d1.fit_end_ps = fit.t_end_ps;
    for (int a = 0; a < 3; ++a) {
      const auto fa = fit_diffusion(lag, g.tensor.axis(a), g.n_atoms, d1);
      Dax.push_back(assess_diffusivity(fa.D_cm2_s, fa.D_err_cm2_s, std::nullopt, std::nullopt, det));
      Dax_err.push_back(verdict.diffusive && Dax.back().diffusive ? nlohmann::json(fa.D_err_cm2_s) : nlohmann::json());
      const auto fl = fit_diffusion(lag, res.lattice_direction(g.name, a), g.n_atoms, d1);
      Dlat.push_back(assess_diffusivity(fl.D_cm2_s, fl.D_err_cm2_s, std::nullopt, std::nullopt, det));
    }
    j.update(workflow::axes_json(Dax, verdict.diffusive));
    j["D_axes_err_cm2_s"] = Dax_err;
    const auto lat = workflow::axes_json(Dlat, verdict.diffusive);
    j["D_lattice_abc_cm2_s"] = lat["D_axes_cm2_s"];
    j["D_lattice_abc_upper_limit_cm2_s"] = lat["D_axes_upper_limit_cm2_s"];
    // Planar D in lattice planes: the same window, He et al. and block errors and detection test
    // as the per-axis D (measured only where the total D is).
    if (!opt->planes.empty()) {
      DiffusionOptions d2 = d;
      d2.fit_start_ps = fit.t_start_ps;
      d2.fit_end_ps = fit.t_end_ps;
      nlohmann::json planes = nlohmann::json::object();
      for (const auto& name : opt->planes) {
        const auto plane = parse_lattice_plane(name);
        const auto fp = fit_planar_diffusion(res, g.name, plane, g.n_atoms, d2);
        const auto v = assess_diffusivity(fp.D_cm2_s, fp.D_err_cm2_s, std::nullopt, std::nullopt, det);
        const bool measured = verdict.diffusive && v.diffusive;
        nlohmann::json pj = {{"dim", 2},
                             {"D_cm2_s", measured ? nlohmann::json(fp.D_cm2_s) : nlohmann::json()},
                             {"D_err_cm2_s", measured ? nlohmann::json(fp.D_err_cm2_s) : nlohmann::json()},
                             {"D_upper_limit_cm2_s", measured ? nlohmann::json() : nlohmann::json(v.D_upper_limit_cm2_s)},
                             {"D_fit_cm2_s", fp.D_cm2_s},
                             {"msd", planar_msd(g.tensor, res.cell0, plane)}};
        if (!fp.D_blocks_cm2_s.empty())
          pj["D_block"] = {{"D_blocks_cm2_s", fp.D_blocks_cm2_s}, {"mean_cm2_s", fp.D_block_mean_cm2_s}, {"sem_cm2_s", fp.D_block_sem_cm2_s}};
        planes[plane_name(plane)] = pj;
        if (measured) std::printf("D(%s plane) = %.4g +- %.2g cm^2/s\n", plane_name(plane), fp.D_cm2_s, fp.D_err_cm2_s);
        else std::printf("D(%s plane) < %.2g cm^2/s\n", plane_name(plane), v.D_upper_limit_cm2_s);
      }
      j["D_plane"] = planes;
    }
    j["msd"] = {{"lag_ps", lag}, {"values", g.tensor.xyz()}, {"x", g.tensor.axis(0)}, {"y", g.tensor.axis(1)}, {"z", g.tensor.axis(2)}};
    DiffusionOptions dc = d;
    dc.fit_start_ps = fit.t_start_ps;
    dc.fit_end_ps = fit.t_end_ps;
    const auto fc = fit_diffusion(lag, g.collective, g.n_atoms, dc);
    // The collective (charge) D is noisier than the tracer D; given only where both are positive
    // and the tracer D is measured.
    const bool charge_ok = verdict.diffusive && fc.D_cm2_s > 0;
    j["D_charge_cm2_s"] = charge_ok ? nlohmann::json(fc.D_cm2_s) : nlohmann::json();
    j["haven_ratio_measured"] = charge_ok ? nlohmann::json(fit.D_cm2_s / fc.D_cm2_s) : nlohmann::json();
    j["msd_collective"] = g.collective;
    if (opt->temperature) {
      const double T = *opt->temperature, q = *opt->charge;
      auto sigma = [&](double D, double haven) {
        return nernst_einstein_mS_cm(D, static_cast<double>(g.n_atoms), q, res.mean_volume, T, haven);
      };
      j["temperature_K"] = T;
      j["charge"] = q;
      j["haven_ratio"] = opt->haven;
      j["sigma_mS_cm"] = verdict.diffusive ? nlohmann::json(sigma(fit.D_cm2_s, opt->haven)) : nlohmann::json();
      j["sigma_err_mS_cm"] = verdict.diffusive ? nlohmann::json(sigma(verdict.sigma_D_cm2_s, opt->haven)) : nlohmann::json();
      j["sigma_upper_limit_mS_cm"] = verdict.diffusive ? nlohmann::json() : nlohmann::json(sigma(verdict.D_upper_limit_cm2_s, opt->haven));
      j["sigma_charge_mS_cm"] = charge_ok ? nlohmann::json(sigma(fc.D_cm2_s, 1.0)) : nlohmann::json();
    }
    if (density) {
      density->write_npy(opt->density);
      const char* planes[3] = {"bc", "ac", "ab"};
      const char* axes[3][2] = {{"b (fractional)", "c (fractional)"}, {"a (fractional)", "c (fractional)"}, {"a (fractional)", "b (fractional)"}};
      for (int ax = 0; ax < 3; ++ax) {
        // Rows of the projection run along the first remaining axis; draw it vertically.
        write_svg_and_png(render_heatmap_svg(density->projection(ax), opt->species + " density, " + planes[ax] + " plane",
                                           axes[ax][1], axes[ax][0], "Å⁻³"),
                          opt->density + "_" + planes[ax] + ".svg");
      }
      j["density"] = {{"npy", opt->density + ".npy"}, {"shape", density->shape()}, {"interval_A", opt->density_interval}};
    }
    std::ofstream out(opt->json);
    if (!out) throw IOError("cannot open '" + opt->json + "' for writing");
    out << j.dump(1) << "\n";
    if (!opt->plot.empty()) {
      const std::string name = opt->traj.substr(opt->traj.find_last_of('/') + 1);
      const Plot p = msd_plot(opt->species + " MSD (" + std::to_string(g.n_atoms) + " ions, " + name + ")", lag, g.tensor, fit);
      write_svg_and_png(render_svg(p), opt->plot);
    }
    std::printf("%s: %s  (fit %.3g–%.3g ps, %zu hops, N_eff = %.0f)\n", opt->species.c_str(), format_diffusivity(verdict).c_str(),
                fit.t_start_ps, fit.t_end_ps, hop_res.n_hops, fit.n_eff);
    if (!verdict.diffusive) std::printf("  (%s)\n", verdict.reason.c_str());
    if (j.contains("sigma_mS_cm") && j["sigma_mS_cm"].is_number())
      std::printf("sigma = %.4g mS/cm (H_R = %g)\n", j["sigma_mS_cm"].get<double>(), opt->haven);
    else if (j.contains("sigma_upper_limit_mS_cm"))
      std::printf("sigma < %.2g mS/cm (H_R = %g)\n", j["sigma_upper_limit_mS_cm"].get<double>(), opt->haven);
  });
}

}  // namespace nernst::cli
