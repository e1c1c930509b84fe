// MACE's symmetric contraction (product basis of one node): the reference product_output of the
// small and medium models, the reverse pass against central differences, float against double.

#include "mace_test_support.hpp"

#include <nernst/core/elements.hpp>
#include <nernst/nn/dual.hpp>
#include <nernst/potential/graphnet/mace/symmetric_contraction.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <string>
#include <vector>

namespace mace = nernst::graphnet::mace;
namespace io = nernst::io;
using namespace nernst_test;

namespace {

/// The contraction weights of product layer t for the output irreps `outs` (mace's naming:
/// weights_max is order `corr`, weights.0 order corr−1, weights.1 order corr−2).
std::vector<mace::ContractionWeights> layer_weights(const io::StateDict& sd, int t, const std::vector<mace::Irrep>& outs,
                                                    int corr) {
  std::vector<mace::ContractionWeights> out;
  for (std::size_t i = 0; i < outs.size(); ++i) {
    const std::string base =
        "products." + std::to_string(t) + ".symmetric_contractions.contractions." + std::to_string(i) + ".";
    mace::ContractionWeights cw{outs[i], std::vector<std::vector<double>>(corr)};
    for (int nu = 1; nu <= corr; ++nu)
      cw.W[nu - 1] = sd.at(nu == corr ? base + "weights_max" : base + "weights." + std::to_string(corr - 1 - nu)).values;
    out.push_back(std::move(cw));
  }
  return out;
}

/// mace's product block after the contraction, by brute force: e3nn Linear (per irrep
/// out[w][M] = Σ_u W[u][w] B[u][M] / √C, weights [C][C] per irrep in order) plus the residual sc.
std::vector<double> linear_plus_sc(const std::vector<double>& B, const std::vector<double>& W, int C,
                                   const std::vector<mace::Irrep>& outs, const nlohmann::json& sc) {
  std::vector<double> h(B.size(), 0.0);
  std::size_t off = 0, woff = 0;
  for (const auto& ir : outs) {
    const int dM = ir.dim();
    for (int w = 0; w < C; ++w)
      for (int M = 0; M < dM; ++M) {
        double s = 0;
        for (int u = 0; u < C; ++u) s += W[woff + static_cast<std::size_t>(u) * C + w] * B[off + u * dM + M];
        h[off + w * dM + M] = s / std::sqrt(double(C)) + sc[off + w * dM + M].get<double>();
      }
    off += static_cast<std::size_t>(C) * dM;
    woff += static_cast<std::size_t>(C) * C;
  }
  return h;
}

struct ModelCase {
  std::string model;
  int lmax, C, corr;
  std::vector<std::string> structures;
};

/// Index of the element of `symbol` in the model's atomic_numbers.
int element_index(const io::Tensor& atomic_numbers, const std::string& symbol) {
  const int Z = nernst::atomic_number(symbol);
  for (std::size_t k = 0; k < atomic_numbers.numel(); ++k)
    if (atomic_numbers.int_values[k] == Z) return static_cast<int>(k);
  FAIL("element " << symbol << " not in the model");
  return -1;
}

/// Max relative error of linear(contraction(interaction_message)) + interaction_sc against
/// product_output of layer t, first 3 atoms of each structure, in the `dtype` block (float64 or
/// float32; the contraction runs in S).
template <class S>
double product_output_error(const ModelCase& mc, const io::StateDict& sd, int t, const std::string& dtype) {
  const mace::Irrep e0{0, 1}, o1{1, -1};
  const std::vector<mace::Irrep> outs = t == 0 ? std::vector<mace::Irrep>{e0, o1} : std::vector<mace::Irrep>{e0};
  const auto& zs = sd.at("atomic_numbers");
  mace::SymmetricContraction<S> sc(mc.lmax, mc.C, static_cast<int>(zs.numel()), layer_weights(sd, t, outs, mc.corr));
  const auto& Wlin = sd.at("products." + std::to_string(t) + ".linear.weight").values;
  double worst = 0;
  for (const auto& structure : mc.structures) {
    const auto ref = read_json(mace_reference_file(mc.model, structure));
    const auto& im = ref[dtype]["intermediates"];
    const auto& layer = im["layers"][t];
    for (std::size_t n = 0; n < im["atoms"].size(); ++n) {
      const int z = element_index(zs, ref["structure"]["species"][im["atoms"][n].get<int>()].get<std::string>());
      sc.prepare(z);
      std::vector<S> x;
      for (const auto& row : layer["interaction_message"][n])
        for (const auto& v : row) x.push_back(S(v.get<double>()));
      REQUIRE(int(x.size()) == mc.C * (mc.lmax + 1) * (mc.lmax + 1));
      std::vector<S> B(sc.output_dim());
      sc.forward(z, x.data(), B.data());
      const auto h = linear_plus_sc(std::vector<double>(B.begin(), B.end()), Wlin, mc.C, outs, layer["interaction_sc"][n]);
      const auto& want = layer["product_output"][n];
      REQUIRE(want.size() == h.size());
      for (std::size_t i = 0; i < h.size(); ++i) {
        const double r = want[i].get<double>();
        worst = std::max(worst, std::abs(h[i] - r) / std::max(1.0, std::abs(r)));
      }
    }
  }
  return worst;
}

}  // namespace

