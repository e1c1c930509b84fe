#pragma once
/// \file
/// \brief e3nn `o3.Linear` (spec item 3) and the per-element linear of MACE's `skip_tp` (item 7).
///
/// e3nn's Linear mixes the copies of each irrep and never mixes irreps: for every output block,
/// out[w, m] = Σ_instructions Σ_u W[u, w] x[u, m] / sqrt(Σ mul_in of the instructions that feed
/// it) ("element" path normalisation), no bias. The flat weight vector holds the instructions'
/// [mul_in, mul_out] row-major blocks in instruction order. The normalisation is folded into the
/// stored matrices, so applying a path is one GEMM per m component over all rows (atoms) at once.

#include <nernst/core/error.hpp>
#include <nernst/nn/matrix.hpp>
#include <nernst/potential/graphnet/mace/irreps.hpp>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {
namespace mace {

namespace detail {

/// Strided view of component m of irrep block (offset, mul, d) in the rows of a row-major batch:
/// an N x mul matrix whose column u is feature offset + u d + m.
template <class Ptr>
auto irrep_component(Ptr data, Eigen::Index rows, Eigen::Index row_stride, int offset, int mul, int d, int m) {
  using Scalar = std::remove_const_t<std::remove_pointer_t<Ptr>>;
  using Mat = std::conditional_t<std::is_const_v<std::remove_pointer_t<Ptr>>, const nn::RowMatrix<Scalar>,
                                 nn::RowMatrix<Scalar>>;
  return Eigen::Map<Mat, 0, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>(
      data + offset + m, rows, mul, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(row_stride, d));
}

}  // namespace detail

/// One instruction of an e3nn Linear: input block → output block.
struct LinearInstruction {
  int i_in = 0, i_out = 0;
};

namespace detail {

/// Where an instruction reads and writes: multiplicities, block offsets and the irrep dimension.
struct BlockPair {
  int mul_in, mul_out, offset_in, offset_out, d;
};

inline BlockPair block_pair(const Irreps& in, const Irreps& out, const LinearInstruction& i) {
  const auto a = static_cast<std::size_t>(i.i_in), b = static_cast<std::size_t>(i.i_out);
  return {in[a].mul, out[b].mul, in.offset(a), out.offset(b), in[a].ir.dim()};
}

}  // namespace detail

/// e3nn Linear with its normalisation folded into the weights.
template <class Scalar>
struct E3nnLinear {
  Irreps irreps_in, irreps_out;
  std::vector<LinearInstruction> instructions;
  std::vector<nn::RowMatrix<Scalar>> weights;  ///< per instruction [mul_in, mul_out] × path weight

  /// e3nn's default instructions: every (i_in, i_out) with equal irreps, i_in-major.
  static std::vector<LinearInstruction> default_instructions(const Irreps& in, const Irreps& out) {
    std::vector<LinearInstruction> ins;
    for (std::size_t a = 0; a < in.size(); ++a)
      for (std::size_t b = 0; b < out.size(); ++b)
        if (in[a].ir == out[b].ir) ins.push_back({static_cast<int>(a), static_cast<int>(b)});
    return ins;
  }

  /// Builds the layer from e3nn's flat weight vector (`what` names it in errors).
  static E3nnLinear from_flat(Irreps in, Irreps out, const std::vector<double>& flat, const std::string& what) {
    E3nnLinear L;
    L.instructions = default_instructions(in, out);
    std::vector<double> fan_in(out.size(), 0.0);
    std::size_t numel = 0;
    for (const auto& i : L.instructions) {
      fan_in[static_cast<std::size_t>(i.i_out)] += in[static_cast<std::size_t>(i.i_in)].mul;
      numel += static_cast<std::size_t>(in[static_cast<std::size_t>(i.i_in)].mul) * out[static_cast<std::size_t>(i.i_out)].mul;
    }
    if (flat.size() != numel)
      throw ValueError(what + ": e3nn Linear " + in.str() + " -> " + out.str() + " needs " + std::to_string(numel) +
                       " weights, found " + std::to_string(flat.size()));
    std::size_t pos = 0;
    for (const auto& i : L.instructions) {
      const int mi = in[static_cast<std::size_t>(i.i_in)].mul, mo = out[static_cast<std::size_t>(i.i_out)].mul;
      const double alpha = 1.0 / std::sqrt(fan_in[static_cast<std::size_t>(i.i_out)]);
      nn::RowMatrix<Scalar> w(mi, mo);
      for (int u = 0; u < mi; ++u)
        for (int v = 0; v < mo; ++v) w(u, v) = static_cast<Scalar>(flat[pos++] * alpha);
      L.weights.push_back(std::move(w));
    }
    L.irreps_in = std::move(in);
    L.irreps_out = std::move(out);
    return L;
  }

