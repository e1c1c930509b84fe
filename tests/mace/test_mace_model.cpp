// MACE model loading: state_dict.pt + JSON and the pickled .model give the same tensors and
// hyper-parameters, every tensor matches the checksum the shared model description lists, and
// broken files fail with errors that name them.

#include "mace_test_util.hpp"
#include "sha256.hpp"

#include <nernst/core/error.hpp>

#include <cstring>
#include <fstream>

using namespace mace_test;

namespace {

/// The raw little-endian bytes torch stores for tensor t (its dtype, row-major).
std::string tensor_bytes(const nernst::io::Tensor& t) {
  using nernst::io::DType;
  std::string b;
  auto put = [&](const void* p, std::size_t n) { b.append(static_cast<const char*>(p), n); };
  for (std::size_t i = 0; i < t.numel(); ++i) switch (t.dtype) {
      case DType::Float64: put(&t.values[i], 8); break;
      case DType::Float32: {
        const float f = static_cast<float>(t.values[i]);
        put(&f, 4);
        break;
      }
      case DType::Int64: put(&t.int_values[i], 8); break;
      case DType::Int32: {
        const std::int32_t v = static_cast<std::int32_t>(t.int_values[i]);
        put(&v, 4);
        break;
      }
      case DType::Bool:
      case DType::UInt8:
      case DType::Int8: {
        const char c = static_cast<char>(t.int_values[i]);
        put(&c, 1);
        break;
      }
      default: FAIL("unexpected dtype in a MACE model");
    }
  return b;
}

/// Checks every tensor the model JSON lists (dtype, shape, sha256) against `sd`.
void check_checksums(const nernst::io::StateDict& sd, const std::string& name) {
  const auto j = nernst_test::read_json(model_json(name));
  const auto& listed = j.at("state_dict_tensors");
  REQUIRE(listed.size() > 20);
  for (const auto& kv : listed.items()) {
    INFO(name << ": " << kv.key());
    const auto it = sd.find(kv.key());
    REQUIRE(it != sd.end());
    CHECK(std::string(nernst::io::dtype_name(it->second.dtype)) == kv.value().at("dtype").get<std::string>());
    CHECK(it->second.shape == kv.value().at("shape").get<std::vector<std::int64_t>>());
    CHECK(sha256_hex(tensor_bytes(it->second)) == kv.value().at("sha256").get<std::string>());
  }
}

}  // namespace

TEST_CASE("sha256 helper: FIPS 180-4 test vectors") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST_CASE("MACE .model and state_dict.pt + JSON give identical tensors and hyper-parameters") {
  if (!nernst_test::have_shared()) return;
  const std::string name = "mace-small-random";
  const auto a = gm::read_mace_state_dict((model_dir() / (name + ".state_dict.pt")).string(), model_json(name));
  const auto& b = source(name);
  CHECK(a.tensors.size() == b.tensors.size());
  for (const auto& kv : a.tensors) {
    INFO(kv.first);
    const auto it = b.tensors.find(kv.first);
    REQUIRE(it != b.tensors.end());
    CHECK(it->second.dtype == kv.second.dtype);
    CHECK(it->second.shape == kv.second.shape);
    CHECK(it->second.values == kv.second.values);
    CHECK(it->second.int_values == kv.second.int_values);
  }
  check_checksums(a.tensors, name);
  const auto &ca = a.config, &cb = b.config;
  CHECK(ca.r_max == cb.r_max);
  CHECK(ca.num_bessel == cb.num_bessel);
  CHECK(ca.p == cb.p);
  CHECK(ca.max_ell == cb.max_ell);
  CHECK(ca.hidden_irreps == cb.hidden_irreps);
  CHECK(ca.correlation == cb.correlation);
  CHECK(ca.interactions == cb.interactions);
  CHECK(ca.mlp_irreps == cb.mlp_irreps);
  CHECK(ca.avg_num_neighbors == cb.avg_num_neighbors);
  CHECK(ca.radial_mlp == cb.radial_mlp);
  CHECK(ca.act_constant == cb.act_constant);
  CHECK(ca.atomic_numbers == cb.atomic_numbers);
  CHECK(ca.e0 == cb.e0);
}

