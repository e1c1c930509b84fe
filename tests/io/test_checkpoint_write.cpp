// PyTorch checkpoint writer: round trips, archive layout, float16/bfloat16 conversions.
#include "../test_support.hpp"

#include <nernst/io/checkpoint/checkpoint.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

namespace {

using nernst::io::DType;
using nernst::io::PickleValue;
using nernst::io::Tensor;

/// Scratch file in a directory removed when the test executable exits.
std::string temp_path(const std::string& name) {
  static const nernst_test::TempDir dir("nernst_ckpt_test");
  return dir.file(name);
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

std::uint32_t rd32(const std::string& s, std::size_t at) {
  std::uint32_t v = 0;
  for (int k = 0; k < 4; ++k) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + k])) << (8 * k);
  return v;
}
std::uint32_t rd16(const std::string& s, std::size_t at) {
  return static_cast<std::uint32_t>(static_cast<unsigned char>(s[at])) |
         (static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + 1])) << 8);
}

/// Walks the local file headers of a stored zip: (name, data offset, size) per entry.
struct LocalEntry {
  std::string name;
  std::size_t data_offset, size;
};
std::vector<LocalEntry> local_entries(const std::string& z) {
  std::vector<LocalEntry> out;
  std::size_t at = 0;
  while (at + 30 <= z.size() && rd32(z, at) == 0x04034b50u) {
    const std::size_t size = rd32(z, at + 18), nlen = rd16(z, at + 26), xlen = rd16(z, at + 28);
    out.push_back({z.substr(at + 30, nlen), at + 30 + nlen + xlen, size});
    at = at + 30 + nlen + xlen + size;
  }
  return out;
}

Tensor float_tensor(std::vector<std::int64_t> shape, DType t, double scale) {
  Tensor x;
  x.dtype = t;
  x.shape = std::move(shape);
  for (std::size_t i = 0; i < x.numel(); ++i) x.values.push_back(scale * (static_cast<double>(i) - 3.0));
  return x;
}

}  // namespace