  /// Y = Linear(X) for all rows: X is N x irreps_in.dim(), Y is resized to N x irreps_out.dim().
  void apply(const nn::RowMatrix<Scalar>& X, nn::RowMatrix<Scalar>& Y) const {
    if (X.cols() != irreps_in.dim()) throw ValueError("e3nn Linear: input has " + std::to_string(X.cols()) +
                                                      " features, expected " + std::to_string(irreps_in.dim()));
    Y.setZero(X.rows(), irreps_out.dim());
    for (std::size_t k = 0; k < instructions.size(); ++k) {
      const auto b = detail::block_pair(irreps_in, irreps_out, instructions[k]);
      for (int m = 0; m < b.d; ++m) {
        auto x = detail::irrep_component(X.data(), X.rows(), X.cols(), b.offset_in, b.mul_in, b.d, m);
        auto y = detail::irrep_component(Y.data(), Y.rows(), Y.cols(), b.offset_out, b.mul_out, b.d, m);
        y.noalias() += x * weights[k];
      }
    }
  }

  /// GX = (∂Y/∂X)ᵀ GY: the reverse pass of apply (the layer is linear, so no input is needed).
  void backward(const nn::RowMatrix<Scalar>& GY, nn::RowMatrix<Scalar>& GX) const {
    GX.setZero(GY.rows(), irreps_in.dim());
    for (std::size_t k = 0; k < instructions.size(); ++k) {
      const auto b = detail::block_pair(irreps_in, irreps_out, instructions[k]);
      for (int m = 0; m < b.d; ++m) {
        auto gy = detail::irrep_component(GY.data(), GY.rows(), GY.cols(), b.offset_out, b.mul_out, b.d, m);
        auto gx = detail::irrep_component(GX.data(), GX.rows(), GX.cols(), b.offset_in, b.mul_in, b.d, m);
        gx.noalias() += gy * weights[k].transpose();
      }
    }
  }

  /// e3nn's path normalisation of each instruction, 1/sqrt(Σ mul_in of the instructions feeding its
  /// output block): the factor from_flat folds into `weights` (training maps gradients back to the
  /// flat state_dict tensor with it).
  std::vector<double> path_normalisation() const {
    std::vector<double> fan_in(irreps_out.size(), 0.0), alpha;
    for (const auto& i : instructions) fan_in[static_cast<std::size_t>(i.i_out)] += irreps_in[static_cast<std::size_t>(i.i_in)].mul;
    for (const auto& i : instructions) alpha.push_back(1.0 / std::sqrt(fan_in[static_cast<std::size_t>(i.i_out)]));
    return alpha;
  }

