#pragma once
// Moving Eigen batches to and from views in the default execution space's memory (device memory in
// a CUDA build), for the kernel tests.
#include <nernst/core/kokkos.hpp>
#include <nernst/nn/matrix.hpp>

#include <random>
#include <string>
#include <vector>

namespace kernel_test {

using ES = Kokkos::DefaultExecutionSpace;
using MS = ES::memory_space;
template <class Scalar>
using View2 = Kokkos::View<Scalar**, Kokkos::LayoutRight, MS>;

template <class Scalar>
View2<Scalar> to_view(const nernst::nn::RowMatrix<double>& m, const std::string& label = "kernel_test") {
  View2<Scalar> v(label, m.rows(), m.cols());
  auto h = Kokkos::create_mirror_view(v);
  for (long i = 0; i < m.rows(); ++i)
    for (long j = 0; j < m.cols(); ++j) h(i, j) = static_cast<Scalar>(m(i, j));
  Kokkos::deep_copy(v, h);
  return v;
}

template <class V>
nernst::nn::RowMatrix<double> to_matrix(const V& v) {
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), v);
  nernst::nn::RowMatrix<double> m(v.extent(0), v.extent(1));
  for (long i = 0; i < m.rows(); ++i)
    for (long j = 0; j < m.cols(); ++j) m(i, j) = static_cast<double>(h(i, j));
  return m;
}

inline Kokkos::View<int*, MS> to_view(const std::vector<int>& v) {
  Kokkos::View<int*, MS> d("kernel_test::index", v.size());
  auto h = Kokkos::create_mirror_view(d);
  for (std::size_t i = 0; i < v.size(); ++i) h(i) = v[i];
  Kokkos::deep_copy(d, h);
  return d;
}

inline nernst::nn::RowMatrix<double> random_matrix(std::mt19937& rng, long r, long c, double scale = 1.0) {
  std::normal_distribution<double> N(0.0, scale);
  nernst::nn::RowMatrix<double> m(r, c);
  for (long i = 0; i < r * c; ++i) m.data()[i] = N(rng);
  return m;
}

/// Largest |a − b| over the largest |b| (0 when both are zero).
inline double relative_difference(const nernst::nn::RowMatrix<double>& a, const nernst::nn::RowMatrix<double>& b) {
  const double scale = b.cwiseAbs().maxCoeff();
  const double diff = (a - b).cwiseAbs().maxCoeff();
  return scale > 0 ? diff / scale : diff;
}

}  // namespace kernel_test
