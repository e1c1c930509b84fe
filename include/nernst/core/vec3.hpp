#pragma once
/// \file
/// \brief Vec3 / Mat3: tiny fixed-size value types usable inside Kokkos kernels on any backend.
///
/// Eigen is used for host-side small linear algebra; kernels use these instead because mixing
/// Eigen with device compilers is fragile. Scalar is a template parameter (double, float, Dual).

#include <nernst/core/kokkos.hpp>

NERNST_NAMESPACE_BEGIN

template <class T>
struct Vec3 {
  T x{}, y{}, z{};

  KOKKOS_INLINE_FUNCTION constexpr Vec3() = default;
  KOKKOS_INLINE_FUNCTION constexpr Vec3(T a, T b, T c) : x(a), y(b), z(c) {}

  KOKKOS_INLINE_FUNCTION T& operator[](int i) { return i == 0 ? x : (i == 1 ? y : z); }
  KOKKOS_INLINE_FUNCTION const T& operator[](int i) const { return i == 0 ? x : (i == 1 ? y : z); }

  KOKKOS_INLINE_FUNCTION Vec3& operator+=(const Vec3& o) { x += o.x; y += o.y; z += o.z; return *this; }
  KOKKOS_INLINE_FUNCTION Vec3& operator-=(const Vec3& o) { x -= o.x; y -= o.y; z -= o.z; return *this; }
  KOKKOS_INLINE_FUNCTION Vec3& operator*=(const T& s) { x *= s; y *= s; z *= s; return *this; }
};

template <class T>
KOKKOS_INLINE_FUNCTION Vec3<T> operator+(Vec3<T> a, const Vec3<T>& b) { return a += b; }
template <class T>
KOKKOS_INLINE_FUNCTION Vec3<T> operator-(Vec3<T> a, const Vec3<T>& b) { return a -= b; }
template <class T>
KOKKOS_INLINE_FUNCTION Vec3<T> operator-(const Vec3<T>& a) { return Vec3<T>(-a.x, -a.y, -a.z); }
template <class T>
KOKKOS_INLINE_FUNCTION Vec3<T> operator*(Vec3<T> a, const T& s) { return a *= s; }
template <class T>
KOKKOS_INLINE_FUNCTION Vec3<T> operator*(const T& s, Vec3<T> a) { return a *= s; }
template <class T>
KOKKOS_INLINE_FUNCTION T dot(const Vec3<T>& a, const Vec3<T>& b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
template <class T>
KOKKOS_INLINE_FUNCTION T norm2(const Vec3<T>& a) { return dot(a, a); }
template <class T>
KOKKOS_INLINE_FUNCTION Vec3<T> cross(const Vec3<T>& a, const Vec3<T>& b) {
  return Vec3<T>(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x);
}

/// Row-major 3x3 matrix; for a cell, row i is lattice vector i.
template <class T>
struct Mat3 {
  T m[3][3]{};

  KOKKOS_INLINE_FUNCTION T& operator()(int i, int j) { return m[i][j]; }
  KOKKOS_INLINE_FUNCTION const T& operator()(int i, int j) const { return m[i][j]; }
  KOKKOS_INLINE_FUNCTION Vec3<T> row(int i) const { return Vec3<T>(m[i][0], m[i][1], m[i][2]); }
};

/// r = f · M, i.e. fractional (row vector) times cell rows -> Cartesian.
template <class T>
KOKKOS_INLINE_FUNCTION Vec3<T> frac_to_cart(const Vec3<T>& f, const Mat3<T>& cell) {
  Vec3<T> r;
  for (int j = 0; j < 3; ++j) r[j] = f.x * cell(0, j) + f.y * cell(1, j) + f.z * cell(2, j);
  return r;
}

/// Inverse of a 3x3 matrix (caller guarantees non-singular).
template <class T>
KOKKOS_INLINE_FUNCTION Mat3<T> inverse(const Mat3<T>& a) {
  Mat3<T> r;
  const T c00 = a(1, 1) * a(2, 2) - a(1, 2) * a(2, 1);
  const T c01 = a(1, 2) * a(2, 0) - a(1, 0) * a(2, 2);
  const T c02 = a(1, 0) * a(2, 1) - a(1, 1) * a(2, 0);
  const T det = a(0, 0) * c00 + a(0, 1) * c01 + a(0, 2) * c02;
  const T inv = T(1) / det;
  r(0, 0) = c00 * inv;
  r(1, 0) = c01 * inv;
  r(2, 0) = c02 * inv;
  r(0, 1) = (a(0, 2) * a(2, 1) - a(0, 1) * a(2, 2)) * inv;
  r(1, 1) = (a(0, 0) * a(2, 2) - a(0, 2) * a(2, 0)) * inv;
  r(2, 1) = (a(0, 1) * a(2, 0) - a(0, 0) * a(2, 1)) * inv;
  r(0, 2) = (a(0, 1) * a(1, 2) - a(0, 2) * a(1, 1)) * inv;
  r(1, 2) = (a(0, 2) * a(1, 0) - a(0, 0) * a(1, 2)) * inv;
  r(2, 2) = (a(0, 0) * a(1, 1) - a(0, 1) * a(1, 0)) * inv;
  return r;
}

NERNST_NAMESPACE_END
