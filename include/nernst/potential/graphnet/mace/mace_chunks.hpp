#pragma once
/// \file
/// \brief MACE on the host threads: how one evaluation's edges and atoms are split into row chunks
/// (nn::RowChunks, one per thread of Kokkos' host execution space), the edge index by receiver and
/// by sender, and the blocks (e3nn linears, skip_tp, radial MLP, radial embedding) applied to a
/// range of rows.
///
/// Why rows and not single items: every stage of MACE is either a dense map of rows (linears and
/// the radial MLP: one GEMM per chunk on the thread that owns it), a per-row kernel (harmonics,
/// the symmetric contraction) or a sum over edges onto atoms. The sums are made deterministic
/// without private partials: the edges are grouped by the atom they are summed onto (receivers
/// in the forward `convolve`, senders in `convolve_backward`), the chunks own disjoint atoms, and
/// each atom adds its edges in graph order — exactly the serial sum, at any thread count. There
/// are no floating-point atomics; per-row kernels give bitwise the serial rows, and the GEMMs of
/// a chunk differ from the serial GEMM only in how Eigen's kernel blocks the rows (see the tests
/// for what that costs: nothing measurable in double).
///
/// The block functions here take the same weights as the blocks' own `apply` / `backward`
/// (e3nn_linear.hpp, radial.hpp) and do the same arithmetic in the same order, restricted to rows
/// [r0, r1); the destination is sized by the caller before the chunks run.

#include <nernst/core/error.hpp>
#include <nernst/nn/matrix.hpp>
#include <nernst/nn/row_chunks.hpp>
#include <nernst/potential/graphnet/mace/e3nn_linear.hpp>
#include <nernst/potential/graphnet/mace/mace_graph.hpp>
#include <nernst/potential/graphnet/mace/radial.hpp>

#include <cmath>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {
namespace mace {

/// Fewest edges worth a thread (a chunk's per-edge work is a few radial-MLP rows and conv_tp).
inline constexpr Eigen::Index kMinEdgeChunk = 256;
/// Fewest atoms worth a thread: an atom's symmetric contraction and linears cost about as much as
/// tens of edges, so a chunk of 16 atoms already outweighs the cost of a parallel region.
inline constexpr Eigen::Index kMinNodeChunk = 16;

/// Edges grouped by an atom (CSR): the edges of atom i are edge[ptr[i]] .. edge[ptr[i+1] − 1], in
/// graph order.
struct EdgeIndex {
  std::vector<int> ptr, edge;

  /// Groups the edges e by key[e] (atoms 0..n−1), keeping graph order within an atom (counting sort).
  void build(const std::vector<int>& key, std::size_t n) {
    ptr.assign(n + 1, 0);
    for (const int k : key) ++ptr[static_cast<std::size_t>(k) + 1];
    for (std::size_t i = 0; i < n; ++i) ptr[i + 1] += ptr[i];
    edge.resize(key.size());
    std::vector<int> next(ptr.begin(), ptr.end() - 1);
    for (std::size_t e = 0; e < key.size(); ++e) edge[static_cast<std::size_t>(next[static_cast<std::size_t>(key[e])]++)] = static_cast<int>(e);
  }
};

/// The row chunks of one evaluation, fixed when the forward pass starts (the thread count then:
/// nn::host_threads()) and kept in its ForwardState, so that the reverse pass splits the same way.
struct MACEChunks {
  nn::RowChunks edges;        ///< contiguous edge rows
  nn::RowChunks nodes;        ///< contiguous atom rows (also the receivers / senders of the edge sums)
  EdgeIndex by_receiver;      ///< what convolve sums onto each atom
  EdgeIndex by_sender;        ///< what convolve_backward sums onto each atom
  std::size_t n_edges = 0, n_nodes = 0;

