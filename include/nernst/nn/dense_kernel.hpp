#pragma once
/// \file
/// \brief Dense layers as Kokkos kernels in any execution space: Z = X Wᵀ + b with an optional
/// activation, the input gradient dX = dZ W, the activation's reverse, and the parameter gradients
/// dW += dZᵀ X, db += Σ_rows dZ.
///
/// Why these exist next to nn::Linear: the evaluators' dense layers are Eigen GEMMs on host
/// threads, which cannot run where the System lives on a GPU. These kernels are the graph networks'
/// dense layers for every back end (host threads and CUDA from one source), the first building
/// block of evaluating a network in the System's execution space (docs/threads.md, "Device
/// kernels"). A vendor GEMM (cuBLAS) may later replace the device path on CUDA.
///
/// Two shapes of the same kernel, chosen by where the execution space runs:
/// - on a device, a team takes a tile of rows, stages the tile's inputs in team scratch (≤ 32 KiB,
///   level 0: shared memory on a GPU), and its threads compute the tile's rows × out outputs, one
///   thread per output, reading W (small, cache-resident) from its memory space;
/// - on host threads (OpenMP, Threads, Serial), the rows are cut into tiles of a fixed number of
///   rows (kHostGemmRows) and each tile is one Eigen GEMM on one thread: the single-core speed of
///   the Eigen evaluators, on every thread of the back end.
///
/// Determinism: no atomics and no reduction trees. On a device every output element is one dot
/// product summed by one thread in a fixed order (over k = 0, 1, … for Z and dX; over rows in order
/// for dW and db), starting from the bias or from the value already there, so a result is bitwise
/// the same on every run, at any thread count, team size or row tile. On the host the tiles are
/// fixed by the row count alone, never by the thread count, so each row's result is bitwise the same
/// on every run and at any thread count (another tile size may round differently: Eigen's kernels
/// treat a tile's remainder rows in other code paths).
///
/// Views are rank-2 (rows = samples: edges or atoms; LayoutRight or column ranges of it), weights
/// [out, in] in PyTorch order as nn::Linear.

#include <nernst/core/error.hpp>
#include <nernst/core/kokkos.hpp>
#include <nernst/core/macros.hpp>
#include <nernst/nn/activation.hpp>
#include <nernst/nn/linear.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <string>
#include <type_traits>

NERNST_NAMESPACE_BEGIN
namespace nn {

/// Activation a dense kernel applies to Z = X Wᵀ + b.
enum class Activation { identity, silu, sigmoid };

/// a(z) for the activation `act` (nn/activation.hpp's scalar forms).
template <class Scalar>
KOKKOS_INLINE_FUNCTION Scalar activate(const Activation act, const Scalar z) {
  switch (act) {
    case Activation::silu:
      return silu(z);
    case Activation::sigmoid:
      return sigmoid(z);
    default:
      return z;
  }
}

/// a'(z) for the activation `act`.
template <class Scalar>
KOKKOS_INLINE_FUNCTION Scalar activation_slope(const Activation act, const Scalar z) {
  switch (act) {
    case Activation::silu:
      return silu_derivative(z);
    case Activation::sigmoid: {
      const Scalar s = sigmoid(z);
      return s * (Scalar(1) - s);
    }
    default:
      return Scalar(1);
  }
}

/// A dense layer's parameters in MemorySpace: weight [out, in], bias [out] (extent 0 when the layer
/// has none).
template <class Scalar, class MemorySpace>
struct DenseWeights {
  Kokkos::View<Scalar**, Kokkos::LayoutRight, MemorySpace> weight;    ///< [out, in]
  Kokkos::View<Scalar**, Kokkos::LayoutRight, MemorySpace> weight_t;  ///< [in, out]: the forward's reads
  Kokkos::View<Scalar*, MemorySpace> bias;

