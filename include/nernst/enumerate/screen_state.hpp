#pragma once
/// \file
/// \brief The checkpoint of a static screen (static_screen.hpp): how far the ordering stream
/// got, the best-K orderings so far and the counters, written atomically as JSON so that a
/// killed screen of hundreds of thousands of orderings continues where it stopped.
///
/// The state carries a hash of everything that determines the screen's answer (structure file
/// bytes, supercell, counting options, model files, precision, pre-filter, K). A restart with
/// other inputs refuses the file instead of mixing two screens; the caller names the file in
/// the message so the user can remove it or pick another state directory.

#include <nernst/enumerate/labeling.hpp>
#include <nernst/workflow/stage.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace enumerate {

/// FNV-1a (64 bit): a fingerprint of the inputs, not a cryptographic hash.
inline std::uint64_t fnv1a(const std::string& bytes, std::uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

/// FNV-1a of a file's bytes; IOError naming the file when it cannot be read.
inline std::uint64_t file_fingerprint(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IOError("cannot read '" + path.string() + "' to fingerprint the screen's inputs");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return fnv1a(bytes);
}

/// Hex digits of a fingerprint (JSON numbers are doubles: 64-bit integers would not survive).
inline std::string hex_fingerprint(std::uint64_t h) {
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(h));
  return b;
}

/// The fingerprint of a JSON description of the inputs (canonical: nlohmann sorts keys).
inline std::string inputs_fingerprint(const nlohmann::json& inputs) { return hex_fingerprint(fnv1a(inputs.dump())); }

/// One screened ordering: static energy and where it sits in the stream.
struct ScreenEntry {
  double energy_per_atom = 0;  ///< eV/atom, the ranking key
  double energy = 0;           ///< eV
  int atoms = 0;
  std::uint64_t ordering = 0;  ///< running number of the ordering in the enumeration
  std::vector<Label> labels;   ///< one label per active site
};

struct ScreenCounters {
  std::uint64_t evaluated = 0;   ///< model energies computed (over all runs of this screen)
  std::uint64_t candidates = 0;  ///< orderings the model was to see (all, or the pre-filter's K)
  std::uint64_t orderings = 0;   ///< orderings enumerated in the supercell
  double seconds = 0;            ///< screening time over all runs (up to the last checkpoint)
};

/// What a checkpoint holds: the stream position (orderings with a running number below `next`
/// are done), the kept entries (best first), the counters.
struct ScreenState {
  std::string inputs;  ///< fingerprint of the inputs
  std::uint64_t next = 0;
  bool complete = false;
  ScreenCounters counters;
  std::vector<ScreenEntry> best;
};

inline nlohmann::json to_json(const ScreenEntry& e) {
  std::vector<int> l(e.labels.begin(), e.labels.end());
  return {{"energy_per_atom_eV", e.energy_per_atom}, {"energy_eV", e.energy}, {"atoms", e.atoms}, {"ordering", e.ordering}, {"labels", l}};
}

inline nlohmann::json to_json(const ScreenState& s) {
  nlohmann::json best = nlohmann::json::array();
  for (const auto& e : s.best) best.push_back(to_json(e));
  return {{"format", "nernst-screen-state-1"},
          {"inputs", s.inputs},
          {"next", s.next},
          {"complete", s.complete},
          {"counters", {{"evaluated", s.counters.evaluated}, {"candidates", s.counters.candidates},
                        {"orderings", s.counters.orderings}, {"seconds", s.counters.seconds}}},
          {"best", best}};
}

/// Parses a state file's JSON; ParseError naming `file` when it is not one.
inline ScreenState screen_state_from_json(const nlohmann::json& j, const std::string& file) {
  try {
    if (j.at("format") != "nernst-screen-state-1") throw ParseError(file, 0, "not a nernst screen state (format field)");
    ScreenState s;
    s.inputs = j.at("inputs").get<std::string>();
    s.next = j.at("next").get<std::uint64_t>();
    s.complete = j.at("complete").get<bool>();
    const auto& c = j.at("counters");
    s.counters = {c.at("evaluated").get<std::uint64_t>(), c.at("candidates").get<std::uint64_t>(),
                  c.at("orderings").get<std::uint64_t>(), c.at("seconds").get<double>()};
    for (const auto& b : j.at("best")) {
      ScreenEntry e;
      e.energy_per_atom = b.at("energy_per_atom_eV").get<double>();
      e.energy = b.at("energy_eV").get<double>();
      e.atoms = b.at("atoms").get<int>();
      e.ordering = b.at("ordering").get<std::uint64_t>();
      for (int l : b.at("labels").get<std::vector<int>>()) {
        if (l < 0 || l > 255) throw ParseError(file, 0, "label out of range in the kept orderings");
        e.labels.push_back(static_cast<Label>(l));
      }
      s.best.push_back(std::move(e));
    }
    return s;
  } catch (const nlohmann::json::exception& e) {
    throw ParseError(file, 0, std::string("not a nernst screen state: ") + e.what());
  }
}

/// Writes the state through a temporary file and a rename: a kill leaves the old or the new one.
inline void save_screen_state(const std::filesystem::path& file, const ScreenState& s) {
  workflow::write_file_atomic(file, to_json(s).dump());
}

/// The state in `file` when there is one, checked against the fingerprint of these inputs;
/// ValueError naming the file when it was written for other inputs.
inline std::optional<ScreenState> load_screen_state(const std::filesystem::path& file, const std::string& inputs) {
  if (!std::filesystem::exists(file)) return std::nullopt;
  ScreenState s = screen_state_from_json(workflow::read_json(file), file.string());
  if (s.inputs != inputs)
    throw ValueError("screen state '" + file.string() + "' was written for different inputs (fingerprint " + s.inputs +
                     ", these inputs " + inputs + "): remove it or use another --state directory");
  return s;
}

}  // namespace enumerate
NERNST_NAMESPACE_END
