#pragma once
/// \file
/// \brief Simulation<Ensemble, Potential>: the MD run loop with observers, temperature ramps,
/// periodic atomic checkpoints, bit-identical restarts and guards.
///
/// ```
/// Potential<LennardJones> lj({0.010323, 3.405, 8.5});
/// md::Simulation sim(sys, lj, md::Ensemble<md::NVT, md::NoseHoover>({120, 200}), {/*dt*/ 2.0});
/// sim.add_observer(std::make_shared<md::ThermoLog<>>("thermo.csv", 10));
/// sim.run(10000);               // or sim.run(2000, 100.0, 300.0) for a linear ramp
/// ```
/// Guards (checked after every force evaluation; close pairs every `guard_every` steps): a
/// non-finite energy or force, two atoms closer than `min_distance`, or a cell whose volume
/// left [V₀/max_volume_ratio, V₀·max_volume_ratio] stop the run with md::SimulationError naming
/// the step and atoms, after writing `<checkpoint>.final` (when checkpoints are enabled).

#include <nernst/md/ensemble.hpp>
#include <nernst/md/restart.hpp>
#include <nernst/md/state.hpp>
#include <nernst/md/velocities.hpp>
#include <nernst/neighbor/neighbor_list.hpp>

#include <chrono>
#include <exception>
#include <iostream>
#include <limits>
#include <memory>
#include <sstream>

NERNST_NAMESPACE_BEGIN
namespace md {

/// A run stopped by a guard (unphysical state) — names the step and the atoms involved.
class SimulationError : public Error {
 public:
  explicit SimulationError(const std::string& m) : Error(m) {}
};

/// One thermodynamic sample (what observers receive).
struct ThermoSample {
  long step = 0;
  double time = 0;           ///< fs
  double temperature = 0;    ///< K
  double potential = 0;      ///< eV
  double kinetic = 0;        ///< eV
  double pressure = 0;       ///< bar (NaN when no stress was computed)
  double volume = 0;         ///< Å³
  double conserved = 0;      ///< eV
  double steps_per_second = 0;
  Eigen::Matrix3d cell = Eigen::Matrix3d::Identity();
  Eigen::Matrix3d stress = Eigen::Matrix3d::Zero();  ///< eV/Å³, ASE sign
  std::size_t natoms = 0;
};

/// Observer interface: called every `every()` steps (and at step 0 of a fresh run).
template <class MemorySpace = DefaultMemorySpace>
class Observer {
 public:
  virtual ~Observer() = default;
  virtual long every() const = 0;
  virtual void observe(const ThermoSample& t, const System<MemorySpace>& sys) = 0;
  /// Called when a run resumes from a checkpoint at `step`: drop any output after it.
  virtual void resume(long /*step*/) {}
  /// Called at the end of each run() (flush files, end progress lines).
  virtual void finish() {}
};

struct SimulationOptions {
  double timestep = 1.0;            ///< fs
  std::uint64_t seed = 12345;       ///< stochastic ensembles
  int ndof = -1;                    ///< kinetic DOF; −1: 3N − 3
  std::string checkpoint;           ///< path; empty: no checkpoints
  long checkpoint_every = 0;        ///< steps; 0: only at the end of run()
  double min_distance = 0.5;        ///< Å, close-pair guard (0 disables)
  long guard_every = 10;            ///< steps between close-pair checks
  double max_volume_ratio = 4.0;    ///< cell guard
};

template <class Ens, class Pot>
class Simulation {
 public:
  using memory_space = typename Pot::memory_space;
  using MS = memory_space;
  using execution_space = typename MS::execution_space;
  NERNST_STATIC_ASSERT_POTENTIAL(Pot);

  Simulation(System<MS>& sys, Pot& pot, Ens ens, SimulationOptions opt = {})
      : sys_(sys), pot_(pot), ens_(std::move(ens)), opt_(std::move(opt)) {
    if (!(opt_.timestep > 0)) throw ValueError("MD time step must be positive (fs)");
    s_.sys = &sys_;
    s_.dt = opt_.timestep;
    s_.seed = opt_.seed;
    s_.ndof = opt_.ndof >= 0 ? opt_.ndof : default_ndof(sys.size());
    V0_ = sys.cell.volume();
  }

