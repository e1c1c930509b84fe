#pragma once
/// \file
/// \brief MACE's radial embedding (Bessel × polynomial envelope, spec item 5) and the radial MLP
/// that turns it into the per-edge tensor-product weights (e3nn FullyConnectedNet, item 6).

#include <nernst/core/error.hpp>
#include <nernst/nn/matrix.hpp>

#include <cmath>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace graphnet {
namespace mace {

/// B_n(r) u(r): sqrt(2/r_max) sin(w_n r) / r times the polynomial envelope
/// u = 1 − (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) − p(p+1)/2 x^(p+2), x = r/r_max, zero from r_max on.
/// The frequencies w_n = n π / r_max are the model's stored `bessel_weights` (read, not recomputed,
/// so that float32 models use exactly their rounded values).
template <class Scalar>
struct RadialEmbedding {
  Scalar r_max = 5;
  Scalar prefactor = 0;                ///< sqrt(2 / r_max)
  int p = 5;                           ///< envelope order
  std::vector<Scalar> bessel_weights;  ///< w_n

  int size() const { return static_cast<int>(bessel_weights.size()); }

  /// Envelope u(r) (mace's PolynomialCutoff, same order of operations).
  Scalar envelope(Scalar r) const {
    const Scalar x = r / r_max;
    const Scalar pp = static_cast<Scalar>(p);
    const Scalar u = Scalar(1) - ((pp + Scalar(1)) * (pp + Scalar(2)) / Scalar(2)) * std::pow(x, p) +
                     pp * (pp + Scalar(2)) * std::pow(x, p + 1) - (pp * (pp + Scalar(1)) / Scalar(2)) * std::pow(x, p + 2);
    return r < r_max ? u : Scalar(0);
  }

  /// du/dr (zero from r_max on).
  Scalar envelope_derivative(Scalar r) const {
    if (!(r < r_max)) return Scalar(0);
    const Scalar x = r / r_max;
    const Scalar pp = static_cast<Scalar>(p);
    const Scalar dudx = -((pp + Scalar(1)) * (pp + Scalar(2)) / Scalar(2)) * pp * std::pow(x, p - 1) +
                        pp * (pp + Scalar(2)) * (pp + Scalar(1)) * std::pow(x, p) -
                        (pp * (pp + Scalar(1)) / Scalar(2)) * (pp + Scalar(2)) * std::pow(x, p + 1);
    return dudx / r_max;
  }

  /// Σ_n g[n] d(embedding_n)/dr at length r: the reverse pass of one row of apply.
  Scalar backward(Scalar r, const Scalar* g) const {
    const Scalar u = envelope(r), du = envelope_derivative(r);
    Scalar out = 0;
    for (int n = 0; n < size(); ++n) {
      const Scalar w = bessel_weights[static_cast<std::size_t>(n)];
      const Scalar s = std::sin(w * r) / r;
      const Scalar ds = (w * std::cos(w * r) - s) / r;
      out += g[n] * prefactor * (ds * u + s * du);
    }
    return out;
  }

  /// Row e of `out` (resized to n x num_bessel) = embedding of length r[e].
  void apply(const std::vector<Scalar>& r, nn::RowMatrix<Scalar>& out) const {
    out.resize(static_cast<Eigen::Index>(r.size()), size());
    for (std::size_t e = 0; e < r.size(); ++e) {
      const Scalar u = envelope(r[e]);
      for (int n = 0; n < size(); ++n)
        out(static_cast<Eigen::Index>(e), n) =
            prefactor * (std::sin(bessel_weights[static_cast<std::size_t>(n)] * r[e]) / r[e]) * u;
    }
  }
};

/// e3nn's normalize2mom(silu): c · silu(x), c the model's stored Monte-Carlo constant.
template <class Scalar>
inline Scalar scaled_silu(Scalar x, Scalar c) {
  return c * (x / (Scalar(1) + std::exp(-x)));
}

/// d/dx of scaled_silu: c σ(x) (1 + x (1 − σ(x))).
template <class Scalar>
inline Scalar scaled_silu_derivative(Scalar x, Scalar c) {
  const Scalar sig = Scalar(1) / (Scalar(1) + std::exp(-x));
  return c * sig * (Scalar(1) + x * (Scalar(1) - sig));
}

/// e3nn FullyConnectedNet without biases: h → φ(h W_0 / sqrt(n_0)) → ... → h W_last / sqrt(n_last),
/// φ = normalize2mom(silu) after every layer but the last. The 1/sqrt(fan-in) is folded into W.
template <class Scalar>
struct RadialMLP {
  std::vector<nn::RowMatrix<Scalar>> layers;  ///< [fan_in, fan_out] / sqrt(fan_in)
  Scalar act_constant = 1;                    ///< normalize2mom constant c

