// PyTorch checkpoint reader on malformed input: clear errors, never a crash.
#include "../test_support.hpp"

#include <nernst/io/checkpoint/checkpoint.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <fstream>
#include <random>
#include <string>

using namespace std::string_literals;  // "...\0..."s keeps embedded NULs

namespace {

using nernst::io::PickleValue;
using nernst::io::detail::ZipEntry;

/// Scratch file in a directory removed when the test executable exits.
std::string temp_path(const std::string& name) {
  static const nernst_test::TempDir dir("nernst_ckpt_bad");
  return dir.file(name);
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// Tiny pickle assembler for hand-made inputs.
std::string u32le(std::uint32_t v) {
  std::string s;
  for (int k = 0; k < 4; ++k) s.push_back(static_cast<char>((v >> (8 * k)) & 0xff));
  return s;
}
std::string unicode(const std::string& s) { return "X" + u32le(static_cast<std::uint32_t>(s.size())) + s; }
std::string int1(unsigned v) { return std::string("K") + static_cast<char>(v); }
/// `_rebuild_tensor_v2(('storage', FloatStorage, key, 'cpu', numel), offset, size, stride, False, {})`
std::string tensor_pickle(const std::string& key, unsigned numel, unsigned offset, std::vector<unsigned> size,
                          std::vector<unsigned> stride) {
  std::string p = "ctorch._utils\n_rebuild_tensor_v2\n(";
  p += "(" + unicode("storage") + "ctorch\nFloatStorage\n" + unicode(key) + unicode("cpu") + int1(numel) + "tQ";
  p += int1(offset) + "(";
  for (auto s : size) p += int1(s);
  p += "t(";
  for (auto s : stride) p += int1(s);
  p += "t\x89}tR";
  return p;
}
std::string floats(std::initializer_list<float> v) {
  std::string s;
  for (float f : v) s.append(reinterpret_cast<const char*>(&f), 4);  // little-endian host assumed (x86/ARM)
  return s;
}

/// Writes an archive with the given data.pkl (and storages) and loads it.
PickleValue load_pickle(const std::string& pkl, std::vector<ZipEntry> storages = {}, const std::string& name = "t.pt") {
  std::vector<ZipEntry> e{{"archive/data.pkl", pkl}};
  for (auto& s : storages) e.push_back({"archive/data/" + s.name, s.data});
  e.push_back({"archive/version", "3\n"});
  const std::string path = temp_path(name);
  nernst::io::detail::write_zip(path, e);
  return nernst::io::load_torch(path);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const nernst::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("checkpoint malformed: hand-made pickles that are fine") {
  // Strided views, offsets and the protocol-4 opcodes are read correctly.
  const std::string st = floats({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  // A transposed 3x4 -> 4x3 view (stride (1, 4)) at offset 0, and a 2x2 view at offset 5 with stride (4, 1).
  const std::string pkl = std::string("\x80\x02") + "(" + tensor_pickle("0", 12, 0, {4, 3}, {1, 4}) +
                          tensor_pickle("0", 12, 5, {2, 2}, {4, 1}) + "l.";
  const PickleValue v = load_pickle(pkl, {{"0", st}});
  const auto& t = v[0].as_tensor();
  REQUIRE(t.shape == std::vector<std::int64_t>{4, 3});
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 3; ++j) CHECK(t.at(i, j) == static_cast<double>(j * 4 + i));
  const auto& u = v[1].as_tensor();
  CHECK(u.values == std::vector<double>{5, 6, 9, 10});

  // Protocol 4: FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL, BINUNICODE8, LONG1, BINBYTES.
  std::string p4 = std::string("\x80\x04\x95") + std::string(8, '\0');
  p4 += std::string("\x8c\x0b") + "collections" + "\x94";
  p4 += std::string("\x8c\x0b") + "OrderedDict" + "\x94\x93\x94)R\x94";
  p4 += std::string("\x8d") + std::string("\x01\0\0\0\0\0\0\0", 8) + "k";
  p4 += std::string("\x8a\x02\xff\x7f", 4);  // LONG1 32767
  p4 += "s";
  p4 += std::string("\x8c\x01") + "b" + "B" + u32le(3) + std::string("\0\1\2", 3) + "s";
  p4 += "\x8c\x01" "c" "h\x00" "s."s;  // BINGET 0 -> the string 'collections'
  const PickleValue w = load_pickle(p4);
  REQUIRE(w.is_dict());
  CHECK(w.as_dict().ordered);
  CHECK(w["k"].as_int() == 32767);
  CHECK(w["b"].as_bytes() == std::string("\0\1\2", 3));
  CHECK(w["c"].as_string() == "collections");

  // Unknown globals become Opaque values instead of aborting the load.
  const std::string opq = std::string("\x80\x02}(") + unicode("opt") + "ctorch.optim.adam\nAdam\n)\x81}b" + unicode("np") +
                          "cnumpy.core.multiarray\nscalar\n(" + unicode("x") + "tR" + "u.";
  const PickleValue o = load_pickle(opq);
  CHECK(o["opt"].as_opaque().qualname() == "torch.optim.adam.Adam");
  CHECK(o["opt"].as_opaque().state.size() == 1);
  CHECK(o["np"].as_opaque().args.at(0).as_string() == "x");

  // A big-endian archive (byteorder "big") is byte-swapped.
  std::string be;
  for (float f : {1.5f, -2.0f}) {
    const std::string le = floats({f});
    be += std::string(le.rbegin(), le.rend());
  }
  std::vector<ZipEntry> e{{"archive/data.pkl", std::string("\x80\x02") + tensor_pickle("0", 2, 0, {2}, {1}) + "."},
                          {"archive/byteorder", "big"},
                          {"archive/data/0", be},
                          {"archive/version", "3\n"}};
  const std::string path = temp_path("be.pt");
  nernst::io::detail::write_zip(path, e);
  CHECK(nernst::io::load_torch(path).as_tensor().values == std::vector<double>{1.5, -2.0});
}

TEST_CASE("checkpoint malformed: clear errors") {
  using nernst::ParseError;
  // Files that are not checkpoints at all.
  CHECK_THROWS_AS(nernst::io::load_torch(temp_path("does_not_exist.pt")), nernst::IOError);
  write_file(temp_path("empty.pt"), "");
  CHECK_THROWS_AS(nernst::io::load_torch(temp_path("empty.pt")), ParseError);
  write_file(temp_path("text.pt"), "this is not a zip archive\n");
  CHECK_THROWS_AS(nernst::io::load_torch(temp_path("text.pt")), ParseError);
  write_file(temp_path("legacy.pt"), "\x80\x02\x8a\x0a"s + "legacy torch file");
  CHECK_THROWS_AS(nernst::io::load_torch(temp_path("legacy.pt")), nernst::NotSupported);
  nernst::io::detail::write_zip(temp_path("nopkl.pt"), {{"archive/version", "3\n"}});
  CHECK_THROWS_AS(nernst::io::load_torch(temp_path("nopkl.pt")), ParseError);

  // A byte that is no opcode: the message names the file, the entry, the offset and the byte.
  const std::string msg = error_of([] { load_pickle(std::string("\x80\x02\xff.", 4), {}, "badop.pt"); });
  CHECK(msg.find("badop.pt") != std::string::npos);
  CHECK(msg.find("archive/data.pkl byte 2") != std::string::npos);
  CHECK(msg.find("0xff") != std::string::npos);
  CHECK_THROWS_AS(load_pickle(std::string("\x80\x02\xff.", 4)), ParseError);
  // A real pickle opcode outside the supported subset: NotSupported, with its name.
  const std::string ext = error_of([] { load_pickle(std::string("\x80\x02\x82\x01.", 5)); });
  CHECK(ext.find("EXT1") != std::string::npos);
  CHECK(ext.find("byte 2") != std::string::npos);
  CHECK_THROWS_AS(load_pickle(std::string("\x80\x02\x82\x01.", 5)), nernst::NotSupported);

  // Truncated or inconsistent pickles.
  CHECK_THROWS_AS(load_pickle(std::string("\x80\x02}", 3)), ParseError);                // no STOP
  CHECK_THROWS_AS(load_pickle("\x80\x02X\xff\xff\x00\x00" "ab."s), ParseError);  // string past the end
  CHECK_THROWS_AS(load_pickle(std::string("\x80\x02h\x05.", 4)), ParseError);            // memo never stored
  CHECK_THROWS_AS(load_pickle(std::string("\x80\x02a.", 3)), ParseError);                // APPEND on empty stack
  CHECK_THROWS_AS(load_pickle(std::string("\x80\x02K\x01K\x02u.", 7)), ParseError);      // SETITEMS without MARK
  CHECK_THROWS_AS(load_pickle(std::string("\x80\x02K\x01K\x02s.", 7)), ParseError);      // SETITEM on an int
  CHECK_THROWS_AS(load_pickle(std::string("\x80\x02cnomodule", 11)), ParseError);       // unterminated GLOBAL
  CHECK_THROWS_AS(load_pickle(std::string("\x80\x02\x8a\x09") + std::string(9, '\x11') + "."), ParseError);  // > 64-bit
  CHECK_THROWS_AS(load_pickle("\x80\x02]\x94h\x00" "a."s), ParseError);  // list containing itself

  // 300,000 nested lists: rejected (depth), and tearing the graph down must not overflow the stack.
  const std::string deep = "\x80\x02"s + std::string(300000, '(') + std::string(300000, 'l') + ".";
  CHECK_THROWS_AS(load_pickle(deep), ParseError);
  // A large flat dict (repeated keys deduplicated as in Python) loads without quadratic work.
  std::string big = "\x80\x02}("s;
  for (std::uint32_t k = 0; k < 200000; ++k) big += "J" + u32le(k % 150000) + "N";
  big += "u.";
  CHECK(load_pickle(big).size() == 150000);

  // Tensors that do not fit their storage.
  const std::string st = floats({0, 1, 2, 3, 4, 5});
  const std::string m = error_of([&] { load_pickle("\x80\x02" + tensor_pickle("0", 6, 0, {2, 4}, {4, 1}) + ".", {{"0", st}}); });
  CHECK(m.find("storage '0'") != std::string::npos);
  CHECK_THROWS_AS(load_pickle("\x80\x02" + tensor_pickle("0", 6, 0, {2, 4}, {4, 1}) + ".", {{"0", st}}), ParseError);
  CHECK_THROWS_AS(load_pickle("\x80\x02" + tensor_pickle("0", 6, 5, {2}, {1}) + ".", {{"0", st}}), ParseError);  // offset
  CHECK_THROWS_AS(load_pickle("\x80\x02" + tensor_pickle("0", 9, 0, {9}, {1}) + ".", {{"0", st}}), ParseError);  // short entry
  CHECK_THROWS_AS(load_pickle("\x80\x02" + tensor_pickle("7", 6, 0, {6}, {1}) + ".", {{"0", st}}), ParseError);  // missing
  CHECK_THROWS_AS(load_pickle("\x80\x02" + tensor_pickle("0", 6, 0, {2, 3}, {3}) + ".", {{"0", st}}), ParseError);  // ranks
  // Storage class that does not exist.
  std::string bad_type = "\x80\x02" + tensor_pickle("0", 6, 0, {6}, {1}) + ".";
  bad_type.replace(bad_type.find("FloatStorage"), 12, "ZzzzzStorage");
  CHECK_THROWS_AS(load_pickle(bad_type, {{"0", st}}), nernst::NotSupported);
}

TEST_CASE("checkpoint malformed: truncated and corrupted archives") {
  nernst::io::StateDict sd;
  sd["w"] = nernst::io::Tensor::from_values({4, 4}, std::vector<double>(16, 0.5));
  sd["b"] = nernst::io::Tensor::from_ints({3}, {1, 2, 3});
  const std::string good_path = temp_path("good.pt");
  nernst::io::save_state_dict(good_path, sd);
  const std::string good = slurp(good_path);
  REQUIRE(nernst::io::load_state_dict(good_path).size() == 2);

  // Every truncation is rejected with a nernst error.
  const std::string cut = temp_path("cut.pt");
  int rejected = 0, tried = 0;
  for (std::size_t n = 0; n < good.size(); n += 3) {
    write_file(cut, good.substr(0, n));
    ++tried;
    try {
      nernst::io::load_torch(cut);
    } catch (const nernst::ParseError&) {
      ++rejected;
    }
  }
  CHECK(rejected == tried);

  // A flipped byte inside a storage fails the CRC check.
  std::string flipped = good;
  const std::size_t at = flipped.find(std::string("\x00\x00\x00\x3f", 4));  // first 0.5f of "w"
  REQUIRE(at != std::string::npos);
  flipped[at + 3] = '\x40';
  write_file(cut, flipped);
  CHECK_THROWS_AS(nernst::io::load_torch(cut), nernst::ParseError);
}

TEST_CASE("checkpoint malformed: a truncated real checkpoint") {
  NERNST_REQUIRE_SHARED_DATA();
  const std::string full = slurp((nernst_test::shared_dir() / "models/m3gnet-mp-2021.2.8-pes/state.pt").string());
  REQUIRE(full.size() > 1000);
  const std::string cut = temp_path("state_cut.pt");
  for (std::size_t n : {full.size() / 2, full.size() - 10, std::size_t(100)}) {
    write_file(cut, full.substr(0, n));
    CHECK_THROWS_AS(nernst::io::load_torch(cut), nernst::ParseError);
  }
}

TEST_CASE("checkpoint malformed: random mutations of data.pkl never crash") {
  // A pickle that exercises dicts, lists, memo, tensors and globals; mutate bytes at random.
  const std::string st = floats({0, 1, 2, 3, 4, 5});
  const std::string base = "\x80\x02}q\x00("s + unicode("a") + tensor_pickle("0", 6, 0, {2, 3}, {3, 1}) +
                           unicode("b") + "](K\x01" "G\x3f\xf0\0\0\0\0\0\0"s + unicode("x") + "q\x01h\x01" "e"s + unicode("c") +
                           "ccollections\nOrderedDict\n)R}b" + "u.";
  REQUIRE(load_pickle(base, {{"0", st}}).size() == 3);
  std::mt19937 rng(12345);
  int ok = 0, rejected = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string p = base;
    const int nmut = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < nmut; ++k) {
      const std::size_t at = rng() % p.size();
      switch (rng() % 3) {
        case 0: p[at] = static_cast<char>(rng() & 0xff); break;
        case 1: p.erase(at, 1 + rng() % 4); break;
        default: p.insert(at, 1, static_cast<char>(rng() & 0xff)); break;
      }
      if (p.empty()) p = "x";
    }
    try {
      // In memory (the zip layer is exercised above): the interpreter with a storage provider.
      const std::vector<unsigned char> raw(st.begin(), st.end());
      auto provider = [&](const std::string& key, nernst::io::DType t,
                          std::int64_t numel) -> const std::vector<unsigned char>& {
        if (key != "0" || static_cast<std::uint64_t>(numel) * nernst::io::itemsize(t) > raw.size())
          throw nernst::ParseError("fuzz", 0, "bad storage");
        return raw;
      };
      nernst::io::detail::Unpickler up(reinterpret_cast<const unsigned char*>(p.data()), p.size(), "fuzz",
                                       "data.pkl", provider);
      up.load();
      ++ok;
    } catch (const nernst::Error&) {
      ++rejected;
    }
  }
  CHECK(ok + rejected == 20000);
  CHECK(rejected > 0);
  MESSAGE("mutated pickles: " << ok << " loaded, " << rejected << " rejected with a nernst::Error");
}
