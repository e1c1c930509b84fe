#pragma once
// `nernst status DIR`: what a pipeline run directory holds (stages done or started, checkpoint
// steps, the lock's holder and whether it still runs, thread counts per stage), read without
// writing anything or taking the run's lock: works while a run is going and on read-only copies.

#include <CLI/CLI.hpp>

#include <nernst/workflow/run_status.hpp>

#include <iostream>
#include <memory>
#include <string>

namespace nernst::cli {

inline void add_status_command(CLI::App& app) {
  struct Opt {
    std::string dir;
    bool json = false;
  };
  auto o = std::make_shared<Opt>();
  auto* cmd = app.add_subcommand("status", "State of a pipeline run directory (read-only; works while the run is going)");
  cmd->add_option("dir", o->dir, "run directory (the pipeline's --out)")->required();
  cmd->add_flag("--json", o->json, "print the status as JSON");
  cmd->callback([o]() {
    const workflow::RunStatus st = workflow::read_run_status(o->dir);
    if (o->json) std::cout << st.to_json().dump(1) << "\n";
    else std::cout << st.text();
  });
}

}  // namespace nernst::cli