  /// flat[...] += ∂(Σ GY ⊙ Y)/∂(e3nn's flat weight) for Y = apply(X): the gradient in the
  /// state_dict tensor's layout (instructions' [mul_in, mul_out] blocks), path normalisation included.
  void weight_gradient(const nn::RowMatrix<Scalar>& X, const nn::RowMatrix<Scalar>& GY, Scalar* flat) const {
    if (X.cols() != irreps_in.dim() || GY.cols() != irreps_out.dim() || X.rows() != GY.rows())
      throw ValueError("e3nn Linear weight gradient: input and output gradient do not match the layer");
    const auto alpha = path_normalisation();
    std::size_t pos = 0;
    for (std::size_t k = 0; k < instructions.size(); ++k) {
      const auto b = detail::block_pair(irreps_in, irreps_out, instructions[k]);
      nn::RowMatrix<Scalar> g = nn::RowMatrix<Scalar>::Zero(b.mul_in, b.mul_out);
      for (int m = 0; m < b.d; ++m) {
        auto x = detail::irrep_component(X.data(), X.rows(), X.cols(), b.offset_in, b.mul_in, b.d, m);
        auto gy = detail::irrep_component(GY.data(), GY.rows(), GY.cols(), b.offset_out, b.mul_out, b.d, m);
        g.noalias() += x.transpose() * gy;
      }
      const Scalar a = static_cast<Scalar>(alpha[k]);
      for (int u = 0; u < b.mul_in; ++u)
        for (int v = 0; v < b.mul_out; ++v) flat[pos++] += a * g(u, v);
    }
  }
};

/// MACE's `skip_tp` (an e3nn FullyConnectedTensorProduct of the features with the one-hot element,
/// `uvw`): for every output block with an irrep present in the input, sc[w, m] =
/// Σ_u W[u, z, w] h[u, m] / sqrt(mul_in · n_elements) — a linear whose matrix depends on the element.
template <class Scalar>
struct ElementLinear {
  Irreps irreps_in, irreps_out;
  std::vector<LinearInstruction> instructions;
  std::vector<std::vector<nn::RowMatrix<Scalar>>> weights;  ///< [instruction][element] [mul_in, mul_out] × path weight

  /// From the flat weight (instructions' [mul_in, n_elements, mul_out] blocks in order).
  static ElementLinear from_flat(Irreps in, Irreps out, int n_elements, const std::vector<double>& flat,
                                 const std::string& what) {
    ElementLinear L;
    L.instructions = E3nnLinear<Scalar>::default_instructions(in, out);
    std::vector<double> fan_in(out.size(), 0.0);
    std::size_t numel = 0;
    for (const auto& i : L.instructions) {
      fan_in[static_cast<std::size_t>(i.i_out)] += static_cast<double>(in[static_cast<std::size_t>(i.i_in)].mul) * n_elements;
      numel += static_cast<std::size_t>(in[static_cast<std::size_t>(i.i_in)].mul) * n_elements *
               out[static_cast<std::size_t>(i.i_out)].mul;
    }
    if (flat.size() != numel)
      throw ValueError(what + ": skip_tp " + in.str() + " x " + std::to_string(n_elements) + "x0e -> " + out.str() +
                       " needs " + std::to_string(numel) + " weights, found " + std::to_string(flat.size()));
    std::size_t pos = 0;
    for (const auto& i : L.instructions) {
      const int mi = in[static_cast<std::size_t>(i.i_in)].mul, mo = out[static_cast<std::size_t>(i.i_out)].mul;
      const double alpha = 1.0 / std::sqrt(fan_in[static_cast<std::size_t>(i.i_out)]);
      std::vector<nn::RowMatrix<Scalar>> per(static_cast<std::size_t>(n_elements), nn::RowMatrix<Scalar>(mi, mo));
      for (int u = 0; u < mi; ++u)
        for (int z = 0; z < n_elements; ++z)
          for (int v = 0; v < mo; ++v) per[static_cast<std::size_t>(z)](u, v) = static_cast<Scalar>(flat[pos++] * alpha);
      L.weights.push_back(std::move(per));
    }
    L.irreps_in = std::move(in);
    L.irreps_out = std::move(out);
    return L;
  }

  /// Y = skip_tp(X, elements): row i of X with element index element[i].
  void apply(const nn::RowMatrix<Scalar>& X, const std::vector<int>& element, nn::RowMatrix<Scalar>& Y) const {
    if (X.cols() != irreps_in.dim() || static_cast<std::size_t>(X.rows()) != element.size())
      throw ValueError("skip_tp: input is " + std::to_string(X.rows()) + " x " + std::to_string(X.cols()) +
                       ", expected " + std::to_string(element.size()) + " x " + std::to_string(irreps_in.dim()));
    Y.setZero(X.rows(), irreps_out.dim());
    for (std::size_t k = 0; k < instructions.size(); ++k) {
      const auto b = detail::block_pair(irreps_in, irreps_out, instructions[k]);
      for (Eigen::Index n = 0; n < X.rows(); ++n) {
        const auto& w = weights[k][static_cast<std::size_t>(element[static_cast<std::size_t>(n)])];
        for (int m = 0; m < b.d; ++m) {
          auto x = detail::irrep_component(X.row(n).data(), 1, X.cols(), b.offset_in, b.mul_in, b.d, m);
          auto y = detail::irrep_component(Y.row(n).data(), 1, Y.cols(), b.offset_out, b.mul_out, b.d, m);
          y.noalias() += x * w;
        }
      }
    }
  }

