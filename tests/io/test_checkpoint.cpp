// PyTorch checkpoint reader: the real files in ../shared/models against their JSON exports.
#include "../test_support.hpp"

#include <nernst/io/checkpoint/checkpoint.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>

namespace {

using nernst::io::PickleValue;
using nernst::io::Tensor;

nlohmann::ordered_json read_json(const std::filesystem::path& p) {
  std::ifstream f(p);
  REQUIRE(f.good());
  return nlohmann::ordered_json::parse(f);
}

std::uint32_t f32_bits(double v) {
  const float f = static_cast<float>(v);
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

/// Compares a tensor with a {"shape", "dtype": "float32", "data"} record; counts bit-exact values.
bool tensor_matches(const Tensor& t, const nlohmann::ordered_json& rec, std::size_t& n_values) {
  if (t.dtype != nernst::io::DType::Float32) return false;
  if (rec.at("dtype").get<std::string>() != "float32") return false;
  if (t.shape != rec.at("shape").get<std::vector<std::int64_t>>()) return false;
  const auto& data = rec.at("data");
  if (data.size() != t.values.size()) return false;
  for (std::size_t i = 0; i < t.values.size(); ++i) {
    const double ref = data[i].get<double>();
    // The JSON holds the exact double of each float32: equal doubles and equal float32 bits.
    if (t.values[i] != ref || f32_bits(t.values[i]) != f32_bits(ref)) return false;
    ++n_values;
  }
  return true;
}

/// Structural comparison of an unpickled value with a JSON value (int/float kinds must agree).
bool same(const PickleValue& v, const nlohmann::ordered_json& j) {
  if (j.is_null()) return v.is_none();
  if (j.is_boolean()) return v.is_bool() && v.as_bool() == j.get<bool>();
  if (j.is_number_integer()) return v.is_int() && v.as_int() == j.get<std::int64_t>();
  if (j.is_number_float()) return v.is_float() && v.as_double() == j.get<double>();
  if (j.is_string()) return v.is_string() && v.as_string() == j.get<std::string>();
  if (j.is_array()) {
    if (!v.is_sequence() || v.size() != j.size()) return false;
    for (std::size_t i = 0; i < j.size(); ++i)
      if (!same(v[i], j[i])) return false;
    return true;
  }
  if (j.is_object()) {
    if (!v.is_dict() || v.size() != j.size()) return false;
    for (const auto& [k, jv] : j.items()) {
      const PickleValue* p = v.find(k);
      if (!p || !same(*p, jv)) return false;
    }
    return true;
  }
  return false;
}

}  // namespace

TEST_CASE("checkpoint: M3GNet state.pt matches weights.json bit for bit") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto dir = nernst_test::shared_dir() / "models/m3gnet-mp-2021.2.8-pes";
  const auto t0 = std::chrono::steady_clock::now();
  const nernst::io::StateDict sd = nernst::io::load_state_dict((dir / "state.pt").string());
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto ref = read_json(dir / "weights.json").at("tensors");

  CHECK(sd.size() == 115);
  CHECK(ref.size() == 115);
  std::size_t matched = 0, n_values = 0;
  for (const auto& entry : ref.items()) {  // no structured binding: doctest's INFO/CAPTURE capture it (nvcc refuses)
    const auto& key = entry.key();
    const auto& rec = entry.value();
    auto it = sd.find(key);
    CHECK_MESSAGE(it != sd.end(), "missing tensor " << key);
    if (it == sd.end()) continue;
    const bool ok = tensor_matches(it->second, rec, n_values);
    CHECK_MESSAGE(ok, "tensor " << key << " differs");
    matched += ok;
  }
  CHECK(matched == 115);
  MESSAGE("state.pt: " << matched << "/115 tensors, " << n_values << " float32 values bit-exact; load " << secs * 1e3
                       << " ms");

  // The top level keeps the file's key order.
  const PickleValue top = nernst::io::load_torch((dir / "state.pt").string());
  REQUIRE(top.is_dict());
  CHECK(top.as_dict().ordered);
  std::size_t i = 0;
  for (const auto& [key, rec] : ref.items()) {
    (void)rec;
    REQUIRE(i < top.size());
    CHECK(top.as_dict().items[i++].first.as_string() == key);
  }
  // A 0-d tensor reads as shape () with one element.
  CHECK(sd.at("data_std").shape.empty());
  CHECK(sd.at("data_std").item() == read_json(dir / "weights.json").at("constants").at("data_std").get<double>());
}

TEST_CASE("checkpoint: M3GNet model.pt (pickled init args)") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto dir = nernst_test::shared_dir() / "models/m3gnet-mp-2021.2.8-pes";
  const PickleValue v = nernst::io::load_torch((dir / "model.pt").string());
  const auto consts = read_json(dir / "weights.json").at("constants");
  REQUIRE(v.is_dict());
  CHECK(v["model"]["@class"].as_string() == "M3GNet");
  CHECK(v["model"]["@module"].as_string() == "matgl.models._m3gnet");
  const PickleValue& args = v["model"]["init_args"];
  CHECK(same(args["element_types"], consts.at("element_types")));
  CHECK(args["max_n"].as_int() == consts.at("max_n").get<std::int64_t>());
  CHECK(args["max_l"].as_int() == consts.at("max_l").get<std::int64_t>());
  CHECK(args["nblocks"].as_int() == consts.at("nblocks").get<std::int64_t>());
  CHECK(args["cutoff"].as_double() == consts.at("cutoff").get<double>());
  CHECK(args["threebody_cutoff"].as_double() == consts.at("threebody_cutoff").get<double>());
  CHECK(args["ntypes_state"].is_none());
  // "Its data_std, data_mean and element_refs equal the ones in state.pt."
  const nernst::io::StateDict sd = nernst::io::load_state_dict((dir / "state.pt").string());
  CHECK(v["data_std"].as_tensor().values == sd.at("data_std").values);
  CHECK(v["data_mean"].as_tensor().values == sd.at("data_mean").values);
  const Tensor& refs = v["element_refs"].as_tensor();
  REQUIRE(refs.shape == std::vector<std::int64_t>{89});
  const auto jrefs = consts.at("element_refs");
  for (std::size_t k = 0; k < 89; ++k) CHECK(f32_bits(refs.values[k]) == f32_bits(jrefs[k].get<double>()));
  CHECK(v["calc_forces"].as_bool());
  // model.pt has no state_dict: load_state_dict says so instead of guessing.
  CHECK_THROWS_AS(nernst::io::load_state_dict((dir / "model.pt").string()), nernst::ValueError);
}