TEST_CASE("checkpoint writer: every value kind round-trips") {
  PickleValue top = PickleValue::dict();
  top.set("none", nullptr);
  top.set("t", true);
  top.set("f", false);
  PickleValue ints = PickleValue::list();
  for (std::int64_t i : {std::int64_t(0), std::int64_t(1), std::int64_t(255), std::int64_t(256), std::int64_t(65535),
                         std::int64_t(65536), std::int64_t(-1), std::int64_t(-129), std::int64_t(-32769),
                         std::int64_t(std::numeric_limits<std::int32_t>::min()),
                         std::int64_t(std::numeric_limits<std::int32_t>::max()), std::int64_t(1) << 31,
                         -(std::int64_t(1) << 31) - 1, std::int64_t(1) << 40, -(std::int64_t(1) << 40),
                         std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::int64_t>::min()})
    ints.append(i);
  top.set("ints", ints);
  top.set("floats", PickleValue::tuple({0.1, -0.0, 1e300, -2.5e-310, std::numeric_limits<double>::infinity()}));
  top.set("str", std::string("Li\xc3\x85 \xe2\x82\xac"));  // UTF-8 text
  std::string all_bytes;
  for (int c = 0; c < 256; ++c) all_bytes.push_back(static_cast<char>(c));
  top.set("bytes", PickleValue::bytes(all_bytes));
  for (int n = 0; n <= 5; ++n) {
    std::vector<PickleValue> items;
    for (int k = 0; k < n; ++k) items.emplace_back(k);
    top.set("tuple" + std::to_string(n), PickleValue::tuple(items));
  }
  PickleValue int_keys = PickleValue::dict();
  int_keys.set(3, "three");
  int_keys.set(-7, PickleValue::list({1.5, "x"}));
  top.set(42, int_keys);
  PickleValue od = PickleValue::ordered_dict();
  od.set("b", 1);
  od.set("a", 2);
  PickleValue meta = PickleValue::dict();
  meta.set("", PickleValue::dict());
  od.as_dict().state.push_back(meta);
  top.set("od", od);
  // Tensors of every dtype, including 0-d and empty ones.
  PickleValue tensors = PickleValue::list();
  tensors.append(float_tensor({2, 3}, DType::Float32, 0.25));
  tensors.append(float_tensor({4}, DType::Float64, 0.1));
  tensors.append(float_tensor({3, 1}, DType::Float16, 0.5));
  tensors.append(float_tensor({5}, DType::BFloat16, 2.0));
  tensors.append(float_tensor({}, DType::Float32, -1.0));
  tensors.append(float_tensor({0, 3}, DType::Float32, 1.0));
  tensors.append(Tensor::from_ints({2, 2}, {-5, 0, 7, std::numeric_limits<std::int64_t>::min()}, DType::Int64));
  tensors.append(Tensor::from_ints({3}, {-2147483648LL, 0, 2147483647LL}, DType::Int32));
  tensors.append(Tensor::from_ints({2}, {-32768, 32767}, DType::Int16));
  tensors.append(Tensor::from_ints({2}, {-128, 127}, DType::Int8));
  tensors.append(Tensor::from_ints({2}, {0, 255}, DType::UInt8));
  tensors.append(Tensor::from_ints({3}, {1, 0, 1}, DType::Bool));
  top.set("tensors", tensors);
  // Objects the reader does not rebuild survive as the calls they are.
  nernst::io::Opaque dev;
  dev.module = "torch";
  dev.name = "device";
  dev.called = true;
  dev.args = {PickleValue("cpu")};
  top.set("device", dev);
  nernst::io::Opaque cls;
  cls.module = "torch";
  cls.name = "float32";
  top.set("dtype", cls);
  nernst::io::Opaque obj;
  obj.module = "collections";
  obj.name = "defaultdict";
  obj.called = true;
  obj.dict_items.emplace_back("k", 1);
  obj.state.push_back(PickleValue::dict());
  top.set("defaultdict", obj);

  const std::string path = temp_path("all_kinds.pt");
  nernst::io::save_torch(path, top);
  const PickleValue back = nernst::io::load_torch(path);
  CHECK(back == top);
  CHECK(back["bytes"].as_bytes() == all_bytes);
  CHECK(back["ints"][16].as_int() == std::numeric_limits<std::int64_t>::min());
  CHECK(std::signbit(back["floats"][1].as_double()));
  CHECK(back.at(42).at(-7)[1].as_string() == "x");
  CHECK(back["tensors"][4].as_tensor().shape.empty());
  CHECK(back["tensors"][4].as_tensor().item() == 3.0);
  CHECK(back["device"].as_opaque().qualname() == "torch.device");
}

TEST_CASE("checkpoint writer: state_dict round trip and archive layout") {
  nernst::io::StateDict sd;
  sd["layer.weight"] = float_tensor({3, 4}, DType::Float32, 0.125);
  sd["layer.bias"] = float_tensor({3}, DType::Float32, -0.5);
  sd["bn.num_batches_tracked"] = Tensor::from_ints({}, {12}, DType::Int64);
  sd["table"] = float_tensor({2, 2}, DType::Float64, 0.1);
  const std::string path = temp_path("model.pth.tar");
  nernst::io::save_state_dict(path, sd);

  const nernst::io::StateDict back = nernst::io::load_state_dict(path);
  REQUIRE(back.size() == sd.size());
  for (const auto& entry : sd) {  // no structured binding: doctest's INFO/CAPTURE capture it (nvcc refuses)
    const auto& k = entry.first;
    const auto& t = entry.second;
    CAPTURE(k);
    const Tensor& b = back.at(k);
    CHECK(b.dtype == t.dtype);
    CHECK(b.shape == t.shape);
    CHECK(b.values == t.values);
    CHECK(b.int_values == t.int_values);
  }
  CHECK(back.at("bn.num_batches_tracked").at_int() == 12);
  CHECK(back.at("layer.weight").at(2, 3) == 0.125 * 8.0);

  // Layout as torch.save writes it: one folder named after the file, data aligned to 64 bytes.
  const std::string z = slurp(path);
  const auto entries = local_entries(z);
  REQUIRE(entries.size() == 3 + sd.size());
  CHECK(entries.front().name == "model.pth/data.pkl");
  CHECK(entries[1].name == "model.pth/byteorder");
  CHECK(z.substr(entries[1].data_offset, entries[1].size) == "little");
  CHECK(entries.back().name == "model.pth/version");
  CHECK(z.substr(entries.back().data_offset, entries.back().size) == "3\n");
  for (const auto& e : entries) CHECK_MESSAGE(e.data_offset % 64 == 0, e.name << " is not 64-byte aligned");
  CHECK(entries[2].name == "model.pth/data/0");
  CHECK(entries[2].size == 8);  // keys in sorted order: the first storage is the int64 scalar
}

