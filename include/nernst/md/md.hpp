#pragma once
/// \file
/// \brief Molecular dynamics: ensembles, integrator loop, observers, checkpoints, protocol.
#include <nernst/md/crystal.hpp>
#include <nernst/md/ensemble.hpp>
#include <nernst/md/npt.hpp>
#include <nernst/md/nvt.hpp>
#include <nernst/md/observers.hpp>
#include <nernst/md/protocol.hpp>
#include <nernst/md/restart.hpp>
#include <nernst/md/simulation.hpp>
#include <nernst/md/state.hpp>
#include <nernst/md/velocities.hpp>
