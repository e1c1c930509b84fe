#pragma once
/// \file
/// \brief Labelled structures for training: energies, forces, stresses (ASE conventions), read
/// from extended XYZ or vasprun.xml, split into train/validation/test with a seed, batched.
///
/// Units: energy eV, forces eV/Å, stress eV/Å³ with ASE's sign (positive = tensile), which is
/// what io::Frame holds for both formats. A missing label is simply not trained on (a frame
/// without stress contributes no stress term). Per-structure weights come from the extxyz info
/// key `weight` (or `config_weight`) when present, else 1.

#include <nernst/core/elements.hpp>
#include <nernst/core/error.hpp>
#include <nernst/io/extxyz.hpp>
#include <nernst/io/frame.hpp>
#include <nernst/io/vasp_output.hpp>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace train {

/// One training structure in the form the evaluators take.
struct Sample {
  std::vector<std::array<double, 3>> x;   ///< Cartesian positions, Å
  Eigen::Matrix3d lattice = Eigen::Matrix3d::Identity();  ///< rows = lattice vectors, Å
  std::vector<int> z;                      ///< atomic numbers
  std::optional<double> energy;            ///< eV (total)
  std::vector<std::array<double, 3>> forces;  ///< eV/Å, empty when absent
  std::optional<Eigen::Matrix3d> stress;   ///< eV/Å³, ASE sign
  double weight = 1.0;                     ///< per-structure weight in the loss
  std::string origin;                      ///< "file:frame" for messages

  std::size_t size() const { return x.size(); }
  double volume() const { return std::abs(lattice.determinant()); }
};

/// An unlabelled Sample from a JSON structure {"lattice": 3×3 rows (Å), "positions": [[x, y,
/// z], ...] Cartesian (Å), "species": ["Li", ...]} (the layout of the reference files).
inline Sample sample_from_json(const nlohmann::json& j, const std::string& origin = {}) {
  Sample s;
  s.origin = origin;
  try {
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) s.lattice(a, b) = j.at("lattice").at(a).at(b).get<double>();
    const auto& pos = j.at("positions");
    const auto& sp = j.at("species");
    if (pos.size() != sp.size()) throw ValueError("positions and species differ in length");
    for (std::size_t i = 0; i < pos.size(); ++i) {
      s.x.push_back({pos[i].at(0).get<double>(), pos[i].at(1).get<double>(), pos[i].at(2).get<double>()});
      s.z.push_back(atomic_number(sp[i].get<std::string>()));
    }
  } catch (const nlohmann::json::exception& e) {
    throw ValueError("structure " + origin + ": " + e.what());
  }
  return s;
}

/// A Sample from an io::Frame (energy: `energy`, else `free_energy`).
inline Sample sample_from_frame(const io::Frame& f, const std::string& origin = {}) {
  Sample s;
  s.lattice = f.structure.lattice().matrix();
  s.origin = origin;
  for (const auto& site : f.structure.sites()) {
    if (!site.is_ordered()) throw ValueError("training structure " + origin + " has a disordered site");
    const Eigen::Vector3d c = f.structure.lattice().to_cart(site.frac);
    s.x.push_back({c[0], c[1], c[2]});
    s.z.push_back(site.z());
  }
  if (f.energy) s.energy = f.energy;
  else if (f.free_energy) s.energy = f.free_energy;
  if (!f.forces.empty()) {
    if (f.forces.size() != s.x.size())
      throw ValueError("training structure " + origin + ": " + std::to_string(f.forces.size()) + " forces for " +
                       std::to_string(s.x.size()) + " atoms");
    for (const auto& v : f.forces) s.forces.push_back({v[0], v[1], v[2]});
  }
  s.stress = f.stress;
  for (const char* key : {"weight", "config_weight"}) {
    auto it = f.info.find(key);
    if (it == f.info.end()) continue;
    try {
      s.weight = std::stod(it->second);
    } catch (const std::exception&) {
      throw ValueError("training structure " + origin + ": bad " + key + " '" + it->second + "'");
    }
    if (!(s.weight >= 0)) throw ValueError("training structure " + origin + ": negative weight");
  }
  return s;
}

