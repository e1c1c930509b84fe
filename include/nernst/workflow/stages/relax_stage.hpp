#pragma once
/// \file
/// \brief The pipeline's `relax` stage: FIRE (positions + cell, fmax) of every ordering the
/// enumerate stage kept, with the potential, ranked by relaxed energy per atom.
///
/// Inputs: the enumerate stage's result, the potential's name, fmax and the step limit. Output
/// (`relax/done.json`): {ranked: [{rank, file, ewald_rank, ewald_eV_per_atom, energy_eV,
/// energy_eV_per_atom, atoms, converged, steps, fmax, volume_A3, space_group,
/// space_group_number, cell}]}, best first, and the relaxed cells `relax/top<k>.vasp`. Resume
/// rule: each relaxed ordering is saved as `relax/top<k>.vasp.json` when it finishes; a rerun
/// relaxes only the ones without it.
///
/// With jobs > 1 the orderings still to relax go first to worker processes (one thread each,
/// worker_processes.hpp), which save them as above; the stage's loop then finds them finished, as
/// a resumed run would. With `replicas` they are relaxed together in this process instead
/// (relax_together: one relaxation per host thread, or one batched evaluation per FIRE step on a
/// GPU), each bitwise the relaxation of a one-thread worker, and saved the same way. The
/// relaxations are independent, so the stage's whole work runs in parallel, with none of the
/// serial remainder a threaded evaluation of one small graph keeps (docs/threads.md).

#include <nernst/enumerate/relaxed_ranking.hpp>
#include <nernst/symmetry/symmetry_dataset.hpp>
#include <nernst/workflow/json_file.hpp>
#include <nernst/workflow/pipeline_run.hpp>
#include <nernst/workflow/worker_processes.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace workflow {