  DenseWeights() = default;
  /// Copies an nn::Linear (host, Eigen) into MemorySpace, once as stored and once transposed (the
  /// forward kernel reads W row k across outputs: contiguous for a host thread's vector loop and
  /// for a GPU warp's neighbouring outputs).
  explicit DenseWeights(const Linear<Scalar>& layer)
      : weight("nernst::nn::DenseWeights::weight", layer.out_features(), layer.in_features()),
        weight_t("nernst::nn::DenseWeights::weight_t", layer.in_features(), layer.out_features()),
        bias("nernst::nn::DenseWeights::bias", layer.has_bias() ? layer.out_features() : 0) {
    auto w = Kokkos::create_mirror_view(weight);
    auto wt = Kokkos::create_mirror_view(weight_t);
    auto b = Kokkos::create_mirror_view(bias);
    for (int o = 0; o < out_features(); ++o) {
      for (int k = 0; k < in_features(); ++k) w(o, k) = wt(k, o) = layer.weight(o, k);
      if (has_bias()) b(o) = layer.bias(o);
    }
    Kokkos::deep_copy(weight, w);
    Kokkos::deep_copy(weight_t, wt);
    Kokkos::deep_copy(bias, b);
  }
  int in_features() const { return static_cast<int>(weight.extent(1)); }
  int out_features() const { return static_cast<int>(weight.extent(0)); }
  bool has_bias() const { return bias.extent(0) != 0; }
};

namespace detail {


/// Rows per team tile: as many as keep the staged inputs within 32 KiB (at most 32, at least 1).
template <class Scalar>
inline int dense_row_tile(const int width) {
  const int by_bytes = static_cast<int>(32768 / (sizeof(Scalar) * static_cast<std::size_t>(width > 0 ? width : 1)));
  return by_bytes < 1 ? 1 : (by_bytes > 32 ? 32 : by_bytes);
}

inline void check_dense_shapes(const char* what, const bool ok, const std::string& detail) {
  if (!ok) throw ValueError(std::string("nn::") + what + ": " + detail);
}

/// Device path of dense_forward: Z = X Wᵀ + b (or Z += X Wᵀ with `accumulate`), A = a(Z) when A is
/// allocated. One team per tile of rows, one thread per (row, output), each output summed over k =
/// 0, 1, … from the bias.
template <class ES, class XV, class WV, class BV, class ZV, class AV>
struct DenseForwardKernel {
  using Scalar = typename ZV::non_const_value_type;
  using Team = typename Kokkos::TeamPolicy<ES>::member_type;
  using Tile = Kokkos::View<Scalar**, Kokkos::LayoutRight, typename ES::scratch_memory_space, Kokkos::MemoryUnmanaged>;
  XV x;
  WV wt;
  BV b;
  ZV z;
  AV a;
  Activation act;
  int rows, in, out, tile;
  bool accumulate;

  KOKKOS_INLINE_FUNCTION void operator()(const Team& team) const {
    const int r0 = team.league_rank() * tile;
    const int nr = math::min(tile, rows - r0);
    Tile xs(team.team_scratch(0), tile, in);
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, nr * in),
                         [&](const int q) { xs(q / in, q % in) = x(r0 + q / in, q % in); });
    team.team_barrier();
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, nr * out), [&](const int q) {
      const int r = q / out, o = q % out;
      Scalar acc = start(r0 + r, o);
      for (int k = 0; k < in; ++k) acc += xs(r, k) * wt(k, o);
      finish(r0 + r, o, acc);
    });
  }

  KOKKOS_INLINE_FUNCTION Scalar start(const int row, const int o) const {
    return accumulate ? z(row, o) : (b.extent(0) != 0 ? b(o) : Scalar(0));
  }
  KOKKOS_INLINE_FUNCTION void finish(const int row, const int o, const Scalar acc) const {
    z(row, o) = acc;
    if (a.data() != nullptr) a(row, o) = activate(act, acc);
  }
};

/// Device path of dense_input_gradient: dX = dZ W (or dX += dZ W). One team per tile of rows, one
/// thread per (row, input), each input summed over o = 0, 1, ….
template <class ES, class DZV, class WV, class DXV>
struct DenseInputGradientKernel {
  using Scalar = typename DXV::non_const_value_type;
  using Team = typename Kokkos::TeamPolicy<ES>::member_type;
  using Tile = Kokkos::View<Scalar**, Kokkos::LayoutRight, typename ES::scratch_memory_space, Kokkos::MemoryUnmanaged>;
  DZV dz;
  WV w;
  DXV dx;
  int rows, in, out, tile;
  bool accumulate;

  KOKKOS_INLINE_FUNCTION void operator()(const Team& team) const {
    const int r0 = team.league_rank() * tile;
    const int nr = math::min(tile, rows - r0);
    Tile ds(team.team_scratch(0), tile, out);
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, nr * out),
                         [&](const int q) { ds(q / out, q % out) = dz(r0 + q / out, q % out); });
    team.team_barrier();
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, nr * in), [&](const int q) {
      const int r = q / in, k = q % in;
      Scalar acc = accumulate ? dx(r0 + r, k) : Scalar(0);
      for (int o = 0; o < out; ++o) acc += ds(r, o) * w(o, k);
      dx(r0 + r, k) = acc;
    });
  }
};

