#pragma once
/// \file
/// \brief `FreshOnCopy<T>`: a member that a copy of its owner does not share: copying gives a
/// default-constructed T, moving moves it.
///
/// Why: Kokkos views are reference-counted handles, so a class whose scratch arrays are views
/// shares them with its copies, and two copies used on two threads would write the same memory.
/// Classes that are copied once per thread (the graph-network potentials: has_independent_copies)
/// hold their per-evaluation views in a FreshOnCopy; read-only data (weights) may stay shared.

#include <nernst/core/macros.hpp>

#include <utility>

NERNST_NAMESPACE_BEGIN

template <class T>
struct FreshOnCopy {
  T value{};

  FreshOnCopy() = default;
  FreshOnCopy(const FreshOnCopy&) : value() {}
  FreshOnCopy(FreshOnCopy&&) noexcept = default;
  FreshOnCopy& operator=(const FreshOnCopy&) {
    value = T();
    return *this;
  }
  FreshOnCopy& operator=(FreshOnCopy&&) noexcept = default;

  T& operator*() { return value; }
  const T& operator*() const { return value; }
  T* operator->() { return &value; }
  const T* operator->() const { return &value; }
};

NERNST_NAMESPACE_END