  int out_dim() const { return layers.empty() ? 0 : static_cast<int>(layers.back().cols()); }

  /// Y = MLP(X) for all rows; `hidden` keeps each hidden layer's pre-activation (for a reverse pass).
  void apply(const nn::RowMatrix<Scalar>& X, nn::RowMatrix<Scalar>& Y, std::vector<nn::RowMatrix<Scalar>>* hidden = nullptr) const {
    nn::RowMatrix<Scalar> h = X, z;
    if (hidden) hidden->resize(layers.size() - 1);
    for (std::size_t k = 0; k < layers.size(); ++k) {
      if (h.cols() != layers[k].rows())
        throw ValueError("radial MLP: layer " + std::to_string(k) + " expects " + std::to_string(layers[k].rows()) +
                         " inputs, got " + std::to_string(h.cols()));
      z.noalias() = h * layers[k];
      if (k + 1 == layers.size()) break;
      if (hidden) (*hidden)[k] = z;
      h = z.unaryExpr([c = act_constant](Scalar v) { return scaled_silu(v, c); });
    }
    Y = std::move(z);
  }

  /// GX = (∂Y/∂X)ᵀ GY from the hidden pre-activations `hidden` that apply kept.
  void backward(const std::vector<nn::RowMatrix<Scalar>>& hidden, const nn::RowMatrix<Scalar>& GY, nn::RowMatrix<Scalar>& GX) const {
    if (hidden.size() + 1 != layers.size()) throw ValueError("radial MLP backward: hidden pre-activations were not kept");
    const nn::RowMatrix<Scalar>* g = &GY;  // dE/d(output of layer k); GY (E x many weights) is not copied
    nn::RowMatrix<Scalar> gz;
    for (std::size_t k = layers.size(); k-- > 0;) {
      nn::RowMatrix<Scalar> gh;
      gh.noalias() = *g * layers[k].transpose();
      if (k == 0) {
        GX = std::move(gh);
        return;
      }
      const auto& z = hidden[k - 1];
      gz = gh.cwiseProduct(z.unaryExpr([c = act_constant](Scalar v) { return scaled_silu_derivative(v, c); }));
      g = &gz;
    }
  }

  /// flat[...] += ∂(Σ G ⊙ (H W_k))/∂(state_dict weight of layer k) = H_kᵀ G_k / sqrt(fan_in) for
  /// the layer's input H (the MLP input or the previous activation) and the gradient G of its
  /// output; the state_dict layout [fan_in, fan_out] is the folded matrix's.
  void layer_weight_gradient(std::size_t k, const nn::RowMatrix<Scalar>& H, const nn::RowMatrix<Scalar>& G, Scalar* flat) const {
    const auto& W = layers.at(k);
    if (H.cols() != W.rows() || G.cols() != W.cols() || H.rows() != G.rows())
      throw ValueError("radial MLP weight gradient: layer " + std::to_string(k) + " input or output gradient misshapen");
    nn::RowMatrix<Scalar> g;
    g.noalias() = H.transpose() * G;
    const Scalar a = static_cast<Scalar>(1.0 / std::sqrt(static_cast<double>(W.rows())));
    for (Eigen::Index i = 0; i < g.rows(); ++i)
      for (Eigen::Index j = 0; j < g.cols(); ++j) flat[i * g.cols() + j] += a * g(i, j);
  }
};

}  // namespace mace
}  // namespace graphnet
NERNST_NAMESPACE_END