/// Rows per GEMM tile of the host path. Fixed (never derived from the thread count), so that a row
/// always goes through the same GEMM.
inline constexpr int kHostGemmRows = 128;

/// Rows [r0, r0 + n) of a rank-2 host view as an Eigen row-major map (rows `stride(0)` apart; the
/// columns of a row contiguous, checked by check_host_gemm_view before a launch).
template <class V>
auto eigen_rows(const V& v, const int r0, const int n) {
  using Value = typename V::value_type;
  using Matrix = Eigen::Matrix<std::remove_const_t<Value>, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Map = Eigen::Map<std::conditional_t<std::is_const_v<Value>, const Matrix, Matrix>, Eigen::Unaligned,
                         Eigen::OuterStride<>>;
  const auto outer = static_cast<Eigen::Index>(v.stride(0));
  return Map(v.data() + static_cast<std::ptrdiff_t>(r0) * outer, n, static_cast<Eigen::Index>(v.extent(1)),
             Eigen::OuterStride<>(outer));
}

template <class V>
void check_host_gemm_view(const char* what, const char* name, const V& v) {
  check_dense_shapes(what, v.data() == nullptr || v.extent(1) <= 1 || v.stride(1) == 1,
                     std::string(name) + "'s rows are not contiguous (column stride " + std::to_string(v.stride(1)) +
                         ")");
}

/// a = act(z) over a row of n values (a and z do not overlap): flat loops the compiler vectorises,
/// e^x by exp_poly (nn/activation.hpp).
template <class Scalar>
void host_activation(const Scalar* __restrict z, Scalar* __restrict a, const int n, const Activation act) {
  switch (act) {
    case Activation::silu:
      for (int o = 0; o < n; ++o) a[o] = z[o] * (Scalar(1) / (Scalar(1) + exp_poly<Scalar>(-z[o])));
      break;
    case Activation::sigmoid:
      for (int o = 0; o < n; ++o) a[o] = Scalar(1) / (Scalar(1) + exp_poly<Scalar>(-z[o]));
      break;
    default:
      for (int o = 0; o < n; ++o) a[o] = z[o];
  }
}

/// Host path of dense_forward: one Eigen GEMM Z = X Wᵀ (+= with `accumulate`) per tile of rows, then
/// the bias and the activation row by row. Host code only (called by host execution spaces).
template <class XV, class WV, class BV, class ZV, class AV>
struct DenseForwardHostTiles {
  XV x;
  WV w;
  BV b;
  ZV z;
  AV a;
  Activation act;
  int rows, tile;
  bool accumulate;
  void operator()(const int t) const {
    const int r0 = t * tile, n = std::min(tile, rows - r0);
    const auto X = eigen_rows(x, r0, n);
    const auto W = eigen_rows(w, 0, static_cast<int>(w.extent(0)));
    auto Z = eigen_rows(z, r0, n);
    // The bias first, then the GEMM adds onto it (Eigen's "=" would zero Z first: one pass fewer).
    if (!accumulate && b.extent(0) != 0)
      Z.rowwise() = Eigen::Map<const Eigen::Matrix<typename ZV::non_const_value_type, 1, Eigen::Dynamic>>(b.data(),
                                                                                                      Z.cols());
    if (accumulate || b.extent(0) != 0)
      Z.noalias() += X * W.transpose();
    else
      Z.noalias() = X * W.transpose();
    if (a.data() == nullptr) return;
    for (int r = 0; r < n; ++r) host_activation(&Z(r, 0), &a(r0 + r, 0), static_cast<int>(Z.cols()), act);
  }
};

/// Host path of activation_forward: A = a(Z) row by row.
template <class ZV, class AV>
struct ActivationForwardHostRows {
  ZV z;
  AV a;
  Activation act;
  void operator()(const int r) const { host_activation(&z(r, 0), &a(r, 0), static_cast<int>(z.extent(1)), act); }
};

/// dz = da ⊙ act'(z) over a row of n values (dz may be da; z distinct): vectorised, e^x by exp_poly.
template <class Scalar>
void host_activation_reverse(const Scalar* __restrict z, const Scalar* da, Scalar* dz, const int n,
                             const Activation act) {
  switch (act) {
    case Activation::silu:
      for (int o = 0; o < n; ++o) {
        const Scalar s = Scalar(1) / (Scalar(1) + exp_poly<Scalar>(-z[o]));
        dz[o] = da[o] * (s * (Scalar(1) + z[o] * (Scalar(1) - s)));
      }
      break;
    case Activation::sigmoid:
      for (int o = 0; o < n; ++o) {
        const Scalar s = Scalar(1) / (Scalar(1) + exp_poly<Scalar>(-z[o]));
        dz[o] = da[o] * (s * (Scalar(1) - s));
      }
      break;
    default:
      for (int o = 0; o < n; ++o) dz[o] = da[o];
  }
}