TEST_CASE("mace symmetric contraction reproduces the reference product_output") {
  if (!have_shared()) return;
  for (const ModelCase& mc : {ModelCase{"mace-small-random", 2, 16, 2, {"li3ycl6_ordered_40", "licl_rocksalt_prim"}},
                              ModelCase{"mace-mp0a-medium-random", 3, 128, 3, {"li_y_cl_triclinic_rattled"}}}) {
    const auto sd = mace_model_tensors(mc.model);
    for (int t = 0; t < 2; ++t) {
      const double e64 = product_output_error<double>(mc, sd, t, "float64");
      const double e32 = product_output_error<float>(mc, sd, t, "float32");
      CHECK(e64 <= 1e-12);
      CHECK(e32 <= 5e-6);
      MESSAGE(mc.model << " layer " << t << ": max relative |d product_output| " << e64 << " (float64 block, double), "
                       << e32 << " (float32 block, float)");
    }
  }
}

namespace {

/// Random weights for lmax 3, correlation 3, C channels, outputs 0e and 1o, 2 elements.
std::vector<mace::ContractionWeights> random_weights(int C, std::mt19937_64& rng) {
  std::normal_distribution<double> g;
  std::vector<mace::ContractionWeights> out;
  for (const mace::Irrep ir : {mace::Irrep{0, 1}, mace::Irrep{1, -1}}) {
    mace::ContractionWeights cw{ir, {}};
    for (int nu = 1; nu <= 3; ++nu) {
      const int K = mace::sh_u_matrix(3, ir, nu).n_paths;
      std::vector<double> w(static_cast<std::size_t>(2) * K * C);
      for (auto& v : w) v = g(rng) / K;
      cw.W.push_back(std::move(w));
    }
    out.push_back(std::move(cw));
  }
  return out;
}

/// The same contraction (lmax 3, correlation 3, C channels) in double and float, element 0
/// prepared, with random features x (standard deviation `sx`) and upstream gradient g (ones when
/// `unit_upstream`), and output buffers.
struct Twin {
  mace::SymmetricContraction<double> sd;
  mace::SymmetricContraction<float> sf;
  std::vector<double> x, up, B, gx;
  std::vector<float> xf, upf, Bf, gxf;
  Twin(int C, const std::vector<mace::ContractionWeights>& w, std::mt19937_64& rng, double sx, bool unit_upstream)
      : sd(3, C, 2, w), sf(3, C, 2, w) {
    sd.prepare(0);
    sf.prepare(0);
    std::normal_distribution<double> g;
    const int n = sd.output_dim();
    x.resize(C * 16), gx.assign(C * 16, 0.0), up.resize(n), B.resize(n);
    for (auto& v : x) v = sx * g(rng);
    for (auto& v : up) v = unit_upstream ? 1.0 : g(rng);
    xf.assign(x.begin(), x.end()), upf.assign(up.begin(), up.end()), Bf.resize(n), gxf.assign(C * 16, 0.0f);
  }
};

}  // namespace

