// nernst: the command-line driver. Every capability adds one subcommand (cmd_*.hpp): a function
// `add_<name>_command(CLI::App&)` that registers its options and callback.
#include <CLI/CLI.hpp>

#include <nernst/core/error.hpp>
#include <nernst/core/kokkos.hpp>
#include <nernst/version.hpp>

#include <iostream>
#include <string_view>
#include <vector>

#include "cmd_info.hpp"
#include "cmd_convert.hpp"
#include "cmd_eval.hpp"
#include "cmd_finetune.hpp"
#include "cmd_msd.hpp"
#include "cmd_jumps.hpp"
#include "cmd_arrhenius.hpp"
#include "cmd_enumerate.hpp"
#include "cmd_md.hpp"
#include "cmd_relax.hpp"
#include "cmd_pipeline.hpp"
#include "cmd_status.hpp"
#include "cmd_series.hpp"
#include "cmd_label.hpp"

int main(int argc, char* argv[]) {
  CLI::App app{"nernst: Li-ion transport in solid electrolytes"};
  app.set_version_flag("--version", "nernst " + nernst::version_long() + "\n");
  app.require_subcommand(1);

  nernst::cli::add_info_command(app);
  nernst::cli::add_convert_command(app);
  nernst::cli::add_eval_command(app);
  nernst::cli::add_finetune_command(app);
  nernst::cli::add_msd_command(app);
  nernst::cli::add_jumps_command(app);
  nernst::cli::add_arrhenius_command(app);
  nernst::cli::add_enumerate_command(app);
  nernst::cli::add_md_command(app);
  nernst::cli::add_relax_command(app);
  nernst::cli::add_pipeline_command(app);
  nernst::cli::add_status_command(app);
  nernst::cli::add_series_command(app);
  nernst::cli::add_label_command(app);

  // Kokkos sees only its own --kokkos-* options (given --help it would print its long help text
  // before ours, and it cannot hand back the shortened argc); CLI11 parses the rest.
  std::vector<char*> kokkos_argv{argv[0]}, cli_argv{argv[0]};
  for (int i = 1; i < argc; ++i)
    (std::string_view(argv[i]).rfind("--kokkos-", 0) == 0 ? kokkos_argv : cli_argv).push_back(argv[i]);
  try {
    nernst::KokkosSession kokkos(static_cast<int>(kokkos_argv.size()), kokkos_argv.data());
    app.parse(static_cast<int>(cli_argv.size()), cli_argv.data());
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
