#pragma once
/// \file
/// \brief ModelRanker: the static energy of an ordering with any potential (the graph networks
/// M3GNet/CHGNet/TensorNet, or a cheap pair potential in tests), on the ideal (unrelaxed)
/// positions of the enumerated supercell. This is the ranking energy of `nernst enumerate
/// --rank model`: unlike the Ewald energy of formal point charges it sees the model's own
/// chemistry, so an ordering that only relaxes well (the LYC P-3c1 ground state) is not
/// discarded before the model ever sees it.
///
/// Each call builds the structure (Enumerator::to_structure), a System and calls
/// `compute` without forces or stress (the graph networks then skip their backward pass); the
/// potential's own threading (row_chunks.hpp) is what uses the cores.

#include <nernst/enumerate/enumerator.hpp>
#include <nernst/enumerate/static_screen.hpp>
#include <nernst/potential/potential.hpp>

NERNST_NAMESPACE_BEGIN
namespace enumerate {

template <class Pot>
class ModelRanker {
 public:
  using memory_space = typename Pot::memory_space;

  /// `ag`: the supercell (Enumerator<HNF>::active_group); both must outlive the ranker.
  ModelRanker(const Enumerator<HNF>& e, const Enumerator<HNF>::ActiveGroup& ag, Pot& pot) : e_(e), ag_(ag), pot_(pot) {
    NERNST_STATIC_ASSERT_POTENTIAL(Pot);
  }

  /// The ordered supercell of a labeling (vacancies omitted).
  Structure structure(const Label* labels) const {
    Derivative d;
    d.index = ag_.group.n;
    d.group = &ag_.group;
    d.active = &ag_.active;
    d.labels = labels;
    return e_.to_structure(d);
  }

  /// Static (unrelaxed) energy of a labeling.
  StaticEnergy energy(const Label* labels) {
    const Structure s = structure(labels);
    auto sys = System<memory_space>::from_structure(s);
    ComputeRequest req;
    req.forces = false;
    const ComputeResult r = pot_.compute(sys, req);
    return {r.energy, static_cast<int>(s.size())};
  }
  StaticEnergy operator()(const Label* labels) { return energy(labels); }

 private:
  const Enumerator<HNF>& e_;
  const Enumerator<HNF>::ActiveGroup& ag_;
  Pot& pot_;
};

/// The screen by the model over one supercell: every ordering, or only the `prefilter_ewald`
/// lowest by Ewald energy (the cheap pre-filter; 0 = none, the default).
struct ModelScreenOptions {
  std::size_t prefilter_ewald = 0;
  std::vector<double> label_charges;  ///< per label, for the pre-filter (OrderingModel::label_charges)
  EwaldParameters ewald;
  ScreenOptions screen;
};

/// Streams the orderings of supercell `hnf` through ModelRanker into run_static_screen;
/// `orderings`: how many the supercell has (the Burnside count), for the counters and the ETA.
template <class Pot>
ScreenResult model_screen(const Enumerator<HNF>& e, const IMat3& hnf, Pot& pot, std::uint64_t orderings,
                          const ModelScreenOptions& o) {
  const auto ag = e.active_group(hnf);
  ModelRanker<Pot> ranker(e, ag, pot);
  if (o.prefilter_ewald == 0) return run_static_screen(enumeration_stream(e, hnf), ranker, orderings, orderings, o.screen);
  const EwaldRanker ewald(e, ag.group, ag.active, o.label_charges, o.ewald);
  auto list = ewald_prefilter(e, hnf, ewald, o.prefilter_ewald);
  const std::uint64_t k = list.size();
  return run_static_screen(candidate_stream(std::move(list)), ranker, k, orderings, o.screen);
}

}  // namespace enumerate
NERNST_NAMESPACE_END