/// Host path of activation_reverse: dZ = dA ⊙ a'(Z) row by row.
template <class ZV, class DAV, class DZV>
struct ActivationReverseHostRows {
  ZV z;
  DAV da;
  DZV dz;
  Activation act;
  void operator()(const int r) const {
    host_activation_reverse(&z(r, 0), &da(r, 0), &dz(r, 0), static_cast<int>(z.extent(1)), act);
  }
};

/// Host path of dense_input_gradient: one Eigen GEMM dX = dZ W (+= with `accumulate`) per tile.
template <class DZV, class WV, class DXV>
struct DenseInputGradientHostTiles {
  DZV dz;
  WV w;
  DXV dx;
  int rows, tile;
  bool accumulate;
  void operator()(const int t) const {
    const int r0 = t * tile, n = std::min(tile, rows - r0);
    const auto dZ = eigen_rows(dz, r0, n);
    const auto W = eigen_rows(w, 0, static_cast<int>(w.extent(0)));
    auto dX = eigen_rows(dx, r0, n);
    if (accumulate)
      dX.noalias() += dZ * W;
    else
      dX.noalias() = dZ * W;
  }
};

/// A = a(Z), element by element.
template <class ZV, class AV>
struct ActivationForwardKernel {
  ZV z;
  AV a;
  Activation act;
  KOKKOS_INLINE_FUNCTION void operator()(const int r, const int c) const { a(r, c) = activate(act, z(r, c)); }
};

/// dZ = dA ⊙ a'(Z), element by element.
template <class ZV, class DAV, class DZV>
struct ActivationReverseKernel {
  ZV z;
  DAV da;
  DZV dz;
  Activation act;
  KOKKOS_INLINE_FUNCTION void operator()(const int r, const int c) const {
    dz(r, c) = da(r, c) * activation_slope(act, z(r, c));
  }
};

/// dW(o, k) += Σ_r dZ(r, o) X(r, k), rows in order; db(o) += Σ_r dZ(r, o). One thread per weight
/// (the last `out` threads also do the bias).
template <class XV, class DZV, class DWV, class DBV>
struct DenseParameterGradientKernel {
  using Scalar = typename DWV::non_const_value_type;
  XV x;
  DZV dz;
  DWV dw;
  DBV db;
  int rows, in, out;
  KOKKOS_INLINE_FUNCTION void operator()(const int q) const {
    if (q < out * in) {
      const int o = q / in, k = q % in;
      Scalar acc = dw(o, k);
      for (int r = 0; r < rows; ++r) acc += dz(r, o) * x(r, k);
      dw(o, k) = acc;
    } else {
      const int o = q - out * in;
      Scalar acc = db(o);
      for (int r = 0; r < rows; ++r) acc += dz(r, o);
      db(o) = acc;
    }
  }
};

}  // namespace detail

