#pragma once
/// \file
/// \brief MD observers: thermo log (CSV), extended-XYZ trajectory with unwrapped positions,
/// terminal progress bar with ETA, and running statistics for run summaries.

#include <nernst/core/elements.hpp>
#include <nernst/md/simulation.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <string>
#include <unistd.h>

NERNST_NAMESPACE_BEGIN
namespace md {

namespace detail {
/// Truncates a text file at the first line for which `cut_here(line)` is true (restart hygiene).
template <class Pred>
void truncate_lines(const std::string& path, Pred&& cut_here) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return;
  std::string line;
  std::uint64_t pos = 0;
  while (std::getline(in, line)) {
    if (cut_here(line)) {
      in.close();
      std::filesystem::resize_file(path, pos);
      return;
    }
    pos += line.size() + 1;
  }
}

/// Drops every extended-XYZ frame whose `Step=` exceeds `step` (and a torn last frame).
inline void truncate_extxyz_after(const std::string& path, long step) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return;
  std::string count, comment, line;
  std::uint64_t pos = 0, frame_start = 0;
  bool cut = false;
  while (true) {
    frame_start = pos;
    if (!std::getline(in, count)) break;
    if (count.find_first_not_of(" \t\r") == std::string::npos) { pos += count.size() + 1; continue; }
    if (!std::getline(in, comment)) { cut = true; break; }
    long n = 0, st = -1;
    try { n = std::stol(count); } catch (...) { cut = true; break; }
    const auto k = comment.find("Step=");
    if (k != std::string::npos) st = std::stol(comment.substr(k + 5));
    if (st > step) { cut = true; break; }
    std::uint64_t p = pos + count.size() + 1 + comment.size() + 1;
    long got = 0;
    for (; got < n && std::getline(in, line); ++got) p += line.size() + 1;
    if (got < n) { cut = true; break; }
    pos = p;
  }
  in.close();
  if (cut) std::filesystem::resize_file(path, frame_start);
}
/// Throws IOError naming `path` when an output stream has failed (disk full, file-size limit,
/// I/O error): a run must stop instead of finishing with a silently truncated output.
inline void check_written(const std::ofstream& out, const std::string& path) {
  if (!out) throw IOError("cannot write '" + path + "': " + std::strerror(errno));
}
}  // namespace detail

/// CSV thermo log: step,time_fs,T_K,Epot_eV,Ekin_eV,P_bar,V_A3,conserved_eV,steps_per_s.
template <class MS = DefaultMemorySpace>
class ThermoLog : public Observer<MS> {
 public:
  ThermoLog(std::string path, long every) : path_(std::move(path)), every_(every) {}
  long every() const override { return every_; }
  void observe(const ThermoSample& t, const System<MS>&) override {
    open(false);
    char buf[512];
    std::snprintf(buf, sizeof buf, "%ld,%.6f,%.6f,%.12g,%.12g,%.8g,%.10g,%.12g,%.4g\n", t.step, t.time, t.temperature,
                  t.potential, t.kinetic, t.pressure, t.volume, t.conserved, t.steps_per_second);
    out_ << buf;
    out_.flush();
    detail::check_written(out_, path_);
  }
  void resume(long step) override {
    out_.close();
    detail::truncate_lines(path_, [step](const std::string& line) {
      return !line.empty() && line[0] != 's' && std::stol(line) > step;
    });
    open(true);
  }
  void finish() override { if (out_.is_open()) out_.flush(); }

 private:
  void open(bool append) {
    if (out_.is_open()) return;
    const bool exists = append && std::filesystem::exists(path_) && std::filesystem::file_size(path_) > 0;
    out_.open(path_, exists ? std::ios::app : std::ios::trunc);
    if (!out_) throw IOError("cannot open thermo log '" + path_ + "'");
    if (!exists) out_ << "step,time_fs,T_K,Epot_eV,Ekin_eV,P_bar,V_A3,conserved_eV,steps_per_s\n";
  }
  std::string path_;
  long every_;
  std::ofstream out_;
};

/// Extended-XYZ trajectory (ASE-readable): unwrapped positions x + image·cell, the cell of the
/// frame as `Lattice`, `Time` (fs), `Step`, `energy` (eV), optional velocities (Å/fs) and forces
/// (eV/Å). After a restart, frames with Step > checkpoint step are dropped before appending.
template <class MS = DefaultMemorySpace>
class TrajectoryWriter : public Observer<MS> {
 public:
  struct Options {
    bool velocities = false;
    bool forces = false;
    int precision = 10;  ///< significant digits
  };
  TrajectoryWriter(std::string path, long every) : TrajectoryWriter(std::move(path), every, Options{}) {}
  TrajectoryWriter(std::string path, long every, Options o) : path_(std::move(path)), every_(every), o_(o) {}
  long every() const override { return every_; }
  void observe(const ThermoSample& t, const System<MS>& sys) override {
    if (!out_.is_open()) {
      out_.open(path_, resumed_ ? std::ios::app : std::ios::trunc);
      if (!out_) throw IOError("cannot open trajectory '" + path_ + "'");
    }
    if (z_.empty()) z_ = sys.atomic_numbers();
    auto x = Kokkos::create_mirror_view_and_copy(HostSpace(), sys.x);
    auto im = Kokkos::create_mirror_view_and_copy(HostSpace(), sys.image);
    auto v = Kokkos::create_mirror_view_and_copy(HostSpace(), sys.v);
    auto f = Kokkos::create_mirror_view_and_copy(HostSpace(), sys.f);
    const auto& h = sys.cell.matrix();
    std::ostringstream os;
    os << std::setprecision(o_.precision);
    os << sys.size() << "\nLattice=\"";
    for (int k = 0; k < 9; ++k) os << (k ? " " : "") << std::setprecision(16) << h(k / 3, k % 3);
    os << std::setprecision(o_.precision) << "\" Properties=species:S:1:pos:R:3";
    if (o_.velocities) os << ":velocities:R:3";
    if (o_.forces) os << ":forces:R:3";
    // Time= is in ps, as in LAMMPS-derived trajectories and what `nernst msd` reads.
    os << " Time=" << std::setprecision(15) << t.time * 1e-3 << " Step=" << t.step << " energy=" << std::setprecision(15)
       << t.potential << std::setprecision(o_.precision) << " pbc=\"T T T\"\n";
    for (std::size_t i = 0; i < sys.size(); ++i) {
      os << element_symbol(z_[i]);
      for (int d = 0; d < 3; ++d) os << ' ' << x(i, d) + im(i, 0) * h(0, d) + im(i, 1) * h(1, d) + im(i, 2) * h(2, d);
      if (o_.velocities) for (int d = 0; d < 3; ++d) os << ' ' << v(i, d);
      if (o_.forces) for (int d = 0; d < 3; ++d) os << ' ' << f(i, d);
      os << '\n';
    }
    out_ << os.str();
    out_.flush();
    detail::check_written(out_, path_);
  }
  void resume(long step) override {
    out_.close();
    resumed_ = true;
    detail::truncate_extxyz_after(path_, step);
  }
  void finish() override { if (out_.is_open()) out_.flush(); }

