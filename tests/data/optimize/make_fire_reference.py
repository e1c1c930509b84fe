#!/usr/bin/python3
"""Reference FIRE trajectories from ASE (Debian python3-ase 3.22.1) for tests/optimize.

Run with the system interpreter:  /usr/bin/python3 make_fire_reference.py
Writes fire_ase_reference.json next to this script: for two runs on a Lennard-Jones argon
crystal (ASE's LennardJones calculator, energy-shifted at rc, no smoothing)
  * "positions": FIRE on the atoms only,
  * "cell":      FIRE on ase.constraints.UnitCellFilter (positions + cell, scalar_pressure p),
the input structure, the first evaluation's energy/forces/stress, the energy and fmax at every
step and the final cell/positions. ASE's FIRE defaults (dt 0.1, maxstep 0.2, ...) throughout.
"""
import json
import os

import numpy as np
from ase.build import bulk
from ase.calculators.lj import LennardJones
from ase.constraints import UnitCellFilter
from ase.optimize import FIRE

EPS, SIG, RC = 0.0104, 3.40, 8.0


def crystal():
    at = bulk("Ar", "fcc", a=5.40, cubic=True).repeat((2, 2, 2))  # 32 atoms, slightly compressed
    rng = np.random.RandomState(7)
    at.positions += rng.uniform(-0.15, 0.15, at.positions.shape)
    cell = at.cell.array.copy()
    cell[0, 1] += 0.20  # small shear so all six stress components matter
    cell[2, 2] *= 1.03
    at.set_cell(cell, scale_atoms=True)
    return at


def run(kind, pressure=0.0, steps=60):
    at = crystal()
    at.calc = LennardJones(epsilon=EPS, sigma=SIG, rc=RC)
    start = {"cell": at.cell.array.tolist(), "positions": at.positions.tolist(),
             "numbers": at.numbers.tolist()}
    e0, f0, s0 = at.get_potential_energy(), at.get_forces(), at.get_stress()
    target = UnitCellFilter(at, scalar_pressure=pressure) if kind == "cell" else at
    opt = FIRE(target, logfile=None)
    energies, fmaxes = [], []

    def record():
        energies.append(at.get_potential_energy())
        fmaxes.append(float(np.sqrt((target.get_forces() ** 2).sum(axis=1).max())))

    opt.attach(record, interval=1)
    opt.run(fmax=1e-4, steps=steps)
    return {
        "kind": kind, "pressure_eV_A3": pressure, "steps": steps, "start": start,
        "energy0": e0, "forces0": f0.tolist(), "stress0_voigt": s0.tolist(),
        "energies": energies, "fmax": fmaxes,
        "final_cell": at.cell.array.tolist(), "final_positions": at.positions.tolist(),
    }


if __name__ == "__main__":
    import ase
    out = {"generator": "ase " + ase.__version__ + " FIRE defaults, LennardJones(epsilon=%g, sigma=%g, rc=%g)" % (EPS, SIG, RC),
           "runs": [run("positions"), run("cell", pressure=0.0), run("cell", pressure=0.005)]}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fire_ase_reference.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print("wrote", path)
