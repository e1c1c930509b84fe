#pragma once
/// \file
/// \brief Two-head MACE fine-tuning (issue 21 item 3): a second readout head trained on new
/// labels while the original head's predictions on a replay set are kept, through the same
/// train::Trainer.
///
/// The two heads share the backbone (embedding, interactions, products); head 0 is the model's
/// own readouts and E0, head 1 starts as a copy of them. Every training structure belongs to a
/// head (`assign(dataset, head)`, by the sample's address, as the graph cache): new labels go to
/// head 1, a replay set labelled by the original model goes to head 0. One loss over both sets
/// then trains head 1 on the new labels while the replay term holds head 0's predictions, which
/// the shared backbone would otherwise drag along.
///
/// Parameters (state_dict names): the backbone and head 0's readouts under mace's names, head
/// 1's readouts as `head1.readouts.*`, and head 1's E0 (`head1.atomic_energies_fn.atomic_energies`)
/// as the atomref entry (`refit_atomref` fits it on the head-1 structures only: head-0 samples
/// have no head-1 element counts). Head 0's E0 is fixed. Each head is written back as a mace
/// `.model` (the source archive with that head's readouts and E0; mace_writer.hpp).

#include <nernst/core/error.hpp>
#include <nernst/nn/dual.hpp>
#include <nernst/potential/graphnet/mace.hpp>
#include <nernst/potential/graphnet/mace/mace_parameter_gradient.hpp>
#include <nernst/potential/graphnet/mace/mace_writer.hpp>
#include <nernst/train/dataset.hpp>
#include <nernst/train/mace_trainable.hpp>
#include <nernst/train/trainable.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace train {

class MACETwoHeadTrainable {
 public:
  using Dual = nn::Dual<double>;
  static constexpr const char* atomref_name = "head1.atomic_energies_fn.atomic_energies";
  static constexpr const char* head1_prefix = "head1.";

  explicit MACETwoHeadTrainable(const graphnet::mace::MACESource& source) : src_{source, source} {
    for (const auto& n : graphnet::mace::learned_tensor_names(source.config))
      if (n.rfind("readouts.", 0) == 0) readout_names_.push_back(n);
    table_.build(visitor(), atomref_name, {static_cast<std::int64_t>(source.config.e0.size())});
    gradD_ = graphnet::mace::MACEParameterTensors<Dual>::zeros_like(src_[0].tensors, src_[0].config);
    rebuild();
  }

  /// Puts every sample of `d` on head 0 (replay) or 1 (new labels). `d` must stay where it is
  /// while training (samples are known by address).
  void assign(const Dataset& d, int head) {
    for (const auto& s : d.samples) assign(s, head);
  }
  void assign(const Sample& s, int head) {
    if (head != 0 && head != 1) throw ValueError("MACE two-head training: head " + std::to_string(head) + " (0 or 1)");
    head_[&s] = head;
  }
  int head_of(const Sample& s) const {
    const auto it = head_.find(&s);
    if (it == head_.end()) throw ValueError("MACE two-head training: sample '" + s.origin + "' was not assigned to a head");
    return it->second;
  }

  const graphnet::mace::MACESource& head_source(int head) const { return src_.at(static_cast<std::size_t>(head)); }
  const std::vector<ParameterInfo>& parameters() const { return table_.list(); }
  std::size_t num_parameters() const { return table_.size(); }

  std::vector<double> get_parameters() { return table_.gather(visitor(), src_[1].config.e0.data()); }

  /// Writes the flat vector (the shared backbone into both heads) and rebuilds the models.
  void set_parameters(const std::vector<double>& p) {
    table_.scatter(visitor(), p, src_[1].config.e0.data());
    src_[1].tensors.at(graphnet::mace::kAtomicEnergiesName).values = src_[1].config.e0;
    for (const auto& n : graphnet::mace::learned_tensor_names(src_[0].config))
      if (n.rfind("readouts.", 0) != 0) src_[1].tensors.at(n).values = src_[0].tensors.at(n).values;
    rebuild();
  }

  /// Element indices for head 1's E0 (the atomref): empty for a head-0 sample, whose energy
  /// does not depend on it.
  std::vector<int> types_of(const Sample& s) const {
    if (head_of(s) == 0) return {};
    return graphnet::mace::element_indices(src_[1].config, s.z);
  }