 private:
  std::string path_;
  long every_;
  Options o_;
  std::ofstream out_;
  std::vector<int> z_;
  bool resumed_ = false;
};

/// Progress bar with ETA on stderr, only when stderr is a terminal (or when forced).
template <class MS = DefaultMemorySpace>
class ProgressBar : public Observer<MS> {
 public:
  ProgressBar(long total_steps, long every, bool force = false)
      : total_(total_steps), every_(every), on_(force || ::isatty(2)) {}
  long every() const override { return every_; }
  void observe(const ThermoSample& t, const System<MS>&) override {
    if (!on_) return;
    if (first_ < 0) { first_ = t.step; t0_ = std::chrono::steady_clock::now(); }
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    const double done = total_ > 0 ? std::min(1.0, static_cast<double>(t.step) / total_) : 1.0;
    const double rate = t.step > first_ && el > 0 ? (t.step - first_) / el : 0.0;
    const double eta = rate > 0 ? (total_ - t.step) / rate : 0.0;
    const int w = 30, fill = static_cast<int>(done * w);
    std::fprintf(stderr, "\r[%.*s%*s] %5.1f%% step %ld/%ld  %.0f steps/s  ETA %02d:%02d:%02d  T=%.1f K", fill,
                 "==============================", w - fill, "", 100 * done, t.step, total_, rate,
                 static_cast<int>(eta) / 3600, (static_cast<int>(eta) / 60) % 60, static_cast<int>(eta) % 60,
                 t.temperature);
    std::fflush(stderr);
  }
  void finish() override {
    if (on_ && first_ >= 0) std::fprintf(stderr, "\n");
  }

 private:
  long total_, every_;
  bool on_;
  long first_ = -1;
  std::chrono::steady_clock::time_point t0_;
};

/// Running averages for run summaries: samples taken at steps >= `from_step`.
template <class MS = DefaultMemorySpace>
class Statistics : public Observer<MS> {
 public:
  Statistics(long every, long from_step = 0) : every_(every), from_(from_step) {}
  long every() const override { return every_; }
  void observe(const ThermoSample& t, const System<MS>&) override {
    if (t.step < from_) return;
    T.push_back(t.temperature);
    P.push_back(t.pressure);
    V.push_back(t.volume);
    E.push_back(t.conserved / static_cast<double>(t.natoms));
    K.push_back(t.kinetic);
    U.push_back(t.potential / static_cast<double>(t.natoms));
    time.push_back(t.time);
    if (t.steps_per_second > 0) rate.push_back(t.steps_per_second);
    cell_sum += t.cell;
  }
  static double mean(const std::vector<double>& a) {
    double s = 0;
    for (double x : a) s += x;
    return a.empty() ? std::numeric_limits<double>::quiet_NaN() : s / a.size();
  }
  static double stddev(const std::vector<double>& a) {
    if (a.size() < 2) return std::numeric_limits<double>::quiet_NaN();
    const double m = mean(a);
    double s = 0;
    for (double x : a) s += (x - m) * (x - m);
    return std::sqrt(s / (a.size() - 1));
  }
  /// Least-squares slope of the conserved quantity per atom vs time: eV/atom/ps.
  double conserved_drift_per_ps() const {
    if (E.size() < 2) return std::numeric_limits<double>::quiet_NaN();
    const double mt = mean(time), me = mean(E);
    double sxy = 0, sxx = 0;
    for (std::size_t k = 0; k < E.size(); ++k) {
      sxy += (time[k] - mt) * (E[k] - me);
      sxx += (time[k] - mt) * (time[k] - mt);
    }
    return sxx > 0 ? sxy / sxx * 1000.0 : 0.0;
  }
  Eigen::Matrix3d mean_cell() const { return T.empty() ? cell_sum : Eigen::Matrix3d(cell_sum / T.size()); }
  std::vector<double> T, P, V, E, K, U, time, rate;
  Eigen::Matrix3d cell_sum = Eigen::Matrix3d::Zero();

 private:
  long every_, from_;
};

}  // namespace md
NERNST_NAMESPACE_END