TEST_CASE("mace symmetric contraction: reverse pass against central differences") {
  std::mt19937_64 rng(21);
  std::normal_distribution<double> g;
  const int C = 11, D = 16;  // two channel blocks, the second partial
  auto weights = random_weights(C, rng);
  mace::SymmetricContraction<double> sc(3, C, 2, weights);
  sc.prepare(1);
  const int nout = sc.output_dim();
  REQUIRE(nout == C * 4);
  std::vector<double> x(C * D), up(nout), B(nout), gx(C * D, 0.0);
  for (auto& v : x) v = g(rng);
  for (auto& v : up) v = g(rng);
  sc.forward_backward(1, x.data(), up.data(), B.data(), gx.data());
  std::vector<double> B2(nout);
  sc.forward(1, x.data(), B2.data());
  for (int i = 0; i < nout; ++i) CHECK(B[i] == B2[i]);
  auto loss = [&](const mace::SymmetricContraction<double>& s, const std::vector<double>& xx) {
    std::vector<double> b(nout);
    s.forward(1, xx.data(), b.data());
    double l = 0;
    for (int i = 0; i < nout; ++i) l += up[i] * b[i];
    return l;
  };
  const double h = 1e-5;
  for (int i = 0; i < C * D; ++i) {
    auto xp = x, xm = x;
    xp[i] += h;
    xm[i] -= h;
    const double fd = (loss(sc, xp) - loss(sc, xm)) / (2 * h);
    CHECK(gx[i] == doctest::Approx(fd).epsilon(1e-8).scale(1));
  }
  // weight gradient: a few entries of every order and irrep, element 1's rows
  std::vector<std::vector<std::vector<double>>> gW;
  sc.weight_gradient(1, x.data(), up.data(), gW);
  for (std::size_t ir = 0; ir < weights.size(); ++ir)
    for (int nu = 1; nu <= 3; ++nu) {
      const int K = sc.u_matrix_of(ir, nu).n_paths;
      for (int k : {0, K / 2, K - 1})
        for (int c : {0, C - 1}) {
          auto wp = weights, wm = weights;
          const std::size_t idx = (static_cast<std::size_t>(1) * K + k) * C + c;
          wp[ir].W[nu - 1][idx] += h;
          wm[ir].W[nu - 1][idx] -= h;
          mace::SymmetricContraction<double> sp(3, C, 2, wp), sm(3, C, 2, wm);
          sp.prepare(1);
          sm.prepare(1);
          const double fd = (loss(sp, x) - loss(sm, x)) / (2 * h);
          INFO("irrep " << ir << " nu " << nu << " k " << k << " c " << c);
          CHECK(gW[ir][nu - 1][static_cast<std::size_t>(k) * C + c] == doctest::Approx(fd).epsilon(1e-8).scale(1));
        }
    }
}

TEST_CASE("mace symmetric contraction: float agrees with double; bad input is refused") {
  std::mt19937_64 rng(4);
  const int C = 4;
  const auto weights = random_weights(C, rng);
  Twin t(C, weights, rng, 0.5, false);
  auto& sd = t.sd;
  auto& sf = t.sf;
  auto &x = t.x, &up = t.up, &B = t.B, &gx = t.gx;
  auto &xf = t.xf, &upf = t.upf, &Bf = t.Bf, &gxf = t.gxf;
  sd.forward_backward(0, x.data(), up.data(), B.data(), gx.data());
  sf.forward_backward(0, xf.data(), upf.data(), Bf.data(), gxf.data());
  double scale = 0;
  for (double v : B) scale = std::max(scale, std::abs(v));
  for (std::size_t i = 0; i < B.size(); ++i) CHECK(std::abs(Bf[i] - B[i]) <= 1e-5 * scale);
  double gscale = 0;
  for (double v : gx) gscale = std::max(gscale, std::abs(v));
  for (std::size_t i = 0; i < gx.size(); ++i) CHECK(std::abs(gxf[i] - gx[i]) <= 1e-5 * gscale);

  CHECK_THROWS_AS(sd.forward(1, x.data(), B.data()), std::runtime_error);  // element 1 not prepared
  CHECK_THROWS_AS(sd.prepare(2), std::runtime_error);                      // only 2 elements
  auto bad = weights;
  bad[1].W[2].pop_back();
  CHECK_THROWS_AS(mace::SymmetricContraction<double>(3, C, 2, bad), std::runtime_error);
}

