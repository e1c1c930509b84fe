#pragma once
/// \file
/// \brief Lattice: a periodic cell whose rows are the lattice vectors a, b, c (Å).

#include <nernst/core/error.hpp>
#include <nernst/core/vec3.hpp>

#include <Eigen/Core>
#include <Eigen/LU>

#include <array>
#include <cmath>

NERNST_NAMESPACE_BEGIN

class Lattice {
 public:
  using Matrix = Eigen::Matrix3d;
  using Vector = Eigen::Vector3d;

  Lattice() : m_(Matrix::Identity()), inv_(Matrix::Identity()) {}

  /// From a matrix whose rows are a, b, c in Å. Throws ValueError for a singular cell.
  explicit Lattice(const Matrix& rows) : m_(rows) {
    const double v = m_.determinant();
    const double scale = m_.row(0).norm() * m_.row(1).norm() * m_.row(2).norm();
    if (!std::isfinite(v) || !(scale > 0) || std::abs(v) < 1e-10 * scale)
      throw ValueError("singular or degenerate lattice (volume " + std::to_string(v) + " Å³)");
    inv_ = m_.inverse();
  }

  /// From lengths (Å) and angles (degrees), in the standard orientation used by ASE, pymatgen
  /// and spglib: a along x, b in the xy plane.
  static Lattice from_parameters(double a, double b, double c, double alpha, double beta, double gamma) {
    if (!(a > 0 && b > 0 && c > 0))
      throw ValueError("cell lengths must be positive");
    const double d2r = M_PI / 180.0;
    const double ca = std::cos(alpha * d2r), cb = std::cos(beta * d2r), cg = std::cos(gamma * d2r);
    // Angles of exactly 90° give exact zeros, as in ASE's cellpar_to_cell.
    const double cosa = std::abs(alpha - 90.0) < 1e-12 ? 0.0 : ca;
    const double cosb = std::abs(beta - 90.0) < 1e-12 ? 0.0 : cb;
    const double cosg = std::abs(gamma - 90.0) < 1e-12 ? 0.0 : cg;
    const double sing = std::abs(gamma - 90.0) < 1e-12 ? 1.0 : std::sin(gamma * d2r);
    Matrix m = Matrix::Zero();
    m(0, 0) = a;
    m(1, 0) = b * cosg;
    m(1, 1) = b * sing;
    m(2, 0) = c * cosb;
    m(2, 1) = c * (cosa - cosb * cosg) / sing;
    const double z2 = c * c - m(2, 0) * m(2, 0) - m(2, 1) * m(2, 1);
    if (!(z2 > 0)) throw ValueError("cell angles do not describe a valid cell");
    m(2, 2) = std::sqrt(z2);
    return Lattice(m);
  }

  const Matrix& matrix() const { return m_; }
  const Matrix& inverse() const { return inv_; }
  Vector vector(int i) const { return m_.row(i).transpose(); }

  double volume() const { return std::abs(m_.determinant()); }
  std::array<double, 3> lengths() const { return {m_.row(0).norm(), m_.row(1).norm(), m_.row(2).norm()}; }
  /// alpha, beta, gamma in degrees.
  std::array<double, 3> angles() const {
    auto ang = [&](int i, int j) {
      return std::acos(m_.row(i).dot(m_.row(j)) / (m_.row(i).norm() * m_.row(j).norm())) * 180.0 / M_PI;
    };
    return {ang(1, 2), ang(0, 2), ang(0, 1)};
  }

  /// Reciprocal lattice without the 2π factor: rows b_i with a_i · b_j = δ_ij.
  Matrix reciprocal() const { return inv_.transpose(); }

  /// Distance between opposite faces of the cell along each reciprocal direction (Å). A sphere of
  /// radius r fits inside the cell iff 2r <= min(perpendicular_widths()).
  std::array<double, 3> perpendicular_widths() const {
    const Matrix r = reciprocal();
    return {1.0 / r.row(0).norm(), 1.0 / r.row(1).norm(), 1.0 / r.row(2).norm()};
  }

  Vector to_cart(const Vector& frac) const { return m_.transpose() * frac; }
  Vector to_frac(const Vector& cart) const { return inv_.transpose() * cart; }

  /// Wraps fractional coordinates into [0, 1).
  static Vector wrap_frac(Vector f) {
    for (int i = 0; i < 3; ++i) {
      f[i] -= std::floor(f[i]);
      if (f[i] >= 1.0) f[i] = 0.0;  // -1e-17 floors to -1 and gives exactly 1.0
    }
    return f;
  }
  Vector wrap_cart(const Vector& r) const { return to_cart(wrap_frac(to_frac(r))); }

  /// Shortest image of a Cartesian difference vector (exact for any cell: searches the images
  /// around the reduced-coordinate guess).
  Vector minimum_image(const Vector& d) const {
    Vector f = to_frac(d);
    for (int i = 0; i < 3; ++i) f[i] -= std::round(f[i]);
    Vector best = to_cart(f);
    double best2 = best.squaredNorm();
    for (int a = -1; a <= 1; ++a)
      for (int b = -1; b <= 1; ++b)
        for (int c = -1; c <= 1; ++c) {
          Vector t = to_cart(f + Vector(a, b, c));
          if (t.squaredNorm() < best2) { best2 = t.squaredNorm(); best = t; }
        }
    return best;
  }

  /// Kernel-friendly copy of the matrix.
  template <class T = double>
  Mat3<T> to_mat3() const {
    Mat3<T> r;
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) r(i, j) = static_cast<T>(m_(i, j));
    return r;
  }

  /// LLL-reduced basis of the same lattice (rows), delta = 0.75.
  Lattice lll_reduced(double delta = 0.75) const {
    Matrix b = m_;
    auto gram_schmidt = [](const Matrix& basis, Matrix& bstar, Matrix& mu) {
      for (int i = 0; i < 3; ++i) {
        bstar.row(i) = basis.row(i);
        for (int j = 0; j < i; ++j) {
          mu(i, j) = basis.row(i).dot(bstar.row(j)) / bstar.row(j).squaredNorm();
          bstar.row(i) -= mu(i, j) * bstar.row(j);
        }
      }
    };
    Matrix bs, mu = Matrix::Zero();
    gram_schmidt(b, bs, mu);
    int k = 1, guard = 0;
    while (k < 3 && guard++ < 10000) {
      for (int j = k - 1; j >= 0; --j) {
        const double q = std::round(mu(k, j));
        if (q != 0) {
          b.row(k) -= q * b.row(j);
          gram_schmidt(b, bs, mu);
        }
      }
      if (bs.row(k).squaredNorm() >= (delta - mu(k, k - 1) * mu(k, k - 1)) * bs.row(k - 1).squaredNorm()) {
        ++k;
      } else {
        Vector t = b.row(k);
        b.row(k) = b.row(k - 1);
        b.row(k - 1) = t;
        gram_schmidt(b, bs, mu);
        k = k > 1 ? k - 1 : 1;
      }
    }
    if (b.determinant() < 0) b = -b;  // keep a right-handed basis
    return Lattice(b);
  }

 private:
  Matrix m_;
  Matrix inv_;
};

NERNST_NAMESPACE_END
