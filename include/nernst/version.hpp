#pragma once
/// \file
/// \brief Library version as a string ("0.1.0 (git abc1234)").

#include <nernst/core/macros.hpp>

#include <string>

NERNST_NAMESPACE_BEGIN

inline std::string version() { return NERNST_VERSION_STRING; }
inline std::string version_long() { return std::string(NERNST_VERSION_STRING) + " (git " NERNST_GIT_HASH ")"; }

NERNST_NAMESPACE_END
