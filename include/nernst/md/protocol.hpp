#pragma once
/// \file
/// \brief Protocol: the published equilibration sequence, every duration and coupling a parameter.
///
/// 1. Maxwell–Boltzmann velocities at `initial_temperature` (seeded, zero momentum);
/// 2. linear heating to `temperature` over `heating` fs at fixed cell (NVT Nosé–Hoover);
/// 3. `nvt` fs of NVT at `temperature`;
/// 4. `npt` fs of NpT (MTK Nosé–Hoover, `tdamp`/`pdamp`, `coupling`) at `pressure`;
/// 5. the cell is set to the average over the last `average_last` fs of step 4 (positions move
///    with it at fixed fractional coordinates);
/// 6. optionally `production` fs of NVT at the averaged cell (observers attach here).
/// Defaults are the published ones: 100 K start, 2 ps heating, 50 ps NVT, 140 ps NpT with the
/// cell averaged over the last 112 ps, 1 fs step, 0.1 ps / 1 ps couplings.

#include <nernst/md/npt.hpp>
#include <nernst/md/nvt.hpp>
#include <nernst/md/observers.hpp>
#include <nernst/md/simulation.hpp>

NERNST_NAMESPACE_BEGIN
namespace md {

struct ProtocolParameters {
  double initial_temperature = 100;  ///< K
  double temperature = 600;          ///< K
  double pressure = 1.0;             ///< bar
  double timestep = 1.0;             ///< fs
  double heating = 2000;             ///< fs
  double nvt = 50000;                ///< fs
  double npt = 140000;               ///< fs
  double average_last = 112000;      ///< fs
  double production = 0;             ///< fs
  double tdamp = 100;                ///< fs
  double pdamp = 1000;               ///< fs
  Coupling coupling = Coupling::Isotropic;
  std::uint64_t seed = 1;
  long sample_every = 10;            ///< steps between cell samples in the NpT stage
};

struct ProtocolResult {
  Eigen::Matrix3d mean_cell = Eigen::Matrix3d::Zero();  ///< rows, Å
  double mean_volume = 0;                                ///< Å³ (of the averaged samples)
  double volume_std = 0;                                 ///< Å³
  double npt_temperature = 0;                            ///< K, mean over the averaging window
  long steps = 0;                                        ///< total steps run
};

class Protocol {
 public:
  explicit Protocol(ProtocolParameters p) : p_(p) {
    if (!(p.timestep > 0) || p.heating < 0 || p.nvt < 0 || !(p.npt > 0) || !(p.average_last > 0) ||
        p.average_last > p.npt || p.production < 0)
      throw ValueError("Protocol: need timestep > 0, durations >= 0, 0 < average_last <= npt");
  }
  const ProtocolParameters& parameters() const { return p_; }

  template <class Pot>
  ProtocolResult run(System<typename Pot::memory_space>& sys, Pot& pot,
                     const std::vector<std::shared_ptr<Observer<typename Pot::memory_space>>>& production_observers = {},
                     SimulationOptions base = {}) const {
    using MS = typename Pot::memory_space;
    auto nsteps = [&](double fs) { return static_cast<long>(std::llround(fs / p_.timestep)); };
    base.timestep = p_.timestep;
    base.seed = p_.seed;
    ProtocolResult res;
    maxwell_boltzmann(sys, p_.initial_temperature, p_.seed);
    {
      Ensemble<NVT, NoseHoover> nvt({p_.initial_temperature, p_.tdamp, 3});
      Simulation<Ensemble<NVT, NoseHoover>, Pot> sim(sys, pot, nvt, base);
      sim.run(nsteps(p_.heating), p_.initial_temperature, p_.temperature);
      sim.run(nsteps(p_.nvt), p_.temperature, p_.temperature);
      res.steps += sim.step();
    }
    {
      typename Ensemble<NpT, NoseHoover>::Parameters q;
      q.temperature = p_.temperature;
      q.pressure = p_.pressure;
      q.tdamp = p_.tdamp;
      q.pdamp = p_.pdamp;
      q.coupling = p_.coupling;
      Simulation<Ensemble<NpT, NoseHoover>, Pot> sim(sys, pot, Ensemble<NpT, NoseHoover>(q), base);
      const long n = nsteps(p_.npt);
      auto stats = std::make_shared<Statistics<MS>>(p_.sample_every, n - nsteps(p_.average_last));
      sim.add_observer(stats);
      sim.run(n);
      res.steps += sim.step();
      res.mean_cell = stats->mean_cell();
      res.mean_volume = Statistics<MS>::mean(stats->V);
      res.volume_std = Statistics<MS>::stddev(stats->V);
      res.npt_temperature = Statistics<MS>::mean(stats->T);
    }
    set_cell(sys, res.mean_cell);
    if (p_.production > 0) {
      Simulation<Ensemble<NVT, NoseHoover>, Pot> sim(sys, pot, Ensemble<NVT, NoseHoover>({p_.temperature, p_.tdamp, 3}),
                                                     base);
      for (const auto& o : production_observers) sim.add_observer(o);
      sim.run(nsteps(p_.production));
      res.steps += sim.step();
    }
    return res;
  }

  /// Changes the cell keeping fractional coordinates (and images) of every atom.
  template <class MS>
  static void set_cell(System<MS>& sys, const Eigen::Matrix3d& rows) {
    const Eigen::Matrix3d M = sys.cell.inverse() * rows;  // x_row ← x_row · H⁻¹ H'
    detail::linear_position_update(sys, M.transpose(), Eigen::Matrix3d::Zero());
    sys.cell = Lattice(rows);
    detail::wrap(sys);
  }

 private:
  ProtocolParameters p_;
};

}  // namespace md
NERNST_NAMESPACE_END