  /// Energy, forces and stress of the sample's head.
  Prediction predict(const Sample& s) {
    return mace_prediction(model_[static_cast<std::size_t>(head_of(s))], graph_of(s), s);
  }

  /// dL/dθ by forward-over-reverse (as MACETrainable) through the sample's head: the backbone's
  /// gradient goes to the shared tensors, the readouts' to that head's.
  void accumulate_gradient(const Sample& s, double dLdE, const std::vector<std::array<double, 3>>& dLdF,
                           const Eigen::Matrix3d& dLdS, std::vector<double>& grad) {
    const int h = head_of(s);
    auto& dm = dual_model(h);
    graphnet::mace::EdgeTangent t;
    t.dx = force_tangent(s, dLdF);
    t.deps = 0.5 * (dLdS + dLdS.transpose()) / s.volume();
    const auto st = graphnet::mace::forward_with_tangent(dm, graph_of(s), s.z, &t);
    gradD_.set_zero();
    graphnet::mace::add_parameter_gradient(dm, st, gradD_);
    auto visit_grad = [&](auto&& f) {
      for (std::size_t i = 0; i < gradD_.names.size(); ++i) {
        const bool readout = gradD_.names[i].rfind("readouts.", 0) == 0;
        f(gradD_.names[i], readout && h == 1 ? zeros(gradD_.values[i].size()) : gradD_.values[i].data(), gradD_.shapes[i]);
      }
      for (const auto& n : readout_names_) {
        const auto& g = gradD_.values[gradD_.index.at(n)];
        f(head1_prefix + n, h == 1 ? g.data() : zeros(g.size()), gradD_.shapes[gradD_.index.at(n)]);
      }
    };
    table_.add_dual_gradient(visit_grad, dLdE, types_of(s), grad);
  }

  /// Writes head `head` as a mace `.model` (the source archive with the shared backbone and
  /// that head's readouts and E0).
  void save_model_file(int head, const std::string& path) const {
    graphnet::mace::write_mace_model_file(head_source(head), path);
  }

 private:
  /// Backbone + head 0 (mace's names), then head 1's readouts (`head1.` names).
  struct Visitor {
    MACETwoHeadTrainable* self;
    template <class F>
    void operator()(F&& f) const {
      graphnet::mace::visit_mace_parameters(self->src_[0].tensors, self->src_[0].config, f);
      for (const auto& n : self->readout_names_) {
        auto& t = self->src_[1].tensors.at(n);
        f(head1_prefix + n, t.values.data(), t.shape);
      }
    }
  };
  Visitor visitor() { return {this}; }

  const Dual* zeros(std::size_t n) {
    if (zeros_.size() < n) zeros_.assign(n, Dual(0));
    return zeros_.data();
  }

  void rebuild() {
    for (std::size_t h = 0; h < 2; ++h) {
      model_[h] = graphnet::mace::make_mace_model<double>(src_[h]);
      dual_stale_[h] = true;
    }
  }

  graphnet::mace::MACEModel<Dual>& dual_model(int h) {
    const auto k = static_cast<std::size_t>(h);
    if (dual_stale_[k]) {
      dmodel_[k] = graphnet::mace::make_mace_model<Dual>(src_[k]);
      dual_stale_[k] = false;
    }
    return dmodel_[k];
  }

  const graphnet::mace::MACEGraph& graph_of(const Sample& s) {
    return graphs_.get(s, [&](const Sample& x, graphnet::mace::MACEGraph& g) {
      g = graphnet::mace::build_mace_graph(x.x, x.lattice, src_[0].config.r_max);
    });
  }

  std::array<graphnet::mace::MACESource, 2> src_;
  std::array<graphnet::mace::MACEModel<double>, 2> model_;
  std::array<graphnet::mace::MACEModel<Dual>, 2> dmodel_;
  std::array<bool, 2> dual_stale_{true, true};
  std::vector<std::string> readout_names_;
  std::unordered_map<const Sample*, int> head_;
  graphnet::mace::MACEParameterTensors<Dual> gradD_;
  std::vector<Dual> zeros_;
  ParameterTable table_;
  GraphCache<graphnet::mace::MACEGraph> graphs_;
};

}  // namespace train
NERNST_NAMESPACE_END