  /// Splits the graph's edges and `n_nodes` atoms over `threads` threads and indexes the edges.
  void build(const MACEGraph& g, std::size_t n_nodes_, int threads) {
    n_edges = g.size();
    n_nodes = n_nodes_;
    edges.split(static_cast<Eigen::Index>(n_edges), threads, kMinEdgeChunk);
    nodes.split(static_cast<Eigen::Index>(n_nodes), threads, kMinNodeChunk);
    by_receiver.build(g.receiver, n_nodes);
    by_sender.build(g.sender, n_nodes);
  }

  /// Whether these chunks were built for a graph of this size (a state built by hand may lack them).
  bool fits(const MACEGraph& g, std::size_t n) const {
    return n_edges == g.size() && n_nodes == n && edges.size() > 0 && nodes.size() > 0 &&
           by_receiver.ptr.size() == n + 1 && by_sender.ptr.size() == n + 1;
  }
};

/// `chunks` if it fits the graph, else a plan built into `local` for the current thread count (the
/// stage functions called on their own, outside forward()).
inline const MACEChunks& chunks_for(const MACEChunks& chunks, const MACEGraph& g, std::size_t n, MACEChunks& local) {
  if (chunks.fits(g, n)) return chunks;
  local.build(g, n, nn::host_threads());
  return local;
}

/// Row r0..r1 of an e3nn Linear: Y rows = Linear(X rows). Y must already be X.rows() x
/// irreps_out.dim(); the rows are zeroed and filled as E3nnLinear::apply does.
template <class Scalar>
void linear_rows(const E3nnLinear<Scalar>& L, const nn::RowMatrix<Scalar>& X, nn::RowMatrix<Scalar>& Y, Eigen::Index r0,
                 Eigen::Index r1) {
  const Eigen::Index n = r1 - r0;
  Y.middleRows(r0, n).setZero();
  for (std::size_t k = 0; k < L.instructions.size(); ++k) {
    const auto b = detail::block_pair(L.irreps_in, L.irreps_out, L.instructions[k]);
    for (int m = 0; m < b.d; ++m) {
      auto x = detail::irrep_component(X.row(r0).data(), n, X.cols(), b.offset_in, b.mul_in, b.d, m);
      auto y = detail::irrep_component(Y.row(r0).data(), n, Y.cols(), b.offset_out, b.mul_out, b.d, m);
      y.noalias() += x * L.weights[k];
    }
  }
}

/// Rows r0..r1 of E3nnLinear::backward (GX sized GY.rows() x irreps_in.dim() by the caller).
template <class Scalar>
void linear_backward_rows(const E3nnLinear<Scalar>& L, const nn::RowMatrix<Scalar>& GY, nn::RowMatrix<Scalar>& GX,
                          Eigen::Index r0, Eigen::Index r1) {
  const Eigen::Index n = r1 - r0;
  GX.middleRows(r0, n).setZero();
  for (std::size_t k = 0; k < L.instructions.size(); ++k) {
    const auto b = detail::block_pair(L.irreps_in, L.irreps_out, L.instructions[k]);
    for (int m = 0; m < b.d; ++m) {
      auto gy = detail::irrep_component(GY.row(r0).data(), n, GY.cols(), b.offset_out, b.mul_out, b.d, m);
      auto gx = detail::irrep_component(GX.row(r0).data(), n, GX.cols(), b.offset_in, b.mul_in, b.d, m);
      gx.noalias() += gy * L.weights[k].transpose();
    }
  }
}

/// Y = Linear(X) over the row chunks `rows` (Y resized).
template <class Scalar>
void apply_linear(const E3nnLinear<Scalar>& L, const nn::RowMatrix<Scalar>& X, nn::RowMatrix<Scalar>& Y, const nn::RowChunks& rows) {
  if (X.cols() != L.irreps_in.dim())
    throw ValueError("e3nn Linear: input has " + std::to_string(X.cols()) + " features, expected " + std::to_string(L.irreps_in.dim()));
  Y.resize(X.rows(), L.irreps_out.dim());
  rows.run([&](int, Eigen::Index r0, Eigen::Index r1) { linear_rows(L, X, Y, r0, r1); });
}

/// GX = (∂Y/∂X)ᵀ GY over the row chunks `rows` (GX resized).
template <class Scalar>
void backward_linear(const E3nnLinear<Scalar>& L, const nn::RowMatrix<Scalar>& GY, nn::RowMatrix<Scalar>& GX, const nn::RowChunks& rows) {
  GX.resize(GY.rows(), L.irreps_in.dim());
  rows.run([&](int, Eigen::Index r0, Eigen::Index r1) { linear_backward_rows(L, GY, GX, r0, r1); });
}

/// skip_tp (ElementLinear::apply) over the row chunks `rows` (Y resized).
template <class Scalar>
void apply_element_linear(const ElementLinear<Scalar>& L, const nn::RowMatrix<Scalar>& X, const std::vector<int>& element,
                          nn::RowMatrix<Scalar>& Y, const nn::RowChunks& rows) {
  if (X.cols() != L.irreps_in.dim() || static_cast<std::size_t>(X.rows()) != element.size())
    throw ValueError("skip_tp: input is " + std::to_string(X.rows()) + " x " + std::to_string(X.cols()) + ", expected " +
                     std::to_string(element.size()) + " x " + std::to_string(L.irreps_in.dim()));
  Y.resize(X.rows(), L.irreps_out.dim());
  rows.run([&](int, Eigen::Index r0, Eigen::Index r1) {
    Y.middleRows(r0, r1 - r0).setZero();
    for (std::size_t k = 0; k < L.instructions.size(); ++k) {
      const auto b = detail::block_pair(L.irreps_in, L.irreps_out, L.instructions[k]);
      for (Eigen::Index n = r0; n < r1; ++n) {
        const auto& w = L.weights[k][static_cast<std::size_t>(element[static_cast<std::size_t>(n)])];
        for (int m = 0; m < b.d; ++m) {
          auto x = detail::irrep_component(X.row(n).data(), 1, X.cols(), b.offset_in, b.mul_in, b.d, m);
          auto y = detail::irrep_component(Y.row(n).data(), 1, Y.cols(), b.offset_out, b.mul_out, b.d, m);
          y.noalias() += x * w;
        }
      }
    }
  });
}

/// ElementLinear::backward over the row chunks `rows` (GX resized).
template <class Scalar>
void backward_element_linear(const ElementLinear<Scalar>& L, const nn::RowMatrix<Scalar>& GY, const std::vector<int>& element,
                             nn::RowMatrix<Scalar>& GX, const nn::RowChunks& rows) {
  GX.resize(GY.rows(), L.irreps_in.dim());
  rows.run([&](int, Eigen::Index r0, Eigen::Index r1) {
    GX.middleRows(r0, r1 - r0).setZero();
    for (std::size_t k = 0; k < L.instructions.size(); ++k) {
      const auto b = detail::block_pair(L.irreps_in, L.irreps_out, L.instructions[k]);
      for (Eigen::Index n = r0; n < r1; ++n) {
        const auto& w = L.weights[k][static_cast<std::size_t>(element[static_cast<std::size_t>(n)])];
        for (int m = 0; m < b.d; ++m) {
          auto gy = detail::irrep_component(GY.row(n).data(), 1, GY.cols(), b.offset_out, b.mul_out, b.d, m);
          auto gx = detail::irrep_component(GX.row(n).data(), 1, GX.cols(), b.offset_in, b.mul_in, b.d, m);
          gx.noalias() += gy * w.transpose();
        }
      }
    }
  });
}

/// One row of RadialEmbedding::apply: out[n] = embedding n of length r (same operations; sin
/// found by argument-dependent lookup, so a dual-number scalar uses its own).
template <class Scalar>
void radial_embedding_row(const RadialEmbedding<Scalar>& R, Scalar r, Scalar* out) {
  using std::sin;
  const Scalar u = R.envelope(r);
  for (int n = 0; n < R.size(); ++n) out[n] = R.prefactor * (sin(R.bessel_weights[static_cast<std::size_t>(n)] * r) / r) * u;
}

/// RadialMLP::apply over the edge chunks: Y (resized) and, when `hidden`, the hidden
/// pre-activations (resized), each chunk's GEMMs on its own rows.
template <class Scalar>
void apply_radial_mlp(const RadialMLP<Scalar>& mlp, const nn::RowMatrix<Scalar>& X, nn::RowMatrix<Scalar>& Y,
                      std::vector<nn::RowMatrix<Scalar>>* hidden, const nn::RowChunks& rows) {
  const std::size_t K = mlp.layers.size();
  if (K == 0) throw ValueError("radial MLP: no layers");
  for (std::size_t k = 0; k < K; ++k)
    if ((k == 0 ? X.cols() : mlp.layers[k - 1].cols()) != mlp.layers[k].rows())
      throw ValueError("radial MLP: layer " + std::to_string(k) + " expects " + std::to_string(mlp.layers[k].rows()) +
                       " inputs, got " + std::to_string(k == 0 ? X.cols() : mlp.layers[k - 1].cols()));
  Y.resize(X.rows(), mlp.layers.back().cols());
  if (hidden) {
    hidden->resize(K - 1);
    for (std::size_t k = 0; k + 1 < K; ++k) (*hidden)[k].resize(X.rows(), mlp.layers[k].cols());
  }
  rows.run([&](int, Eigen::Index r0, Eigen::Index r1) {
    const Eigen::Index n = r1 - r0;
    nn::RowMatrix<Scalar> h = X.middleRows(r0, n), z;
    for (std::size_t k = 0; k + 1 < K; ++k) {
      z.noalias() = h * mlp.layers[k];
      if (hidden) (*hidden)[k].middleRows(r0, n) = z;
      h = z.unaryExpr([c = mlp.act_constant](Scalar v) { return scaled_silu(v, c); });
    }
    Y.middleRows(r0, n).noalias() = h * mlp.layers.back();
  });
}

/// RadialMLP::backward over the edge chunks (GX resized) from the kept pre-activations.
template <class Scalar>
void backward_radial_mlp(const RadialMLP<Scalar>& mlp, const std::vector<nn::RowMatrix<Scalar>>& hidden, const nn::RowMatrix<Scalar>& GY,
                         nn::RowMatrix<Scalar>& GX, const nn::RowChunks& rows) {
  const std::size_t K = mlp.layers.size();
  if (K == 0 || hidden.size() + 1 != K) throw ValueError("radial MLP backward: hidden pre-activations were not kept");
  GX.resize(GY.rows(), mlp.layers.front().rows());
  rows.run([&](int, Eigen::Index r0, Eigen::Index r1) {
    const Eigen::Index n = r1 - r0;
    nn::RowMatrix<Scalar> g, gh;  // dE/d(output of layer k) below the last layer; GY's rows are not copied
    for (std::size_t k = K; k-- > 0;) {
      const bool last = k + 1 == K;
      if (k == 0) {
        if (last) GX.middleRows(r0, n).noalias() = GY.middleRows(r0, n) * mlp.layers[0].transpose();
        else GX.middleRows(r0, n).noalias() = g * mlp.layers[0].transpose();
        return;
      }
      if (last) gh.noalias() = GY.middleRows(r0, n) * mlp.layers[k].transpose();
      else gh.noalias() = g * mlp.layers[k].transpose();
      const auto z = hidden[k - 1].middleRows(r0, n);
      g = gh.cwiseProduct(z.unaryExpr([c = mlp.act_constant](Scalar v) { return scaled_silu_derivative(v, c); }));
    }
  });
}

}  // namespace mace
}  // namespace graphnet
NERNST_NAMESPACE_END