TEST_CASE("checkpoint writer: real checkpoints survive load -> save -> load unchanged") {
  NERNST_REQUIRE_SHARED_DATA();
  const auto models = nernst_test::shared_dir() / "models";
  for (const auto& rel : {"m3gnet-mp-2021.2.8-pes/state.pt", "m3gnet-mp-2021.2.8-pes/model.pt",
                          "chgnet-random/chgnet_small_random_seed1.pth.tar"}) {
    const std::string rel_s = rel;
    CAPTURE(rel_s);
    const PickleValue a = nernst::io::load_torch((models / rel).string());
    const std::string out = temp_path("resaved.pt");
    nernst::io::save_torch(out, a);
    const PickleValue b = nernst::io::load_torch(out);
    CHECK(a == b);
  }
}

TEST_CASE("checkpoint writer: float16 and bfloat16 conversions") {
  using nernst::io::detail::bf16_to_float;
  using nernst::io::detail::float_to_bf16;
  using nernst::io::detail::float_to_half;
  using nernst::io::detail::half_to_float;
  // Known encodings (IEEE 754 binary16).
  CHECK(float_to_half(1.0f) == 0x3c00);
  CHECK(float_to_half(-2.0f) == 0xc000);
  CHECK(float_to_half(65504.0f) == 0x7bff);
  CHECK(float_to_half(65520.0f) == 0x7c00);  // rounds to +inf
  CHECK(float_to_half(0.1f) == 0x2e66);
  CHECK(float_to_half(std::ldexp(1.0f, -24)) == 0x0001);  // smallest subnormal
  CHECK(float_to_half(std::ldexp(1.0f, -26)) == 0x0000);  // below half of it
  CHECK(float_to_half(std::ldexp(3.0f, -26)) == 0x0001);  // above half of it
  CHECK(half_to_float(0x3555) == 0.333251953125f);
  CHECK(half_to_float(0x0001) == std::ldexp(1.0f, -24));
  // Every finite half and bfloat16 survives decode -> encode.
  int bad_h = 0, bad_b = 0;
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    const auto u = static_cast<std::uint16_t>(h);
    if ((u & 0x7c00) != 0x7c00 && float_to_half(half_to_float(u)) != u) ++bad_h;
    if ((u & 0x7f80) != 0x7f80 && float_to_bf16(bf16_to_float(u)) != u) ++bad_b;
  }
  CHECK(bad_h == 0);
  CHECK(bad_b == 0);
  // Round to nearest even at the halfway point between two halfs: 1 + 2^-11 -> 1.0, 1 + 3*2^-11 -> 1 + 2^-9.
  CHECK(float_to_half(1.0f + std::ldexp(1.0f, -11)) == 0x3c00);
  CHECK(float_to_half(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3c02);
  CHECK(float_to_bf16(1.0f + std::ldexp(1.0f, -8)) == 0x3f80);
  CHECK(float_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)) == 0x3f82);
}