TEST_CASE("checkpoint: CHGNet trainer checkpoints (.pth.tar)") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto dir = nernst_test::shared_dir() / "models/chgnet-random";
  for (const char* stem : {"chgnet_small_random_seed1", "chgnet_0.3.0_random_seed0"}) {
    const std::string stem_s = stem;
    CAPTURE(stem_s);
    const std::string path = (dir / (std::string(stem) + ".pth.tar")).string();
    const auto ref = read_json(dir / (std::string(stem) + ".weights.json"));
    const auto t0 = std::chrono::steady_clock::now();
    const PickleValue top = nernst::io::load_torch(path);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    // The model part, walked past the trainer state.
    const PickleValue& sdv = top["model"]["state_dict"];
    REQUIRE(sdv.is_dict());
    CHECK(sdv.as_dict().ordered);
    CHECK(!sdv.as_dict().state.empty());  // `_metadata`, restored by BUILD
    const auto& jsd = ref.at("state_dict");
    REQUIRE(sdv.size() == jsd.size());
    std::size_t i = 0, matched = 0, n_values = 0, n_params = 0;
    for (const auto& entry : jsd.items()) {  // no structured binding: doctest's INFO/CAPTURE capture it (nvcc refuses)
      const auto& key = entry.key();
      const auto& rec = entry.value();
      const auto& kv = sdv.as_dict().items[i++];
      CHECK(kv.first.as_string() == key);  // same order as the file
      const bool ok = tensor_matches(kv.second.as_tensor(), rec, n_values);
      CHECK_MESSAGE(ok, "tensor " << key << " differs");
      matched += ok;
      n_params += kv.second.as_tensor().numel();
    }
    CHECK(matched == jsd.size());
    CHECK(n_params == ref.at("n_parameters").get<std::size_t>());
    CHECK(same(top["model"]["model_args"], ref.at("model_args")));
    MESSAGE(std::string(stem) << ": " << matched << "/" << jsd.size() << " tensors, " << n_values << " values bit-exact; load "
                 << secs * 1e3 << " ms");

    // load_state_dict finds model.state_dict.
    const nernst::io::StateDict sd = nernst::io::load_state_dict(path);
    CHECK(sd.size() == jsd.size());

    // Trainer state: Adam moments have the shapes of the parameters they belong to, one step taken.
    const PickleValue& opt = top["optimizer"];
    const PickleValue& groups = opt["param_groups"];
    REQUIRE(groups.is_list());
    CHECK(groups[0]["lr"].as_double() == 5e-3);
    CHECK(groups[0]["betas"].is_tuple());
    const PickleValue& params = groups[0]["params"];
    std::vector<const Tensor*> by_index;
    for (const auto& kv : sdv.as_dict().items) by_index.push_back(&kv.second.as_tensor());
    std::size_t n_states = 0;
    for (const auto& kv : opt["state"].as_dict().items) {
      const std::int64_t pid = kv.first.as_int();
      REQUIRE(pid >= 0);
      REQUIRE(static_cast<std::size_t>(pid) < params.size());
      const Tensor& m = kv.second["exp_avg"].as_tensor();
      CHECK(kv.second["exp_avg_sq"].as_tensor().shape == m.shape);
      // Every tensor of these state_dicts is a parameter, in model.parameters() order.
      if (params.size() == by_index.size()) CHECK(by_index[static_cast<std::size_t>(pid)]->shape == m.shape);
      CHECK(kv.second["step"].as_tensor().item() == 1.0);
      ++n_states;
    }
    CHECK(n_states > 0);
    CHECK(top["scheduler"]["T_max"].is_int());
    CHECK(top["training_history"]["e"]["train"].is_list());
    CHECK(top["trainer_args"]["optimizer"].as_string() == "Adam");
  }
}

TEST_CASE("checkpoint: load_torch_bytes reads an archive held in memory like the file itself") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto path = (nernst_test::shared_dir() / "models/m3gnet-mp-2021.2.8-pes" / "state.pt").string();
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(bytes.size() > 1000);
  const PickleValue from_file = nernst::io::load_torch(path);
  const PickleValue from_memory = nernst::io::load_torch_bytes(bytes, "in-memory state.pt");
  CHECK(from_memory == from_file);
  // Not a zip, and a cut archive: ParseError naming the label.
  CHECK_THROWS_WITH_AS(nernst::io::load_torch_bytes("not a zip archive", "blob-label"), doctest::Contains("blob-label"),
                       nernst::ParseError);
  CHECK_THROWS_WITH_AS(nernst::io::load_torch_bytes(bytes.substr(0, bytes.size() / 2), "half-archive"),
                       doctest::Contains("half-archive"), nernst::ParseError);
}