  /// GX = (∂Y/∂X)ᵀ GY: the reverse pass of apply for the same elements.
  void backward(const nn::RowMatrix<Scalar>& GY, const std::vector<int>& element, nn::RowMatrix<Scalar>& GX) const {
    GX.setZero(GY.rows(), irreps_in.dim());
    for (std::size_t k = 0; k < instructions.size(); ++k) {
      const auto b = detail::block_pair(irreps_in, irreps_out, instructions[k]);
      for (Eigen::Index n = 0; n < GY.rows(); ++n) {
        const auto& w = weights[k][static_cast<std::size_t>(element[static_cast<std::size_t>(n)])];
        for (int m = 0; m < b.d; ++m) {
          auto gy = detail::irrep_component(GY.row(n).data(), 1, GY.cols(), b.offset_out, b.mul_out, b.d, m);
          auto gx = detail::irrep_component(GX.row(n).data(), 1, GX.cols(), b.offset_in, b.mul_in, b.d, m);
          gx.noalias() += gy * w.transpose();
        }
      }
    }
  }

  /// flat[...] += ∂(Σ GY ⊙ Y)/∂(e3nn's flat weight) for Y = apply(X, element): the gradient in the
  /// state_dict tensor's layout (instructions' [mul_in, n_elements, mul_out] blocks), path
  /// normalisation 1/sqrt(Σ mul_in · n_elements) included.
  void weight_gradient(const nn::RowMatrix<Scalar>& X, const std::vector<int>& element, const nn::RowMatrix<Scalar>& GY,
                       Scalar* flat) const {
    if (X.cols() != irreps_in.dim() || GY.cols() != irreps_out.dim() || X.rows() != GY.rows() ||
        static_cast<std::size_t>(X.rows()) != element.size())
      throw ValueError("skip_tp weight gradient: input, elements and output gradient do not match the layer");
    std::vector<double> fan_in(irreps_out.size(), 0.0);
    const int n_el = weights.empty() ? 0 : static_cast<int>(weights[0].size());
    for (const auto& i : instructions)
      fan_in[static_cast<std::size_t>(i.i_out)] += static_cast<double>(irreps_in[static_cast<std::size_t>(i.i_in)].mul) * n_el;
    std::size_t pos = 0;
    for (std::size_t k = 0; k < instructions.size(); ++k) {
      const auto b = detail::block_pair(irreps_in, irreps_out, instructions[k]);
      std::vector<nn::RowMatrix<Scalar>> g(static_cast<std::size_t>(n_el), nn::RowMatrix<Scalar>::Zero(b.mul_in, b.mul_out));
      for (Eigen::Index n = 0; n < X.rows(); ++n) {
        auto& gz = g[static_cast<std::size_t>(element[static_cast<std::size_t>(n)])];
        for (int m = 0; m < b.d; ++m) {
          auto x = detail::irrep_component(X.row(n).data(), 1, X.cols(), b.offset_in, b.mul_in, b.d, m);
          auto gy = detail::irrep_component(GY.row(n).data(), 1, GY.cols(), b.offset_out, b.mul_out, b.d, m);
          gz.noalias() += x.transpose() * gy;
        }
      }
      const Scalar a = static_cast<Scalar>(1.0 / std::sqrt(fan_in[static_cast<std::size_t>(instructions[k].i_out)]));
      for (int u = 0; u < b.mul_in; ++u)
        for (int z = 0; z < n_el; ++z)
          for (int v = 0; v < b.mul_out; ++v) flat[pos++] += a * g[static_cast<std::size_t>(z)](u, v);
    }
  }
};

}  // namespace mace
}  // namespace graphnet
NERNST_NAMESPACE_END
