#pragma once
/// \file
/// \brief Optimisers and learning-rate schedules on flat parameter vectors: Adam, AdamW
/// (decoupled weight decay), cosine annealing and step decay, gradient-norm clipping.
///
/// Adam as in PyTorch (torch.optim.Adam/AdamW, bias-corrected moments, ε added to √v̂):
///
///     m ← β1 m + (1−β1) g,   v ← β2 v + (1−β2) g²
///     θ ← θ − lr · (m/(1−β1^t)) / (√(v/(1−β2^t)) + ε)
///     Adam:  g includes weight_decay·θ (L2);  AdamW: θ ← θ (1 − lr·weight_decay) first.
///
/// A mask (true = trainable) leaves frozen entries untouched bit for bit.

#include <nernst/core/error.hpp>
#include <nernst/core/macros.hpp>

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace nn {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.0;
  bool decoupled = false;  ///< true: AdamW
};

class Adam {
 public:
  Adam() = default;
  Adam(std::size_t n, AdamOptions opt) : opt_(opt), m_(n, 0.0), v_(n, 0.0) {}

  const AdamOptions& options() const { return opt_; }
  void set_lr(double lr) { opt_.lr = lr; }
  double lr() const { return opt_.lr; }
  long steps() const { return t_; }

  /// One step. `mask` (same length, or empty = all trainable) selects the entries to update.
  void step(std::vector<double>& theta, const std::vector<double>& grad, const std::vector<char>& mask = {}) {
    if (theta.size() != m_.size() || grad.size() != m_.size() || (!mask.empty() && mask.size() != m_.size()))
      throw ValueError("nn::Adam: parameter, gradient and mask sizes differ");
    ++t_;
    const double b1 = opt_.beta1, b2 = opt_.beta2;
    const double c1 = 1.0 - std::pow(b1, double(t_)), c2 = 1.0 - std::pow(b2, double(t_));
    for (std::size_t i = 0; i < theta.size(); ++i) {
      if (!mask.empty() && !mask[i]) continue;
      double g = grad[i];
      if (opt_.weight_decay != 0) {
        if (opt_.decoupled) theta[i] *= 1.0 - opt_.lr * opt_.weight_decay;
        else g += opt_.weight_decay * theta[i];
      }
      m_[i] = b1 * m_[i] + (1 - b1) * g;
      v_[i] = b2 * v_[i] + (1 - b2) * g * g;
      theta[i] -= opt_.lr * (m_[i] / c1) / (std::sqrt(v_[i] / c2) + opt_.eps);
    }
  }

 private:
  AdamOptions opt_;
  std::vector<double> m_, v_;
  long t_ = 0;
};

/// Learning rate as a function of the epoch (0-based).
struct LRSchedule {
  enum class Kind { constant, cosine, step } kind = Kind::cosine;
  double lr0 = 1e-3;
  double lr_min = 0.0;      ///< cosine: floor
  int total_epochs = 1;     ///< cosine: period (lr reaches lr_min at this epoch)
  int step_size = 10;       ///< step: decay every step_size epochs
  double gamma = 0.5;       ///< step: factor

  double at(int epoch) const {
    switch (kind) {
      case Kind::constant: return lr0;
      case Kind::cosine: {
        const double pi = 3.14159265358979323846;
        const double x = total_epochs > 0 ? std::min(1.0, double(epoch) / double(total_epochs)) : 1.0;
        return lr_min + 0.5 * (lr0 - lr_min) * (1 + std::cos(pi * x));
      }
      case Kind::step: return lr0 * std::pow(gamma, double(epoch / (step_size > 0 ? step_size : 1)));
    }
    return lr0;
  }

  static Kind parse(const std::string& s) {
    if (s == "constant") return Kind::constant;
    if (s == "cosine") return Kind::cosine;
    if (s == "step") return Kind::step;
    throw ValueError("unknown schedule '" + s + "' (expected constant, cosine or step)");
  }
};

/// Scales `grad` (masked entries only count when mask is empty or true) so that its Euclidean
/// norm is at most max_norm; returns the norm before clipping. max_norm ≤ 0: no clipping.
inline double clip_grad_norm(std::vector<double>& grad, double max_norm, const std::vector<char>& mask = {}) {
  double s = 0;
  for (std::size_t i = 0; i < grad.size(); ++i)
    if (mask.empty() || mask[i]) s += grad[i] * grad[i];
  const double norm = std::sqrt(s);
  if (max_norm > 0 && norm > max_norm) {
    const double f = max_norm / (norm + 1e-12);
    for (auto& g : grad) g *= f;
  }
  return norm;
}

}  // namespace nn
NERNST_NAMESPACE_END