  void add_observer(std::shared_ptr<Observer<MS>> o) { observers_.push_back(std::move(o)); }
  MDState<MS>& state() { return s_; }
  const MDState<MS>& state() const { return s_; }
  Ens& ensemble() { return ens_; }
  long step() const { return s_.step; }
  double time() const { return s_.time; }
  System<MS>& system() { return sys_; }

  /// Conserved quantity (eV) at the current state.
  double conserved() const { return s_.last.energy + s_.kinetic_energy() + ens_.extended_energy(s_); }

  /// Current thermodynamic sample.
  ThermoSample sample() const {
    ThermoSample t;
    t.step = s_.step;
    t.time = s_.time;
    t.kinetic = s_.kinetic_energy();
    t.temperature = s_.ndof > 0 ? 2.0 * t.kinetic / (s_.ndof * units::kB) : 0.0;
    t.potential = s_.last.energy;
    t.volume = s_.volume();
    t.pressure = s_.last.has_stress ? s_.pressure_bar() : std::numeric_limits<double>::quiet_NaN();
    t.conserved = t.potential + t.kinetic + ens_.extended_energy(s_);
    t.cell = sys_.cell.matrix();
    t.stress = s_.last.stress;
    t.natoms = sys_.size();
    return t;
  }

  /// Runs `nsteps` steps. With T_start and T_stop the target temperature ramps linearly from
  /// T_start to T_stop over the run (LAMMPS `fix nvt temp T_start T_stop`).
  void run(long nsteps, double T_start = std::numeric_limits<double>::quiet_NaN(),
           double T_stop = std::numeric_limits<double>::quiet_NaN()) {
    start_run(nsteps, T_start, T_stop);
    if (needs_initial_forces()) initialize(pot_.compute(sys_, initial_request()));
    while (steps_left() > 0) end_step(evaluate(begin_step()));
    finish_run();
  }

  /// \name Step-level API
  /// run() in named pieces, for a driver that evaluates the forces of several simulations at once
  /// (md::Replicas): everything but the force evaluation stays here, so a simulation advanced
  /// piece by piece is bitwise the same as run(). run() is exactly
  /// ```
  /// start_run(n, T_start, T_stop);
  /// if (needs_initial_forces()) initialize(potential().compute(system(), initial_request()));
  /// while (steps_left() > 0) end_step(evaluate(begin_step()));   // evaluate = compute, guarded
  /// finish_run();
  /// ```
  /// The force evaluation writes the forces into system().f and returns energy and stress.
  ///@{

