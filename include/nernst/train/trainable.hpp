#pragma once
/// \file
/// \brief What the trainable models (M3GNetTrainable, TensorNetTrainable, CHGNetTrainable) share: the flat
/// parameter table by state_dict name, the forward-over-reverse gradient bookkeeping, the
/// per-sample graph cache and the dtype handling of saved tensors.
///
/// A model's parameters are walked by a *visitor*: `visit(f)` calls f(name, data, shape) for
/// every learned tensor in a fixed order (row-major, contiguous `data`). The same walk over a
/// gradient holder of the same shapes visits the matching gradients, which is how the flat
/// vector, the gradient and the saved file stay in step.

#include <nernst/core/error.hpp>
#include <nernst/io/checkpoint/tensor.hpp>
#include <nernst/io/checkpoint/torch_load.hpp>
#include <nernst/io/checkpoint/torch_save.hpp>
#include <nernst/nn/dual.hpp>
#include <nernst/train/dataset.hpp>

#include <Eigen/Dense>

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace train {

/// Model outputs for one structure (eV, eV/Å, eV/Å³ ASE sign).
struct Prediction {
  double energy = 0;
  std::vector<std::array<double, 3>> forces;
  Eigen::Matrix3d stress = Eigen::Matrix3d::Zero();
};

/// One learnable tensor in the flat parameter vector.
struct ParameterInfo {
  std::string name;                  ///< state_dict key
  std::vector<std::int64_t> shape;
  std::size_t offset = 0, size = 0;  ///< position in the flat vector
};

/// The flat parameter vector's layout: the visited tensors in order, then the element
/// reference energies (linear in E, not part of the network walk) as the last entry.
class ParameterTable {
 public:
  /// Lays out the tensors `visit` walks, then the reference energies `atomref_name` [shape].
  template <class Visit>
  void build(Visit&& visit, const std::string& atomref_name, std::vector<std::int64_t> atomref_shape) {
    list_.clear();
    std::size_t off = 0;
    auto add = [&](const std::string& n, std::vector<std::int64_t> shape) {
      std::size_t sz = 1;
      for (auto s : shape) sz *= static_cast<std::size_t>(s);
      list_.push_back({n, std::move(shape), off, sz});
      off += sz;
    };
    visit([&](const std::string& n, const auto*, std::vector<std::int64_t> shape) { add(n, std::move(shape)); });
    add(atomref_name, std::move(atomref_shape));
    size_ = off;
  }

  const std::vector<ParameterInfo>& list() const { return list_; }
  std::size_t size() const { return size_; }
  const ParameterInfo& atomref() const { return list_.back(); }

  /// p (flat) <- the visited tensors and the reference energies `ref`.
  template <class Visit>
  std::vector<double> gather(Visit&& visit, const double* ref) const {
    std::vector<double> p(size_);
    std::size_t k = 0;
    visit([&](const std::string&, const double* d, const std::vector<std::int64_t>&) {
      const auto& info = list_[k++];
      std::copy(d, d + info.size, p.begin() + static_cast<std::ptrdiff_t>(info.offset));
    });
    std::copy(ref, ref + atomref().size, p.begin() + static_cast<std::ptrdiff_t>(atomref().offset));
    return p;
  }

  /// The visited tensors and the reference energies `ref` <- p (flat).
  template <class Visit>
  void scatter(Visit&& visit, const std::vector<double>& p, double* ref) const {
    if (p.size() != size_) throw ValueError("trainable model: parameter vector of the wrong length");
    std::size_t k = 0;
    visit([&](const std::string&, double* d, const std::vector<std::int64_t>&) {
      const auto& info = list_[k++];
      std::copy(p.begin() + static_cast<std::ptrdiff_t>(info.offset),
                p.begin() + static_cast<std::ptrdiff_t>(info.offset + info.size), d);
    });
    std::copy(p.begin() + static_cast<std::ptrdiff_t>(atomref().offset),
              p.begin() + static_cast<std::ptrdiff_t>(atomref().offset + atomref().size), ref);
  }

  /// Forward-over-reverse: adds dL/dθ = dLdE·value + tangent of each visited Dual gradient,
  /// and dLdE·n_t for the reference energies (∂E/∂ref_t = number of atoms of type t).
  template <class Visit>
  void add_dual_gradient(Visit&& visit_grad, double dLdE, const std::vector<int>& types, std::vector<double>& grad) const {
    if (grad.size() != size_) throw ValueError("trainable model: gradient vector of the wrong length");
    std::size_t k = 0;
    visit_grad([&](const std::string&, const nn::Dual<double>* d, const std::vector<std::int64_t>&) {
      const auto& info = list_[k++];
      double* gp = grad.data() + info.offset;
      for (std::size_t j = 0; j < info.size; ++j) gp[j] += dLdE * d[j].v + d[j].d;
    });
    double* gr = grad.data() + atomref().offset;
    for (int t : types) gr[t] += dLdE;
  }

 private:
  std::vector<ParameterInfo> list_;
  std::size_t size_ = 0;
};

/// Sets every entry a visitor walks to zero (gradient holders).
template <class Visit>
void zero_visited(Visit&& visit) {
  visit([](const std::string&, auto* d, const std::vector<std::int64_t>& shape) {
    std::int64_t n = 1;
    for (auto s : shape) n *= s;
    using T = std::remove_pointer_t<decltype(d)>;
    std::fill(d, d + n, T(0));
  });
}

/// The geometry tangent of a force loss: δx_i = −∂L/∂F_i (zero where dLdF is empty).
inline std::vector<std::array<double, 3>> force_tangent(const Sample& s, const std::vector<std::array<double, 3>>& dLdF) {
  std::vector<std::array<double, 3>> dx(s.size(), {0.0, 0.0, 0.0});
  for (std::size_t i = 0; i < dLdF.size(); ++i)
    for (std::size_t k = 0; k < 3; ++k) dx[i][k] = -dLdF[i][k];
  return dx;
}

/// Graphs of training structures, built once per sample (parameters never change a graph).
/// Keyed by the sample's address; call clear() when samples move or change.
///
/// Copies of a cache share one table (ThreadModels: the per-thread copies of a trainable model
/// build each graph once between them, not once each), and a lookup is safe from several threads:
/// it holds the table's lock while it finds or builds, and the graph it returns stays where it
/// is while other samples are added (unordered_map keeps its elements in place).
template <class Graph>
class GraphCache {
 public:
  template <class Build>
  const Graph& get(const Sample& s, Build&& build) {
    std::lock_guard<std::mutex> lock(table_->mutex);
    auto it = table_->graphs.find(&s);
    if (it != table_->graphs.end() && it->second.first == s.x.size()) return it->second.second;
    auto& slot = table_->graphs[&s];
    slot.first = s.x.size();
    build(s, slot.second);
    return slot.second;
  }
  void clear() {
    std::lock_guard<std::mutex> lock(table_->mutex);
    table_->graphs.clear();
  }

 private:
  struct Table {
    std::mutex mutex;
    std::unordered_map<const Sample*, std::pair<std::size_t, Graph>> graphs;
  };
  std::shared_ptr<Table> table_ = std::make_shared<Table>();
};

/// Saved tensors: with `float64` every floating tensor is stored in float64 (the reload is
/// bit-identical); otherwise each keeps its dtype, float32 values rounded to float.
inline void set_saved_precision(io::Tensor& t, bool float64) {
  if (!t.is_floating()) return;
  if (float64)
    t.dtype = io::DType::Float64;
  else if (t.dtype == io::DType::Float32)
    for (auto& v : t.values) v = static_cast<double>(static_cast<float>(v));
}

/// Writes `n` values into tensor `name` of a state_dict-like lookup (`find(name)` -> Tensor*).
template <class Find>
void put_tensor(Find&& find, const std::string& name, const double* d, std::size_t n, const std::string& what) {
  io::Tensor* t = find(name);
  if (!t) throw ValueError(what + " save: the source state_dict lacks '" + name + "'");
  if (t->numel() != n) throw ValueError(what + " save: '" + name + "' changed size");
  t->values.assign(d, d + n);
}

/// Energy, forces and stress (virial / volume) of an evaluator output for sample `s`.
template <class Output>
Prediction prediction_of(const Output& out, const Sample& s) {
  Prediction p;
  p.energy = out.energy;
  p.forces = out.forces;
  p.stress = out.virial / s.volume();
  return p;
}

/// Writes a matgl model directory (model.json + state.pt) for the weights `visit` walks (f(name,
/// data, shape) over double tensors) and the reference energies `refs` (state_dict key
/// `atomref_name`). Tensors not learned (data_mean, data_std, cutoffs, ...) and model.json are
/// copied from the source directory `source`; `float64` as set_saved_precision. `what` names
/// the architecture in errors.
template <class Visit>
void save_matgl_directory(const std::string& source, const std::string& dir, bool float64, Visit&& visit,
                          const std::string& atomref_name, const std::vector<double>& refs, const std::string& what) {
  namespace fs = std::filesystem;
  const fs::path src(source);
  if (source.empty() || !fs::exists(src / "state.pt") || !fs::exists(src / "model.json"))
    throw IOError(what + " save: the source model directory '" + source + "' (model.json, state.pt) is needed");
  io::StateDict sd = io::load_state_dict((src / "state.pt").string());
  auto find = [&](const std::string& name) -> io::Tensor* {
    auto it = sd.find(name);
    return it == sd.end() ? nullptr : &it->second;
  };
  visit([&](const std::string& n, const double* d, const std::vector<std::int64_t>& shape) {
    std::size_t sz = 1;
    for (auto s : shape) sz *= static_cast<std::size_t>(s);
    put_tensor(find, n, d, sz, what);
  });
  put_tensor(find, atomref_name, refs.data(), refs.size(), what);
  for (auto& kv : sd) set_saved_precision(kv.second, float64);
  fs::create_directories(dir);
  if (fs::weakly_canonical(src) != fs::weakly_canonical(fs::path(dir))) {
    const fs::path dst = fs::path(dir) / "model.json";
    fs::remove(dst);  // a previous copy may be read-only (copy_file keeps the source's mode)
    fs::copy_file(src / "model.json", dst);
    fs::permissions(dst, fs::perms::owner_write, fs::perm_options::add);
  }
  io::save_state_dict((fs::path(dir) / "state.pt").string(), sd);
}

}  // namespace train
NERNST_NAMESPACE_END
