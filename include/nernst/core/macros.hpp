#pragma once
/// \file
/// \brief Namespace and annotation macros used by every nernst header.

#include <nernst/config.hpp>

// Everything lives in an inline versioned namespace so that two copies of nernst (say a LAMMPS
// plugin and a host program) can coexist in one process without ODR clashes.
#define NERNST_NAMESPACE_BEGIN \
  namespace nernst {           \
  inline namespace v0_1 {
#define NERNST_NAMESPACE_END \
  }                          \
  }