/// A set of labelled structures.
struct Dataset {
  std::vector<Sample> samples;

  std::size_t size() const { return samples.size(); }
  bool empty() const { return samples.empty(); }
  void append(const Dataset& o) { samples.insert(samples.end(), o.samples.begin(), o.samples.end()); }

  /// Every frame of an extended XYZ file (ASE: energy, forces, stress) or of a vasprun.xml
  /// (every ionic step). The format follows the name: *.xml / vasprun* is vasprun.
  static Dataset read(const std::string& path) {
    Dataset d;
    const std::string name = std::filesystem::path(path).filename().string();
    const bool vasprun = name.find("vasprun") != std::string::npos ||
                         (name.size() > 4 && name.compare(name.size() - 4, 4, ".xml") == 0);
    std::vector<io::Frame> frames = vasprun ? io::read_vasprun(path).frames : io::read_extxyz_all(path);
    for (std::size_t i = 0; i < frames.size(); ++i)
      d.samples.push_back(sample_from_frame(frames[i], path + ":" + std::to_string(i)));
    if (d.empty()) throw ValueError("no structures in training file '" + path + "'");
    return d;
  }

  /// Elements present (sorted atomic numbers).
  std::vector<int> elements() const {
    std::vector<int> z;
    for (const auto& s : samples) z.insert(z.end(), s.z.begin(), s.z.end());
    std::sort(z.begin(), z.end());
    z.erase(std::unique(z.begin(), z.end()), z.end());
    return z;
  }
};

/// Train / validation / test parts of a dataset.
struct Split {
  Dataset train, valid, test;
};

/// Random split (Mersenne twister seeded with `seed`, Fisher–Yates on the indices) into
/// fractions f_valid and f_test of the structures (rounded; the rest is training).
inline Split split(const Dataset& d, double f_valid, double f_test, std::uint64_t seed) {
  if (f_valid < 0 || f_test < 0 || f_valid + f_test >= 1) throw ValueError("split: need 0 ≤ f_valid + f_test < 1");
  std::vector<std::size_t> idx(d.size());
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::mt19937_64 rng(seed);
  for (std::size_t i = idx.size(); i > 1; --i) {
    std::uniform_int_distribution<std::size_t> u(0, i - 1);
    std::swap(idx[i - 1], idx[u(rng)]);
  }
  const auto nv = static_cast<std::size_t>(std::llround(f_valid * double(d.size())));
  const auto nt = static_cast<std::size_t>(std::llround(f_test * double(d.size())));
  Split s;
  for (std::size_t k = 0; k < idx.size(); ++k) {
    auto& part = k < nv ? s.valid : (k < nv + nt ? s.test : s.train);
    part.samples.push_back(d.samples[idx[k]]);
  }
  return s;
}

/// Batches of indices into a dataset of n structures: shuffled with `rng` when `shuffle`.
inline std::vector<std::vector<std::size_t>> make_batches(std::size_t n, std::size_t batch_size, bool shuffle,
                                                          std::mt19937_64& rng) {
  if (batch_size == 0) throw ValueError("batch size must be positive");
  std::vector<std::size_t> idx(n);
  for (std::size_t i = 0; i < n; ++i) idx[i] = i;
  if (shuffle)
    for (std::size_t i = n; i > 1; --i) {
      std::uniform_int_distribution<std::size_t> u(0, i - 1);
      std::swap(idx[i - 1], idx[u(rng)]);
    }
  std::vector<std::vector<std::size_t>> out;
  for (std::size_t k = 0; k < n; k += batch_size)
    out.emplace_back(idx.begin() + static_cast<std::ptrdiff_t>(k),
                     idx.begin() + static_cast<std::ptrdiff_t>(std::min(n, k + batch_size)));
  return out;
}

}  // namespace train
NERNST_NAMESPACE_END