/// Z = X Wᵀ + b (Z += X Wᵀ with `accumulate`; the bias is then not added) and, when A is allocated
/// (A.data() != nullptr), A = a(Z). X: [rows, in]; Z, A: [rows, out]. `row_tile` 0 picks the tile:
/// on a device ≤ 32 rows within 32 KiB of scratch (any tile gives the same bits), on the host
/// kHostGemmRows rows per GEMM.
template <class ExecutionSpace, class XV, class Weights, class ZV, class AV>
void dense_forward(const ExecutionSpace& space, const XV& X, const Weights& layer, const ZV& Z, const AV& A,
                   const Activation act = Activation::identity, const bool accumulate = false, int row_tile = 0) {
  using Scalar = typename ZV::non_const_value_type;
  const int rows = static_cast<int>(X.extent(0)), in = layer.in_features(), out = layer.out_features();
  detail::check_dense_shapes(
      "dense_forward", static_cast<int>(X.extent(1)) == in,
      "X has " + std::to_string(X.extent(1)) + " columns, the layer " + std::to_string(in) + " inputs");
  detail::check_dense_shapes("dense_forward",
                             static_cast<int>(Z.extent(0)) == rows && static_cast<int>(Z.extent(1)) == out,
                             "Z is " + std::to_string(Z.extent(0)) + " x " + std::to_string(Z.extent(1)) +
                                 ", expected " + std::to_string(rows) + " x " + std::to_string(out));
  detail::check_dense_shapes(
      "dense_forward",
      A.data() == nullptr || (static_cast<int>(A.extent(0)) == rows && static_cast<int>(A.extent(1)) == out),
      "A differs in shape from Z");
  if (rows == 0) return;
  if constexpr (runs_on_host_v<ExecutionSpace>) {
    detail::check_host_gemm_view("dense_forward", "X", X);
    detail::check_host_gemm_view("dense_forward", "Z", Z);
    detail::check_host_gemm_view("dense_forward", "A", A);
    const int tile = row_tile > 0 ? row_tile : detail::kHostGemmRows;
    Kokkos::parallel_for("nernst::nn::dense_forward", Kokkos::RangePolicy<ExecutionSpace>(space, 0, (rows + tile - 1) / tile),
                         detail::DenseForwardHostTiles<XV, decltype(layer.weight), decltype(layer.bias), ZV, AV>{
                             X, layer.weight, layer.bias, Z, A, act, rows, tile, accumulate});
  } else {
    const int tile = row_tile > 0 ? row_tile : detail::dense_row_tile<Scalar>(in);
    using Kernel = detail::DenseForwardKernel<ExecutionSpace, XV, decltype(layer.weight_t), decltype(layer.bias), ZV, AV>;
  const std::size_t bytes = Kernel::Tile::shmem_size(tile, in);
  Kokkos::parallel_for("nernst::nn::dense_forward",
                       Kokkos::TeamPolicy<ExecutionSpace>(space, (rows + tile - 1) / tile, Kokkos::AUTO)
                           .set_scratch_size(0, Kokkos::PerTeam(bytes)),
                         Kernel{X, layer.weight_t, layer.bias, Z, A, act, rows, in, out, tile, accumulate});
  }
}

/// dX = dZ W (dX += dZ W with `accumulate`). dZ: [rows, out]; dX: [rows, in].
template <class ExecutionSpace, class DZV, class Weights, class DXV>
void dense_input_gradient(const ExecutionSpace& space, const DZV& dZ, const Weights& layer, const DXV& dX,
                          const bool accumulate = false, int row_tile = 0) {
  using Scalar = typename DXV::non_const_value_type;
  const int rows = static_cast<int>(dZ.extent(0)), in = layer.in_features(), out = layer.out_features();
  detail::check_dense_shapes(
      "dense_input_gradient", static_cast<int>(dZ.extent(1)) == out,
      "dZ has " + std::to_string(dZ.extent(1)) + " columns, the layer " + std::to_string(out) + " outputs");
  detail::check_dense_shapes("dense_input_gradient",
                             static_cast<int>(dX.extent(0)) == rows && static_cast<int>(dX.extent(1)) == in,
                             "dX is " + std::to_string(dX.extent(0)) + " x " + std::to_string(dX.extent(1)) +
                                 ", expected " + std::to_string(rows) + " x " + std::to_string(in));
  if (rows == 0) return;
  if constexpr (runs_on_host_v<ExecutionSpace>) {
    detail::check_host_gemm_view("dense_input_gradient", "dZ", dZ);
    detail::check_host_gemm_view("dense_input_gradient", "dX", dX);
    const int tile = row_tile > 0 ? row_tile : detail::kHostGemmRows;
    Kokkos::parallel_for("nernst::nn::dense_input_gradient",
                         Kokkos::RangePolicy<ExecutionSpace>(space, 0, (rows + tile - 1) / tile),
                         detail::DenseInputGradientHostTiles<DZV, decltype(layer.weight), DXV>{dZ, layer.weight, dX,
                                                                                               rows, tile, accumulate});
  } else {
    const int tile = row_tile > 0 ? row_tile : detail::dense_row_tile<Scalar>(out);
    using Kernel = detail::DenseInputGradientKernel<ExecutionSpace, DZV, decltype(layer.weight), DXV>;
  const std::size_t bytes = Kernel::Tile::shmem_size(tile, out);
  Kokkos::parallel_for("nernst::nn::dense_input_gradient",
                       Kokkos::TeamPolicy<ExecutionSpace>(space, (rows + tile - 1) / tile, Kokkos::AUTO)
                           .set_scratch_size(0, Kokkos::PerTeam(bytes)),
                         Kernel{dZ, layer.weight, dX, rows, in, out, tile, accumulate});
  }
}

