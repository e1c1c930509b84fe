// MACE's reverse pass to its learned tensors (mace_parameter_gradient.hpp) against central finite
// differences of the energy, every learned tensor (sampled entries), residual and non-residual
// first interactions; the walk over the tensors (mace_parameters.hpp); the dual forward pass.

#include "../mace/mace_test_util.hpp"

#include <nernst/core/elements.hpp>
#include <nernst/potential/graphnet/mace/mace_backward.hpp>
#include <nernst/potential/graphnet/mace/mace_parameter_gradient.hpp>
#include <nernst/potential/graphnet/mace/mace_writer.hpp>

#include <cstring>

#include <random>
#include <set>

using namespace mace_test;

namespace {

double energy_of(const gm::MACESource& src, const Structure& st) {
  auto m = gm::make_mace_model<double>(src);
  return gm::forward(m, st.x, st.lattice, st.z).energy;
}

/// Entries of a tensor to check: its largest |gradient| and `extra` random ones.
std::vector<std::size_t> sampled_entries(const std::vector<double>& g, std::mt19937_64& rng, int extra) {
  std::size_t imax = 0;
  for (std::size_t j = 0; j < g.size(); ++j)
    if (std::abs(g[j]) > std::abs(g[imax])) imax = j;
  std::vector<std::size_t> out{imax};
  std::uniform_int_distribution<std::size_t> pick(0, g.size() - 1);
  for (int k = 0; k < extra; ++k) out.push_back(pick(rng));
  return out;
}

}  // namespace

TEST_CASE("MACE learned tensors: the walk names every floating tensor mace trains, in a fixed order") {
  if (!nernst_test::have_shared()) return;
  auto src = source("mace-small-random");
  std::vector<std::string> names;
  std::size_t total = 0;
  gm::visit_mace_parameters(src.tensors, src.config, [&](const std::string& n, double* d, const std::vector<std::int64_t>& shape) {
    names.push_back(n);
    std::size_t sz = 1;
    for (auto s : shape) sz *= static_cast<std::size_t>(s);
    CHECK(sz == src.tensors.at(n).numel());
    CHECK(d == src.tensors.at(n).values.data());
    total += sz;
  });
  CHECK(names == gm::learned_tensor_names(src.config));
  CHECK(std::set<std::string>(names.begin(), names.end()).size() == names.size());
  // Every non-empty floating tensor of the state_dict is learned, a constant of the model (buffer), or E0.
  const std::set<std::string> learned(names.begin(), names.end());
  for (const auto& kv : src.tensors) {
    if (!kv.second.is_floating() || learned.count(kv.first) || kv.second.numel() == 0) continue;  // e3nn's empty bias / weight
    const bool buffer = kv.first.find("_w3j_") != std::string::npos || kv.first.find("bessel_fn") != std::string::npos ||
                        kv.first.find("U_matrix") != std::string::npos || kv.first.find("scale_shift") != std::string::npos ||
                        kv.first == "r_max" || kv.first == gm::kAtomicEnergiesName || kv.first.find("cutoff_fn") != std::string::npos ||
                        kv.first.find("weights_zero") != std::string::npos || kv.first.find("output_mask") != std::string::npos;
    INFO(kv.first);
    CHECK(buffer);
  }
  MESSAGE("mace-small-random: " << names.size() << " learned tensors, " << total << " values");
  // A missing tensor is named.
  src.tensors.erase("interactions.1.linear.weight");
  CHECK_THROWS_WITH_AS(gm::visit_mace_parameters(src.tensors, src.config, [](auto&&...) {}),
                       doctest::Contains("interactions.1.linear.weight"), nernst::ValueError);
}

TEST_CASE("MACE forward for any scalar (double, dual): its value is the inference energy") {
  if (!nernst_test::have_shared()) return;
  for (const char* name : {"mace-small-random", "mace-small-nonresfirst-random"}) {
    const auto st = structure_of(reference(name, "licl_conv8_rattled"));
    auto m = gm::make_mace_model<double>(source(name));
    auto md = gm::make_mace_model<nernst::nn::Dual<double>>(source(name));
    const auto g = gm::build_mace_graph(st.x, st.lattice, m.config.r_max);
    const double e = gm::forward(m, g, st.z).energy;
    const double e_any = gm::forward_with_tangent(m, g, st.z).energy;
    gm::EdgeTangent t;
    t.dx.assign(st.x.size(), {0.0, 0.0, 0.0});
    const double e_dual = gm::forward_with_tangent(md, g, st.z, &t).energy;
    INFO(std::string(name));
    CHECK(std::abs(e_any - e) < 1e-12 * std::abs(e));
    CHECK(std::abs(e_dual - e) < 1e-12 * std::abs(e));
  }
}

