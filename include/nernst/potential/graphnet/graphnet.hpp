#pragma once
/// \file
/// \brief Tags of the graph-network potential family: `Potential<GraphNet<Arch>>`.
///
/// `GraphNet<Arch>` is a policy tag only; each architecture (M3GNet, CHGNet, ...) specialises
/// `Potential<GraphNet<Arch>, Scalar, MemorySpace>` in its own header.

#include <nernst/core/macros.hpp>
#include <nernst/potential/potential.hpp>

#include <type_traits>

NERNST_NAMESPACE_BEGIN

/// Policy tag: a message-passing graph-network potential of architecture `Arch`.
template <class Arch>
struct GraphNet;

/// Architecture tag of matgl's M3GNet (defined in potential/graphnet/m3gnet.hpp).
struct M3GNet;

/// Architecture tag of matgl's TensorNet (defined in potential/graphnet/tensornet.hpp).
struct TensorNet;

/// Architecture tag of mace-torch's MACE (defined in potential/graphnet/mace.hpp).
struct MACE;

/// A graph-network potential keeps its weights, graph and workspace in host containers: a copy
/// shares nothing with the original.
template <class Arch, class Scalar, class MemorySpace>
struct has_independent_copies<Potential<GraphNet<Arch>, Scalar, MemorySpace>> : std::true_type {};

NERNST_NAMESPACE_END