/// A = a(Z) (A and Z distinct arrays): a layer's activation where its pre-activations came from
/// elsewhere.
template <class ExecutionSpace, class ZV, class AV>
void activation_forward(const ExecutionSpace& space, const Activation act, const ZV& Z, const AV& A) {
  const int rows = static_cast<int>(Z.extent(0)), cols = static_cast<int>(Z.extent(1));
  detail::check_dense_shapes("activation_forward",
                             static_cast<int>(A.extent(0)) == rows && static_cast<int>(A.extent(1)) == cols,
                             "Z and A differ in shape");
  if constexpr (runs_on_host_v<ExecutionSpace>) {
    detail::check_host_gemm_view("activation_forward", "Z", Z);
    detail::check_host_gemm_view("activation_forward", "A", A);
    Kokkos::parallel_for("nernst::nn::activation_forward", Kokkos::RangePolicy<ExecutionSpace>(space, 0, rows),
                         detail::ActivationForwardHostRows<ZV, AV>{Z, A, act});
  } else {
    Kokkos::parallel_for("nernst::nn::activation_forward", matrix_policy(space, rows, cols),
                         detail::ActivationForwardKernel<ZV, AV>{Z, A, act});
  }
}

/// dZ = dA ⊙ a'(Z) (dZ may be dA itself).
template <class ExecutionSpace, class ZV, class DAV, class DZV>
void activation_reverse(const ExecutionSpace& space, const Activation act, const ZV& Z, const DAV& dA, const DZV& dZ) {
  const int rows = static_cast<int>(Z.extent(0)), cols = static_cast<int>(Z.extent(1));
  detail::check_dense_shapes("activation_reverse",
                             static_cast<int>(dA.extent(0)) == rows && static_cast<int>(dA.extent(1)) == cols &&
                                 static_cast<int>(dZ.extent(0)) == rows && static_cast<int>(dZ.extent(1)) == cols,
                             "Z, dA and dZ differ in shape");
  if constexpr (runs_on_host_v<ExecutionSpace>) {
    detail::check_host_gemm_view("activation_reverse", "Z", Z);
    detail::check_host_gemm_view("activation_reverse", "dA", dA);
    detail::check_host_gemm_view("activation_reverse", "dZ", dZ);
    Kokkos::parallel_for("nernst::nn::activation_reverse", Kokkos::RangePolicy<ExecutionSpace>(space, 0, rows),
                         detail::ActivationReverseHostRows<ZV, DAV, DZV>{Z, dA, dZ, act});
  } else {
    Kokkos::parallel_for("nernst::nn::activation_reverse", matrix_policy(space, rows, cols),
                         detail::ActivationReverseKernel<ZV, DAV, DZV>{Z, dA, dZ, act});
  }
}

/// Training: dW += dZᵀ X and db += Σ_rows dZ (db only when the layer has a bias; dW, db shaped as
/// the layer's weight and bias).
template <class ExecutionSpace, class XV, class DZV, class DWV, class DBV>
void dense_parameter_gradients(const ExecutionSpace& space, const XV& X, const DZV& dZ, const DWV& dW, const DBV& dB) {
  const int rows = static_cast<int>(X.extent(0)), in = static_cast<int>(dW.extent(1)),
            out = static_cast<int>(dW.extent(0));
  detail::check_dense_shapes("dense_parameter_gradients",
                             static_cast<int>(X.extent(1)) == in && static_cast<int>(dZ.extent(0)) == rows &&
                                 static_cast<int>(dZ.extent(1)) == out,
                             "X [" + std::to_string(X.extent(0)) + " x " + std::to_string(X.extent(1)) + "], dZ [" +
                                 std::to_string(dZ.extent(0)) + " x " + std::to_string(dZ.extent(1)) + "] and dW [" +
                                 std::to_string(out) + " x " + std::to_string(in) + "] do not match");
  const int nb = static_cast<int>(dB.extent(0));
  detail::check_dense_shapes("dense_parameter_gradients", nb == 0 || nb == out,
                             "db has " + std::to_string(nb) + " entries");
  Kokkos::parallel_for("nernst::nn::dense_parameter_gradients",
                       Kokkos::RangePolicy<ExecutionSpace>(space, 0, out * in + nb),
                       detail::DenseParameterGradientKernel<XV, DZV, DWV, DBV>{X, dZ, dW, dB, rows, in, out});
}

}  // namespace nn
NERNST_NAMESPACE_END