  /// Begins a run of `nsteps` steps (the temperature ramp as in run()).
  void start_run(long nsteps, double T_start = std::numeric_limits<double>::quiet_NaN(),
                 double T_stop = std::numeric_limits<double>::quiet_NaN()) {
    if (nsteps < 0) throw ValueError("number of MD steps must be >= 0");
    seg_ = Segment{};
    seg_.nsteps = nsteps;
    seg_.begin = s_.step;
    seg_.ramp = std::isfinite(T_start) && std::isfinite(T_stop);
    seg_.T_start = T_start;
    seg_.T_stop = T_stop;
    if (seg_.ramp) ens_.set_temperature(T_start);
    restart_clock();
  }
  /// A fresh simulation (not restored, never run) first needs the forces of its initial state.
  bool needs_initial_forces() const { return !initialized_; }
  /// What the initial evaluation computes (forces and stress).
  ComputeRequest initial_request() const { return request(true); }
  /// Takes the initial forces: guards, the ensemble's setup, the step-0 observation.
  void initialize(const ComputeResult& r) {
    take_forces(r);
    ens_.setup(s_);
    initialized_ = true;
    if (opt_.min_distance > 0) check_close_pairs();
    observe_all(true);
    restart_clock();
  }
  /// Steps of the current run still to do.
  long steps_left() const { return seg_.nsteps - seg_.done; }
  /// First half of the next step (ramp, the ensemble's before_force); returns the force
  /// evaluation the step needs.
  ComputeRequest begin_step() {
    if (!initialized_) throw Error("Simulation::begin_step before the initial forces (initialize)");
    const long k = seg_.done + 1;
    if (seg_.ramp)
      ens_.set_temperature(seg_.T_start + (seg_.T_stop - seg_.T_start) * static_cast<double>(k) / seg_.nsteps);
    guarded([&] { ens_.before_force(s_); });
    return request(false);
  }
  /// The force evaluation of a step: the potential's compute; what it throws stops the run as
  /// run() stops it (abort_step).
  ComputeResult evaluate(const ComputeRequest& req) {
    try {
      return pot_.compute(sys_, req);
    } catch (...) {
      abort_step(std::current_exception());
    }
  }
  /// A step's force evaluation threw `e` (e.g. on another thread of a batch): a ValueError (a
  /// degenerate structure) stops the run like a guard, with the step and a final checkpoint;
  /// anything else is rethrown as it is.
  [[noreturn]] void abort_step(std::exception_ptr e) {
    guarded([&] { std::rethrow_exception(e); });
    throw Error("abort_step: no exception");  // unreachable: guarded rethrows
  }
  /// Second half of the step: takes the forces (guards), the ensemble's after_force, then the
  /// step count, cell and close-pair guards, observers and periodic checkpoints.
  void end_step(const ComputeResult& r) {
    take_forces(r);
    guarded([&] { ens_.after_force(s_); });
    ++s_.step;
    s_.time += s_.dt;
    ++seg_.done;
    check_cell();
    if (opt_.min_distance > 0 && opt_.guard_every > 0 && s_.step % opt_.guard_every == 0) check_close_pairs();
    observe_all(false);
    if (!opt_.checkpoint.empty() && opt_.checkpoint_every > 0 && s_.step % opt_.checkpoint_every == 0)
      write_checkpoint(opt_.checkpoint);
  }
  /// Ends the run: the end-of-run checkpoint (unless this step just wrote one), observers finish.
  /// After an early stop it ends the run at the last completed step.
  void finish_run() {
    if (!opt_.checkpoint.empty() && (opt_.checkpoint_every == 0 || s_.step % opt_.checkpoint_every != 0) &&
        s_.step != seg_.begin)
      write_checkpoint(opt_.checkpoint);
    for (auto& o : observers_) o->finish();
  }
  ///@}

  Pot& potential() { return pot_; }
  const SimulationOptions& options() const { return opt_; }

  Checkpoint checkpoint() const {
    Checkpoint c;
    c.ensemble = Ens::name;
    c.step = s_.step;
    c.time = s_.time;
    c.dt = s_.dt;
    c.seed = s_.seed;
    c.ndof = s_.ndof;
    c.species = sys_.species;
    const std::size_t n = sys_.size();
    auto hx = Kokkos::create_mirror_view_and_copy(HostSpace(), sys_.x);
    auto hv = Kokkos::create_mirror_view_and_copy(HostSpace(), sys_.v);
    auto hf = Kokkos::create_mirror_view_and_copy(HostSpace(), sys_.f);
    auto hm = Kokkos::create_mirror_view_and_copy(HostSpace(), sys_.mass);
    auto ht = Kokkos::create_mirror_view_and_copy(HostSpace(), sys_.type);
    auto hi = Kokkos::create_mirror_view_and_copy(HostSpace(), sys_.image);
    c.x.resize(3 * n);
    c.v.resize(3 * n);
    c.f.resize(3 * n);
    c.image.resize(3 * n);
    c.mass.resize(n);
    c.type.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      for (int d = 0; d < 3; ++d) {
        c.x[3 * i + d] = hx(i, d);
        c.v[3 * i + d] = hv(i, d);
        c.f[3 * i + d] = hf(i, d);
        c.image[3 * i + d] = hi(i, d);
      }
      c.mass[i] = hm(i);
      c.type[i] = ht(i);
    }
    c.cell = sys_.cell.matrix();
    c.energy = s_.last.energy;
    c.stress = s_.last.stress;
    c.has_stress = s_.last.has_stress;
    c.ensemble_state = ens_.state();
    return c;
  }

  void write_checkpoint(const std::string& path) const { md::write_checkpoint(path, checkpoint()); }

