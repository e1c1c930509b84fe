// nernst: the command-line driver. Every capability adds one subcommand (cmd_*.hpp): a function
// `add_<name>_command(CLI::App&)` that registers its options and callback.
#include <CLI/CLI.hpp>

#include <nernst/core/error.hpp>
#include <nernst/core/kokkos.hpp>
#include <nernst/version.hpp>

#include <iostream>

#include "cmd_info.hpp"
#include "cmd_convert.hpp"
#include "cmd_eval.hpp"
#include "cmd_finetune.hpp"
#include "cmd_msd.hpp"
#include "cmd_arrhenius.hpp"
#include "cmd_enumerate.hpp"
#include "cmd_md.hpp"
#include "cmd_relax.hpp"
#include "cmd_pipeline.hpp"

int main(int argc, char* argv[]) {
  CLI::App app{"nernst: Li-ion transport in solid electrolytes"};
  app.set_version_flag("--version", "nernst " + nernst::version_long() + "\n");
  app.require_subcommand(1);

  nernst::cli::add_info_command(app);
  nernst::cli::add_convert_command(app);
  nernst::cli::add_eval_command(app);
  nernst::cli::add_finetune_command(app);
  nernst::cli::add_msd_command(app);
  nernst::cli::add_arrhenius_command(app);
  nernst::cli::add_enumerate_command(app);
  nernst::cli::add_md_command(app);
  nernst::cli::add_relax_command(app);
  nernst::cli::add_pipeline_command(app);

  try {
    // Kokkos reads its own --kokkos-* options; CLI11 parses the rest.
    nernst::KokkosSession kokkos(argc, argv);
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const nernst::Error& e) {
    std::cerr << "nernst: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "nernst: unexpected error: " << e.what() << "\n";
    return 3;
  }
  return 0;
}