TEST_CASE("mace symmetric contraction runs on nn::Dual (forward over reverse)") {
  // With x seeded along a direction v: tangent(gᵀB) = (∂B/∂x)ᵀg · v, and tangent(g_x) equals the
  // central difference of g_x along v (the Hessian-vector product a force-loss gradient needs).
  using Dual = nernst::nn::Dual<double>;
  std::mt19937_64 rng(17);
  std::normal_distribution<double> g;
  const int C = 10, D = 16;
  const auto weights = random_weights(C, rng);
  mace::SymmetricContraction<double> sd(3, C, 2, weights);
  mace::SymmetricContraction<Dual> sdual(3, C, 2, weights);
  sd.prepare(0);
  sdual.prepare(0);
  const int nout = sd.output_dim();
  std::vector<double> x(C * D), v(C * D), up(nout), B(nout), gx(C * D, 0.0);
  for (auto& e : x) e = g(rng);
  for (auto& e : v) e = g(rng);
  for (auto& e : up) e = g(rng);
  std::vector<Dual> xd(C * D), upd(up.begin(), up.end()), Bd(nout), gxd(C * D, Dual(0.0));
  for (int i = 0; i < C * D; ++i) xd[i] = Dual(x[i]), xd[i].d = v[i];
  sd.forward_backward(0, x.data(), up.data(), B.data(), gx.data());
  sdual.forward_backward(0, xd.data(), upd.data(), Bd.data(), gxd.data());
  double lhs = 0, rhs = 0;
  for (int i = 0; i < nout; ++i) {
    CHECK(Bd[i].v == doctest::Approx(B[i]).epsilon(1e-14));
    lhs += up[i] * Bd[i].d;
  }
  for (int a = 0; a < C * D; ++a) rhs += gx[a] * v[a];
  CHECK(lhs == doctest::Approx(rhs).epsilon(1e-12));
  const double h = 1e-5;
  std::vector<double> xp(x), xm(x), gp(C * D, 0.0), gm(C * D, 0.0), Bp(nout);
  for (int a = 0; a < C * D; ++a) xp[a] += h * v[a], xm[a] -= h * v[a];
  sd.forward_backward(0, xp.data(), up.data(), Bp.data(), gp.data());
  sd.forward_backward(0, xm.data(), up.data(), Bp.data(), gm.data());
  for (int a = 0; a < C * D; ++a) CHECK(gxd[a].d == doctest::Approx((gp[a] - gm[a]) / (2 * h)).epsilon(1e-7).scale(1));
}

TEST_CASE("mace symmetric contraction: cost of one node, medium model shape (C = 128, lmax 3, correlation 3)") {
  std::mt19937_64 rng(8);
  const int C = 128;
  const auto weights = random_weights(C, rng);
  const auto t0 = std::chrono::steady_clock::now();
  Twin t(C, weights, rng, 0.3, true);
  const double t_prepare = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 2;
  auto& sd = t.sd;
  auto& sf = t.sf;
  auto &x = t.x, &up = t.up, &B = t.B, &gx = t.gx;
  auto &xf = t.xf, &upf = t.upf, &Bf = t.Bf, &gxf = t.gxf;
  auto time_it = [](auto&& f) {  // fastest of 20 calls, in µs (the machine is shared)
    double best = 1e30;
    for (int r = 0; r < 20; ++r) {
      const auto s = std::chrono::steady_clock::now();
      f();
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - s).count() * 1e6);
    }
    return best;
  };
  const double fwd = time_it([&] { sd.forward(0, x.data(), B.data()); });
  const double both = time_it([&] { sd.forward_backward(0, x.data(), up.data(), B.data(), gx.data()); });
  const double fwd_f = time_it([&] { sf.forward(0, xf.data(), Bf.data()); });
  const double both_f = time_it([&] { sf.forward_backward(0, xf.data(), upf.data(), Bf.data(), gxf.data()); });
  std::vector<std::vector<std::vector<double>>> gW;
  const double wgrad = time_it([&] { sd.weight_gradient(0, x.data(), up.data(), gW); });
  MESSAGE("weight gradient per node (double, fastest of 20): " << wgrad << " us");
  MESSAGE("per node (0e + 1o outputs, fastest of 20): forward " << fwd << " us, forward+backward " << both << " us (double); "
                                                 << fwd_f << " / " << both_f << " us (float); constructor + prepare(one element), U cached: "
                                                 << t_prepare * 1e3 << " ms");
  CHECK(std::isfinite(B[0]));
}