TEST_CASE("MACE .model files: every tensor matches the listed checksum, hyper-parameters match the JSON") {
  if (!nernst_test::have_shared()) return;
  for (const auto& name : model_names()) {
    INFO(name);
    const auto& s = source(name);
    check_checksums(s.tensors, name);
    const auto j = nernst_test::read_json(model_json(name));
    const auto& h = j.at("hyper_parameters");
    const auto& c = s.config;
    CHECK(c.r_max == h.at("r_max").get<double>());
    CHECK(c.num_bessel == h.at("num_bessel").get<int>());
    CHECK(c.p == h.at("num_polynomial_cutoff").get<int>());
    CHECK(c.max_ell == h.at("max_ell").get<int>());
    CHECK(c.hidden_irreps == gm::Irreps::parse(h.at("hidden_irreps").get<std::string>()));
    CHECK(c.correlation == h.at("correlation").get<int>());
    REQUIRE(c.num_interactions() == h.at("num_interactions").get<int>());
    CHECK(gm::interaction_class_name(c.interactions[0]) == h.at("interaction_first").get<std::string>());
    for (int t = 1; t < c.num_interactions(); ++t)
      CHECK(gm::interaction_class_name(c.interactions[static_cast<std::size_t>(t)]) == h.at("interaction").get<std::string>());
    CHECK(c.mlp_irreps == gm::Irreps::parse(h.at("MLP_irreps").get<std::string>()));
    CHECK(c.avg_num_neighbors == h.at("avg_num_neighbors").get<double>());
    CHECK(c.radial_mlp == h.at("radial_MLP").get<std::vector<int>>());
    CHECK(c.atomic_numbers == h.at("atomic_numbers").get<std::vector<int>>());
    CHECK(c.scale == h.at("atomic_inter_scale").get<double>());
    CHECK(c.shift == h.at("atomic_inter_shift").get<double>());
    CHECK(c.act_constant == j.at("architecture").at("normalize2mom_constants").begin()->at("cst").get<double>());
    // E0(Z) = -1 - Z/20 eV (spec).
    for (std::size_t i = 0; i < c.e0.size(); ++i) CHECK(c.e0[i] == doctest::Approx(-1.0 - c.atomic_numbers[i] / 20.0).epsilon(1e-15));
    // The weights arrange without error, and conv_tp's paths are the ones the JSON lists.
    const auto& m = model64(name);
    for (int t = 0; t < c.num_interactions(); ++t) {
      const auto& arch = j.at("architecture").at("modules").at("interactions." + std::to_string(t) + ".conv_tp");
      const auto& conv = m.weights.interactions[static_cast<std::size_t>(t)].conv;
      CHECK(conv.irreps_out.str() == arch.at("irreps_out").get<std::string>());
      REQUIRE(conv.instructions.size() == arch.at("instructions").size());
      for (std::size_t k = 0; k < conv.instructions.size(); ++k) {
        CHECK(conv.instructions[k].i_in1 == arch.at("instructions")[k].at("i_in1").get<int>());
        CHECK(conv.instructions[k].i_in2 == arch.at("instructions")[k].at("i_in2").get<int>());
        CHECK(conv.instructions[k].i_out == arch.at("instructions")[k].at("i_out").get<int>());
      }
    }
  }
}

TEST_CASE("MACE: truncated or wrong model files fail with errors naming the file") {
  if (!nernst_test::have_shared()) return;
  nernst_test::TempDir dir("mace_model");
  const std::string src = model_file("mace-small-random");
  std::ifstream in(src, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string cut = dir.file("truncated.model");
  std::ofstream(cut, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  CHECK_THROWS_WITH_AS(gm::read_mace_model_file(cut), doctest::Contains("truncated.model"), nernst::Error);
  // A state_dict is not a pickled module.
  CHECK_THROWS_WITH_AS(gm::read_mace_model_file((model_dir() / "mace-small-random.state_dict.pt").string()),
                       doctest::Contains("state_dict.pt"), nernst::Error);
  // A JSON file is not a zip archive.
  CHECK_THROWS_WITH_AS(gm::read_mace_model_file(model_json("mace-small-random")), doctest::Contains(".json"), nernst::Error);
  CHECK_THROWS_AS(gm::read_mace_model_file(dir.file("missing.model")), nernst::IOError);
  // Hyper-parameters that do not fit the tensors: the tensor is named.
  auto s = gm::read_mace_state_dict((model_dir() / "mace-small-random.state_dict.pt").string(), model_json("mace-small-random"));
  s.tensors.erase("interactions.1.linear.weight");
  CHECK_THROWS_WITH_AS(gm::make_mace_model<double>(s), doctest::Contains("interactions.1.linear.weight"), nernst::Error);
  s.config.correlation = 3;
  CHECK_THROWS_WITH_AS(gm::make_mace_model<double>(s), doctest::Contains("weights.1"), nernst::Error);
}

TEST_CASE("e3nn irreps strings") {
  const auto r = gm::Irreps::parse("128x0e + 128x1o");
  REQUIRE(r.size() == 2);
  CHECK(r[1].mul == 128);
  CHECK(r[1].ir == gm::Irrep{1, -1});
  CHECK(r.dim() == 128 * 4);
  CHECK(r.str() == "128x0e+128x1o");
  CHECK(gm::Irreps::parse("0e+2e").dim() == 6);
  CHECK_THROWS_AS(gm::Irreps::parse("16x0q"), nernst::ValueError);
  CHECK_THROWS_AS(gm::Irreps::parse("16x0e +"), nernst::ValueError);
}
