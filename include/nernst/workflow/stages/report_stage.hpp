#pragma once
/// \file
/// \brief The pipeline's last stage, `report`: report.md, report.json and the ranking figure,
/// from the results of every earlier stage.
///
/// Inputs: the results of enumerate, relax, (active learning) and every ordering's MD, transport
/// and Arrhenius stages, and the options a reader needs. Output: `report.md`, `report.json`
/// (format "nernst pipeline report 1": the inputs plus the execution record) and `ranking.svg`.
/// Resume rule: reruns whole whenever an input changed.

#include <nernst/analysis/png.hpp>
#include <nernst/analysis/svg_plot.hpp>
#include <nernst/workflow/execution_record.hpp>
#include <nernst/workflow/pipeline_run.hpp>
#include <nernst/workflow/stages/enumerate_stage.hpp>
#include <nernst/workflow/transport_report.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <iomanip>
#include <sstream>
#include <string>

NERNST_NAMESPACE_BEGIN
namespace workflow {

/// What the earlier stages found, as the report stage takes it.
struct PipelineResults {
  nlohmann::json enumerate, relax, active_learning, orderings;  ///< active_learning: null without it
};

namespace detail {

/// Relaxed energy above the lowest against the Ewald (or static) rank.
inline analysis::Plot ranking_plot(const nlohmann::json& ranked, const std::string& potential) {
  analysis::Plot p;
  p.title = "Energy ranking of the orderings";
  p.xlabel = "Ewald rank";
  p.ylabel = "relaxed energy − lowest (meV/atom)";
  analysis::PlotSeries s;
  s.points = true;
  s.label = potential;
  const double e0 = ranked[0]["energy_eV_per_atom"].get<double>();
  for (const auto& r : ranked) {
    s.x.push_back(r["ewald_rank"].get<double>());
    s.y.push_back(1000 * (r["energy_eV_per_atom"].get<double>() - e0));
  }
  p.series.push_back(s);
  return p;
}

inline void report_header_md(std::ostream& md, const PipelineOptions& o, const PipelineResults& r) {
  const nlohmann::json supercell = enumerate_parameters(o)["supercell"];
  md << "# nernst pipeline report\n\n";
  md << "* structure: `" << o.structure << "` (" << r.enumerate["parent_formula"].get<std::string>() << ")\n";
  md << "* supercell: " << supercell.dump() << ", potential: **" << o.potential_name << "**\n";
  md << "* orderings: " << r.enumerate["count"] << " symmetry-distinct; Ewald top " << r.enumerate["top"].size()
     << " relaxed (FIRE, positions + cell, fmax " << o.fmax << " eV/Å)\n";
  md << "* MD: time step " << o.timestep << " fs; equilibration " << o.heating / 1000 << " ps heating from 100 K, "
     << o.nvt / 1000 << " ps NVT, " << o.npt / 1000 << " ps NpT at " << o.pressure_bar
     << " bar (cell averaged over the last " << o.average_last / 1000 << " ps); production " << o.production_ps
     << " ps NVT per temperature in that cell\n\n";
}

inline void active_learning_md(std::ostream& md, const nlohmann::json& al) {
  if (al.is_null() || al["rounds"].empty()) return;
  md << "## Active learning (the equilibration and production MD below use the fine-tuned model `" << al["model"].get<std::string>() << "`)\n\n"
     << "| round | T (K) | frames labelled | training set | E MAE before → after (meV/atom) | F MAE before → after (eV/Å) |\n"
     << "|---|---|---|---|---|---|\n";
  for (const auto& r : al["rounds"])
    md << "| " << r["round"] << " | " << r["T_K"].get<double>() << " | " << r["label"]["n"] << " | " << r["train"]["n_train"]
       << " | " << 1000 * r["train"]["initial"]["e"].get<double>() << " → " << 1000 * r["train"]["final"]["e"].get<double>()
       << " | " << r["train"]["initial"]["f"].get<double>() << " → " << r["train"]["final"]["f"].get<double>() << " |\n";
  md << "\n";
}

inline void orderings_md(std::ostream& md, const nlohmann::json& ranked) {
  const double e0 = ranked[0]["energy_eV_per_atom"].get<double>();
  md << "## Orderings (relaxed, ranked)\n\n| rank | Ewald rank | E (eV/atom) | ΔE (meV/atom) | space group | V (Å³) | converged |\n|---|---|---|---|---|---|---|\n";
  for (const auto& r : ranked)
    md << "| " << r["rank"] << " | " << r["ewald_rank"] << " | " << std::setprecision(8) << r["energy_eV_per_atom"].get<double>()
       << std::setprecision(4) << " | " << 1000 * (r["energy_eV_per_atom"].get<double>() - e0) << " | "
       << r["space_group"].get<std::string>() << " (" << r["space_group_number"] << ") | " << r["volume_A3"].get<double>()
       << " | " << (r["converged"].get<bool>() ? "yes" : "no") << " |\n";
  md << "\n![ranking](ranking.svg)\n\n";
}

inline void transport_md(std::ostream& md, const nlohmann::json& orderings, const PipelineOptions& o) {
  for (const auto& m : orderings) {
    md << "## Transport: ordering " << m["ordering"]["file"].get<std::string>() << " ("
       << m["ordering"]["space_group"].get<std::string>() << ")\n\n";
    md << transport_table_md(m["temperatures"]);
    md << "\n" << planar_and_jumps_md(m["temperatures"]);
    const auto& a = m["arrhenius"];
    md << arrhenius_md(a, o.mobile, o.framework_msd_limit_A2);
    md << jump_arrhenius_md(a);
    if (a.contains("figure")) md << "![Arrhenius](" << a["figure"].get<std::string>() << ")\n\n";
    for (const auto& t : m["temperatures"])
      for (const auto& f : t["figures"]) md << "![" << f.get<std::string>() << "](" << f.get<std::string>() << ")\n";
    md << "\n";
  }
  if (o.production_ps < 100)
    md << "> **Demonstration run**: production trajectories of " << o.production_ps
       << " ps per temperature resolve a fast conductor's order of magnitude, with wide error bars, and nothing "
          "finer; converged diffusivities need ≥ 1 ns per temperature (the default is 1 ns; `--preset paper`: the seed "
          "paper's 2 ns at 400–750 K).\n";
}

}  // namespace detail

/// Runs (or skips, when done) the report stage.
template <class Factory>
void report_stage(PipelineRun<Factory>& run, const PipelineResults& r) {
  const PipelineOptions& o = run.o;
  nlohmann::json p{{"enumerate", r.enumerate}, {"relax", r.relax}, {"md", r.orderings}, {"options", {
      {"structure", o.structure}, {"potential", o.potential_name}, {"temperatures", o.temperatures},
      {"production_ps", o.production_ps}, {"timestep_fs", o.timestep}, {"heating_fs", o.heating}, {"nvt_fs", o.nvt},
      {"npt_fs", o.npt}, {"average_last_fs", o.average_last}, {"top_k", o.top_k}, {"top_m", o.top_m}, {"fmax", o.fmax},
      {"pressure_bar", o.pressure_bar}}}};
  if (!r.active_learning.is_null()) p["active_learning"] = r.active_learning;
  run.runner.run("report", p, run.n_est, [&](const std::filesystem::path&) {
    nlohmann::json j = p;
    j["format"] = "nernst pipeline report 1";
    j["execution"] = execution_summary(run.out);
    const auto& ranked = r.relax["ranked"];
    analysis::write_svg_and_png(analysis::render_svg(detail::ranking_plot(ranked, o.potential_name)), (run.out / "ranking.svg").string());
    std::ostringstream md;
    md << std::setprecision(4);
    detail::report_header_md(md, o, r);
    md << summary_table_md(r.orderings, o.pressure_bar);
    detail::active_learning_md(md, r.active_learning);
    detail::orderings_md(md, ranked);
    detail::transport_md(md, r.orderings, o);
    md << execution_md(j["execution"]);
    write_file_atomic(run.out / "report.md", md.str());
    write_file_atomic(run.out / "report.json", j.dump(1));
    return nlohmann::json{{"report_md", "report.md"}, {"report_json", "report.json"}};
  });
}

}  // namespace workflow
NERNST_NAMESPACE_END