namespace {

/// ∂E/∂θ of every learned tensor of model `name` on `structure` against central differences of
/// the energy at the tensor's largest-gradient entry and `extra` random entries.
void check_parameter_gradient(const std::string& name, const std::string& structure, int extra) {
  gm::MACESource src = source(name);
  const auto st = structure_of(reference(name, structure));
  auto m = gm::make_mace_model<double>(src);
  const auto s = gm::forward(m, st.x, st.lattice, st.z);
  auto G = gm::MACEParameterTensors<double>::zeros_like(src.tensors, src.config);
  gm::add_parameter_gradient(m, s, G);
  std::mt19937_64 rng(7);
  const double h = 1e-5;
  double worst = 0;
  int checked = 0;
  for (std::size_t k = 0; k < G.names.size(); ++k) {
    auto& values = src.tensors.at(G.names[k]).values;
    double gmax = 0;
    for (double v : G.values[k]) gmax = std::max(gmax, std::abs(v));
    INFO(name << " " << G.names[k]);
    CHECK(gmax > 0);  // every learned tensor reaches the energy of this structure
    for (std::size_t j : sampled_entries(G.values[k], rng, extra)) {
      const double v0 = values[j];
      values[j] = v0 + h;
      const double ep = energy_of(src, st);
      values[j] = v0 - h;
      const double em = energy_of(src, st);
      values[j] = v0;
      const double fd = (ep - em) / (2 * h);
      const double err = std::abs(fd - G.values[k][j]);
      CHECK(err < 1e-7 + 1e-6 * std::abs(fd));
      worst = std::max(worst, err / (1e-3 + std::abs(fd)));
      ++checked;
    }
  }
  MESSAGE(name << " on " << structure << ": " << checked << " entries of " << G.names.size()
               << " tensors, worst |g - fd| / (1e-3 + |fd|) = " << worst);
}

}  // namespace

TEST_CASE("MACE parameter gradient equals central finite differences of the energy for every learned tensor (float64)") {
  if (!nernst_test::have_shared()) return;
  check_parameter_gradient("mace-small-random", "licl_conv8_rattled", 2);
  check_parameter_gradient("mace-small-nonresfirst-random", "licl_conv8_rattled", 2);
}

// The medium model adds correlation 3 (weights_max, weights.0, weights.1) and l = 3; every finite
// difference rebuilds its product basis (≈ 10 s in all), hence the slow suite.
TEST_CASE("MACE parameter gradient of the medium model (correlation 3, l = 3) equals finite differences" * doctest::test_suite("slow")) {
  if (!nernst_test::have_shared()) return;
  check_parameter_gradient("mace-mp0a-medium-random", "li_y_cl_triclinic_rattled", 0);
}

TEST_CASE("MACE .model writer: values land at a tensor's storage view (offset, strides) in float32 and float64") {
  // A 2 x 3 view at offset 2 with strides (1, 2) (a transposed slice) of a 10-element storage.
  for (auto dt : {nernst::io::DType::Float32, nernst::io::DType::Float64}) {
    nernst::io::Tensor t;
    t.dtype = dt;
    t.shape = {2, 3};
    t.values = {1.5, 2.5, 3.5, 4.5, 5.5, 6.5};
    t.storage_key = "0";
    t.storage_offset = 2;
    t.storage_stride = {1, 2};
    const std::size_t item = dt == nernst::io::DType::Float32 ? 4 : 8;
    std::string raw(10 * item, '\0');
    gm::detail::write_into_storage(t, "w", raw, "test");
    auto at = [&](std::size_t k) {
      if (item == 4) {
        float f;
        std::memcpy(&f, &raw[k * 4], 4);
        return static_cast<double>(f);
      }
      double d;
      std::memcpy(&d, &raw[k * 8], 8);
      return d;
    };
    // element (i, j) -> storage 2 + i + 2 j
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j) CHECK(at(static_cast<std::size_t>(2 + i + 2 * j)) == t.values[static_cast<std::size_t>(3 * i + j)]);
    CHECK(at(0) == 0.0);
    CHECK(at(1) == 0.0);
    CHECK(at(9) == 0.0);
    // A view past the storage is an error, not a write out of bounds.
    std::string small(4 * item, '\0');
    CHECK_THROWS_AS(gm::detail::write_into_storage(t, "w", small, "test"), nernst::ParseError);
  }
}
