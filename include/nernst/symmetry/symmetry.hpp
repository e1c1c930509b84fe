#pragma once
/// \file
/// \brief The symmetry module: spglib wrapper (space groups, operations, Wyckoff positions,
/// standardisation) for ordered and disordered structures.

#include <nernst/symmetry/space_group.hpp>
#include <nernst/symmetry/standardize.hpp>
#include <nernst/symmetry/symmetry_dataset.hpp>
#include <nernst/symmetry/symmetry_operation.hpp>
