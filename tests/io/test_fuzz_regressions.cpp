// Replays the inputs that once crashed a reader under libFuzzer (tests/fuzz/) or that review
// found to trigger undefined behaviour. Each must now parse or throw a nernst::Error.
#include "../test_support.hpp"

#include "../fuzz/fuzz_targets.hpp"

#include <filesystem>

namespace fs = std::filesystem;

namespace {
/// Replays every file under root/<target>/ through the fuzz target of that name; returns the count.
std::size_t replay_tree(const fs::path& root) {
  std::size_t n = 0;
  for (const auto& dir : fs::directory_iterator(root)) {
    if (!dir.is_directory()) continue;
    const std::string target = dir.path().filename().string();
    for (const auto& f : fs::directory_iterator(dir.path())) {
      INFO(f.path().string());
      const std::string data = nernst::io::detail::read_text_file(f.path().string());
      // The harness swallows nernst::Error only; any other exception fails here.
      bool known = false;
      CHECK_NOTHROW(known = nernst_fuzz::fuzz_one(target, data));
      CHECK_MESSAGE(known, "unknown fuzz target folder " << target);
      ++n;
    }
  }
  return n;
}
}  // namespace

TEST_CASE("fuzz regression corpus: every input parses or fails with a nernst::Error") {
  const fs::path root = nernst_test::data_dir() / "io" / "fuzz_regressions";
  REQUIRE(fs::exists(root));
  CHECK(replay_tree(root) >= 3);
}

TEST_CASE("fuzz corpus (tests/fuzz/corpus, minimized libFuzzer corpora): every input parses or fails with a nernst::Error") {
  const fs::path root = nernst_test::data_dir().parent_path() / "fuzz" / "corpus";
  REQUIRE(fs::exists(root));
  std::size_t dirs = 0;
  for (const auto& d : fs::directory_iterator(root)) dirs += d.is_directory();
  CHECK(dirs == 8);  // cif extxyz lammps model_json outcar poscar torch vasprun
  const std::size_t n = replay_tree(root);
  MESSAGE(n << " corpus files replayed");
  CHECK(n >= 8 * 20);
}

TEST_CASE("fuzz regressions: the specific bugs now give clear errors") {
  const fs::path root = nernst_test::data_dir() / "io" / "fuzz_regressions";
  // UBSan: a space-group number of 1e300 was cast to int.
  CHECK_THROWS_WITH_AS(nernst::io::read_cif((root / "cif/ubsan_float_cast_space_group_number.cif").string()),
                       doctest::Contains("space-group number"), nernst::ParseError);
  // ASan: a dump header "fx fy`fz" made the reader index past the row.
  nernst::io::LammpsOptions o;
  o.type_to_z = {3, 17};
  nernst::io::LammpsDumpReader r((root / "lammps/asan_dump_broken_force_columns.dump").string(), o);
  nernst::io::Frame f;
  CHECK_THROWS_WITH_AS(r.next(f), doctest::Contains("force columns"), nernst::ParseError);
}