  /// Restores the state of a checkpoint written by the same kind of ensemble; observers are
  /// told to drop output after the checkpoint step. The next run() continues bit-identically.
  /// Reads the newest intact generation (read_checkpoint_generations); when that is the
  /// previous one, the notice saying so goes to stderr. Throws CheckpointUnusable when none is.
  void restore(const std::string& path) {
    const ResumedCheckpoint r = read_checkpoint_generations(path);
    if (!r.notice.empty()) std::cerr << r.notice << "\n" << std::flush;
    restore(r.data, r.path);
  }
  void restore(const Checkpoint& c, const std::string& path = "<memory>") {
    if (c.ensemble != Ens::name)
      throw ValueError("checkpoint '" + path + "' was written by ensemble '" + c.ensemble + "', this run uses '" +
                       Ens::name + "'");
    const std::size_t n = c.natoms();
    if (sys_.size() != n) sys_ = System<MS>(n);
    sys_.species = c.species;
    sys_.cell = Lattice(c.cell);
    auto hx = Kokkos::create_mirror_view(sys_.x);
    auto hv = Kokkos::create_mirror_view(sys_.v);
    auto hf = Kokkos::create_mirror_view(sys_.f);
    auto hm = Kokkos::create_mirror_view(sys_.mass);
    auto ht = Kokkos::create_mirror_view(sys_.type);
    auto hi = Kokkos::create_mirror_view(sys_.image);
    for (std::size_t i = 0; i < n; ++i) {
      for (int d = 0; d < 3; ++d) {
        hx(i, d) = c.x[3 * i + d];
        hv(i, d) = c.v[3 * i + d];
        hf(i, d) = c.f[3 * i + d];
        hi(i, d) = c.image[3 * i + d];
      }
      hm(i) = c.mass[i];
      ht(i) = c.type[i];
    }
    Kokkos::deep_copy(sys_.x, hx);
    Kokkos::deep_copy(sys_.v, hv);
    Kokkos::deep_copy(sys_.f, hf);
    Kokkos::deep_copy(sys_.mass, hm);
    Kokkos::deep_copy(sys_.type, ht);
    Kokkos::deep_copy(sys_.image, hi);
    s_.sys = &sys_;
    s_.step = c.step;
    s_.time = c.time;
    s_.dt = c.dt;
    s_.seed = c.seed;
    s_.ndof = c.ndof;
    s_.last = ComputeResult{};
    s_.last.energy = c.energy;
    s_.last.stress = c.stress;
    s_.last.has_stress = c.has_stress;
    ens_.set_state(c.ensemble_state, s_);
    initialized_ = true;
    V0_ = sys_.cell.volume();
    for (auto& o : observers_) o->resume(c.step);
  }

 private:
  using clock = std::chrono::steady_clock;

  bool wants_sample(long step) const {
    for (const auto& o : observers_)
      if (o->every() > 0 && step % o->every() == 0) return true;
    return false;
  }

  /// The evaluation for step s_.step + 1: forces, and the stress when asked, when the ensemble
  /// needs it or when an observer samples that step.
  ComputeRequest request(bool need_stress) const {
    ComputeRequest req;
    req.forces = true;
    req.stress = need_stress || Ens::needs_stress || wants_sample(s_.step + 1);
    return req;
  }

  void take_forces(const ComputeResult& r) {
    s_.last = r;
    check_forces(s_.step + 1, s_.last.energy);
  }

  /// Runs f; a ValueError from it (e.g. a degenerate cell from the barostat) stops the run with
  /// the step it happened in.
  template <class F>
  void guarded(F&& f) {
    try {
      f();
    } catch (const SimulationError&) {
      throw;
    } catch (const ValueError& e) {
      fail("step " + std::to_string(s_.step + 1) + ": " + e.what());
    }
  }

  void restart_clock() {
    last_wall_ = clock::now();
    last_wall_step_ = s_.step;
  }

  /// Bookkeeping of the run in progress (run() or start_run()).
  struct Segment {
    long begin = 0, nsteps = 0, done = 0;
    bool ramp = false;
    double T_start = 0, T_stop = 0;
  };