namespace detail {

/// The stage's entry of one relaxed kept ordering (`enumerated`: its entry of the enumerate
/// stage's `top`); writes the relaxed cell beside it.
inline nlohmann::json relaxed_ordering_entry(const nlohmann::json& enumerated, const enumerate::RelaxedStructure& r,
                                             const std::filesystem::path& dir) {
  const std::string name = enumerated["file"].get<std::string>();
  const Structure& relaxed = r.structure;
  const RelaxResult& rr = r.result;
  io::write_structure((dir / name).string(), relaxed, io::Format::Poscar);
  const auto sg = symmetry::space_group(relaxed, 0.1);
  const auto n = relaxed.size();
  return {{"file", name},
          {"ewald_rank", enumerated["rank"]},
          {"ewald_eV_per_atom", enumerated["ewald_eV_per_atom"]},
          {"energy_eV", rr.energy},
          {"energy_eV_per_atom", rr.energy / n},
          {"atoms", n},
          {"converged", rr.converged},
          {"steps", rr.steps},
          {"fmax", rr.fmax},
          {"volume_A3", rr.volume},
          {"space_group", sg.second},
          {"space_group_number", sg.first},
          {"cell", matrix_json(relaxed.lattice().matrix())}};
}

/// The unrelaxed cell of a kept ordering, as the enumerate stage wrote it.
template <class Factory>
Structure kept_ordering(const PipelineRun<Factory>& run, const nlohmann::json& enumerated) {
  return io::read_structure((run.out / "enumerate" / enumerated["file"].get<std::string>()).string());
}

/// Relaxes one kept ordering.
template <class Factory>
nlohmann::json relax_ordering(PipelineRun<Factory>& run, const nlohmann::json& enumerated, const std::filesystem::path& dir) {
  auto pot = run.make_potential();
  return relaxed_ordering_entry(
      enumerated, enumerate::relax_positions_and_cell(kept_ordering(run, enumerated), pot, run.o.fmax, run.o.relax_steps), dir);
}

/// Where a kept ordering's result is saved when its relaxation finishes.
inline std::filesystem::path relaxed_record(const std::filesystem::path& dir, const nlohmann::json& enumerated) {
  return dir / (enumerated["file"].get<std::string>() + ".json");
}

/// The kept orderings (indices into `top`) without a saved result.
inline std::vector<std::size_t> unrelaxed(const nlohmann::json& top, const std::filesystem::path& dir) {
  std::vector<std::size_t> todo;
  for (std::size_t i = 0; i < top.size(); ++i)
    if (!std::filesystem::exists(relaxed_record(dir, top[i]))) todo.push_back(i);
  return todo;
}

/// Relaxes the kept orderings without a saved result in worker processes (jobs > 1 and at least
/// two of them); each worker saves its ordering's result and relaxed cell.
template <class Factory>
void relax_in_workers(PipelineRun<Factory>& run, const nlohmann::json& top, const std::filesystem::path& dir) {
  const std::vector<std::size_t> todo = unrelaxed(top, dir);
  if (run.o.jobs <= 1 || todo.size() < 2) return;
  const auto label = [&](std::size_t k) { return "relax " + top[todo[k]]["file"].get<std::string>(); };
  if (!run.o.quiet) std::cerr << "\n  " << todo.size() << " orderings in up to " << run.o.jobs << " worker processes\n" << std::flush;
  run_in_worker_processes(
      todo.size(), run.o.jobs,
      [&](std::size_t k) {
        run.log.set_worker(label(k));
        const nlohmann::json& t = top[todo[k]];
        write_file_atomic(relaxed_record(dir, t), relax_ordering(run, t, dir).dump(1));
        run.log.update(1.0);
        if (run.o.on_checkpoint) run.o.on_checkpoint(label(k), static_cast<long>(todo[k] + 1));
      },
      label);
}

/// PipelineOptions::replicas: the kept orderings without a saved result relaxed together in this
/// process (enumerate::relax_positions_and_cell_together: one relaxation per host thread, or one
/// compute_batch per FIRE step where the potential batches), each saved as it finishes.
template <class Factory>
void relax_together_in_process(PipelineRun<Factory>& run, const nlohmann::json& top, const std::filesystem::path& dir) {
  const std::vector<std::size_t> todo = unrelaxed(top, dir);
  if (todo.empty()) return;
  if (!run.o.quiet) std::cerr << "\n  " << todo.size() << " orderings relaxed together\n" << std::flush;
  std::size_t finished = top.size() - todo.size();
  enumerate::relax_positions_and_cell_together(
      run.make_potential(), todo.size(), run.o.fmax, run.o.relax_steps,
      [&](std::size_t k) { return kept_ordering(run, top[todo[k]]); },
      [&](std::size_t k, const enumerate::RelaxedStructure& r) {
        const nlohmann::json& t = top[todo[k]];
        write_file_atomic(relaxed_record(dir, t), relaxed_ordering_entry(t, r, dir).dump(1));
        run.log.update(static_cast<double>(++finished) / top.size());
        if (run.o.on_checkpoint) run.o.on_checkpoint("relax " + t["file"].get<std::string>(), static_cast<long>(todo[k] + 1));
      });
}

}  // namespace detail

/// Runs (or skips, when done) the relax stage; returns its result.
template <class Factory>
nlohmann::json relax_stage(PipelineRun<Factory>& run, const nlohmann::json& enumerated) {
  const PipelineOptions& o = run.o;
  const nlohmann::json p{{"enumerate", enumerated}, {"potential", o.potential_name}, {"fmax", o.fmax}, {"max_steps", o.relax_steps}};
  const auto& top = enumerated["top"];
  return run.runner.run("relax", p, run.n_est * 300.0 * top.size(), [&](const std::filesystem::path& dir) {
    if (o.replicas) detail::relax_together_in_process(run, top, dir);
    else detail::relax_in_workers(run, top, dir);
    nlohmann::json list = nlohmann::json::array();
    std::size_t i = 0;
    for (const auto& t : top) {
      const std::string name = t["file"].get<std::string>();
      const std::filesystem::path done = detail::relaxed_record(dir, t);
      if (std::filesystem::exists(done)) {  // finished before an interruption
        list.push_back(read_json(done));
        ++i;
        continue;
      }
      const nlohmann::json j = detail::relax_ordering(run, t, dir);
      write_file_atomic(done, j.dump(1));
      list.push_back(j);
      run.log.update(static_cast<double>(++i) / top.size());
      if (o.on_checkpoint) o.on_checkpoint("relax " + name, static_cast<long>(i));
    }
    enumerate::rank_by(list, "energy_eV_per_atom");
    return nlohmann::json{{"ranked", list}};
  });
}

}  // namespace workflow
NERNST_NAMESPACE_END
