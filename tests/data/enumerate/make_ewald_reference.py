#!/usr/bin/python3
"""Generates ewald_pymatgen.json: Ewald energies and forces from pymatgen's EwaldSummation
(Debian python3-pymatgen 2022.11.7) for three small cells, as an independent reference for
nernst's Potential<Ewald>. Run: /usr/bin/python3 make_ewald_reference.py > ewald_pymatgen.json"""
import json
import random

import pymatgen
from pymatgen.analysis.ewald import EwaldSummation
from pymatgen.core import Lattice, Structure

random.seed(11)
cases = []


def add(name, lattice, species, frac, charges):
    s = Structure(Lattice(lattice), species, frac)
    s.add_oxidation_state_by_element(charges)
    e = EwaldSummation(s, acc_factor=16.0, compute_forces=True)
    cases.append({
        "name": name,
        "lattice_rows": [list(map(float, r)) for r in s.lattice.matrix],
        "species": [str(sp.symbol) for sp in s.species],
        "charges": {k: float(v) for k, v in charges.items()},
        "cartesian": [list(map(float, x)) for x in s.cart_coords],
        "energy_eV": float(e.total_energy),
        "forces_eV_per_A": [list(map(float, f)) for f in e.forces],
    })


a = 5.6402
add("NaCl_conventional", [[a, 0, 0], [0, a, 0], [0, 0, a]], ["Na"] * 4 + ["Cl"] * 4,
    [[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0], [.5, 0, 0], [0, .5, 0], [0, 0, .5], [.5, .5, .5]],
    {"Na": 1, "Cl": -1})
tric = [[5.1, 0.3, 0.2], [-0.4, 6.2, 0.1], [0.5, -0.3, 5.7]]
frac = [[random.random() for _ in range(3)] for _ in range(6)]
add("triclinic_neutral", tric, ["Li", "Li", "Mg", "O", "F", "F"], frac, {"Li": 1, "Mg": 2, "O": -2, "F": -1})
add("triclinic_charged", tric, ["Li", "Li", "Li", "F", "F"], frac[:5], {"Li": 1, "F": -1})
print(json.dumps({"generator": "pymatgen %s EwaldSummation(acc_factor=16, compute_forces=True)" % pymatgen.core.__version__,
                  "cases": cases}, indent=1))