  void observe_all(bool initial) {
    if (observers_.empty()) return;
    if (!initial && !wants_sample(s_.step)) return;
    ThermoSample t = sample();
    const auto now = clock::now();
    const double dt = std::chrono::duration<double>(now - last_wall_).count();
    t.steps_per_second = (dt > 0 && s_.step > last_wall_step_) ? (s_.step - last_wall_step_) / dt : 0.0;
    if (s_.step > last_wall_step_) {
      last_wall_ = now;
      last_wall_step_ = s_.step;
    }
    for (auto& o : observers_)
      if (initial || (o->every() > 0 && s_.step % o->every() == 0)) o->observe(t, sys_);
  }

  [[noreturn]] void fail(const std::string& msg) {
    std::string m = msg;
    if (!opt_.checkpoint.empty()) {
      try {
        write_checkpoint(opt_.checkpoint + ".final");
        m += "; final checkpoint written to '" + opt_.checkpoint + ".final'";
      } catch (const Error& e) {
        m += std::string("; writing the final checkpoint failed: ") + e.what();
      }
    }
    for (auto& o : observers_) o->finish();
    throw SimulationError(m);
  }

  void check_forces(long step, double energy) {
    const int bad = detail::count_non_finite_forces(sys_);
    if (bad == 0 && std::isfinite(energy)) return;
    std::ostringstream os;
    os << "step " << step << ": ";
    if (bad > 0) {
      auto hf = Kokkos::create_mirror_view_and_copy(HostSpace(), sys_.f);
      os << "non-finite force on atom(s)";
      int shown = 0;
      for (std::size_t i = 0; i < sys_.size() && shown < 10; ++i)
        if (!std::isfinite(hf(i, 0)) || !std::isfinite(hf(i, 1)) || !std::isfinite(hf(i, 2))) {
          os << ' ' << i;
          ++shown;
        }
      if (bad > shown) os << " ...";
    } else {
      os << "non-finite potential energy (" << energy << " eV)";
    }
    fail(os.str());
  }

  void check_cell() {
    const double V = sys_.cell.volume();
    if (!std::isfinite(V) || V > V0_ * opt_.max_volume_ratio || V < V0_ / opt_.max_volume_ratio) {
      std::ostringstream os;
      os << "step " << s_.step << ": cell volume " << V << " Å³ left [" << V0_ / opt_.max_volume_ratio << ", "
         << V0_ * opt_.max_volume_ratio << "] (initial " << V0_ << " Å³): the cell is "
         << (V < V0_ ? "collapsing" : "exploding");
      fail(os.str());
    }
  }

  void check_close_pairs() {
    const auto list = build_neighbor_list(execution_space(), sys_.x, sys_.cell, opt_.min_distance);
    if (list.num_pairs() == 0) return;
    auto off = Kokkos::create_mirror_view_and_copy(HostSpace(), list.offsets);
    auto nb = Kokkos::create_mirror_view_and_copy(HostSpace(), list.neighbors);
    auto sh = Kokkos::create_mirror_view_and_copy(HostSpace(), list.shifts);
    auto hx = Kokkos::create_mirror_view_and_copy(HostSpace(), sys_.x);
    std::ostringstream os;
    os << "step " << s_.step << ": atoms closer than " << opt_.min_distance << " Å:";
    int shown = 0;
    for (std::size_t i = 0; i + 1 < off.extent(0) && shown < 5; ++i)
      for (int p = off(i); p < off(i + 1) && shown < 5; ++p) {
        const int j = nb(p);
        if (j < static_cast<int>(i)) continue;
        Eigen::Vector3d r(hx(j, 0) - hx(i, 0), hx(j, 1) - hx(i, 1), hx(j, 2) - hx(i, 2));
        r += sys_.cell.to_cart(Eigen::Vector3d(sh(p, 0), sh(p, 1), sh(p, 2)));
        os << " (" << i << ", " << j << ", d = " << r.norm() << " Å)";
        ++shown;
      }
    fail(os.str());
  }

  System<MS>& sys_;
  Pot& pot_;
  Ens ens_;
  SimulationOptions opt_;
  MDState<MS> s_;
  std::vector<std::shared_ptr<Observer<MS>>> observers_;
  bool initialized_ = false;
  Segment seg_;
  double V0_ = 0;
  clock::time_point last_wall_ = clock::now();
  long last_wall_step_ = 0;
};

}  // namespace md
NERNST_NAMESPACE_END
