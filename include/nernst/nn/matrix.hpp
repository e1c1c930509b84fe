#pragma once
/// \file
/// \brief Batch matrices for the native layers: row-major (one sample per row), any scalar.
///
/// The layers work on batches X (rows = samples: edges or atoms, columns = features), so the
/// dense work is GEMM-shaped. Row-major keeps each sample's features contiguous, which is what
/// the graph gathers and scatters want. `Workspace` hands out matrices that only ever grow, so
/// repeated evaluations on graphs of similar size do not allocate.

#include <nernst/core/macros.hpp>

#include <Eigen/Core>

#include <cstddef>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace nn {

/// Row-major dynamic matrix of Scalar.
template <class Scalar>
using RowMatrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Writable reference to a row-major batch (a whole RowMatrix or a block of its top rows).
template <class Scalar>
using MatRef = Eigen::Ref<RowMatrix<Scalar>>;
/// Read-only reference. Column blocks of a row-major matrix bind to it too (outer stride kept).
template <class Scalar>
using ConstMatRef = Eigen::Ref<const RowMatrix<Scalar>, 0, Eigen::OuterStride<>>;
/// Writable reference that also accepts column blocks.
template <class Scalar>
using StridedMatRef = Eigen::Ref<RowMatrix<Scalar>, 0, Eigen::OuterStride<>>;

/// Grows `m` to hold at least `rows` x `cols` (never shrinks, over-allocates 25% in rows so that
/// a graph that gains a few edges does not reallocate) and returns the top `rows` rows.
template <class Scalar>
auto grow(RowMatrix<Scalar>& m, Eigen::Index rows, Eigen::Index cols) {
  if (m.cols() != cols || m.rows() < rows) {
    const Eigen::Index r = m.cols() == cols ? rows + rows / 4 + 16 : rows;
    m.resize(r, cols);
  }
  return m.topRows(rows);
}

}  // namespace nn
NERNST_NAMESPACE_END
