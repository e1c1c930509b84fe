#pragma once
/// \file
/// \brief A bounds-checked interpreter for the pickle subset `torch.save` produces (protocol 2,
/// plus the common protocol 3/4 opcodes). It never executes code: globals are looked up in a
/// small table (OrderedDict, tensor rebuild functions, `_codecs.encode`) and everything else
/// becomes an Opaque value.

#include <nernst/core/error.hpp>
#include <nernst/io/checkpoint/pickle_value.hpp>
#include <nernst/io/checkpoint/tensor.hpp>

#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace io {
namespace detail {

/// Name of a pickle opcode byte, or nullptr when the byte is no pickle opcode at all.
inline const char* pickle_opcode_name(unsigned char op) noexcept {
  switch (op) {
    case '(': return "MARK";
    case '.': return "STOP";
    case '0': return "POP";
    case '1': return "POP_MARK";
    case '2': return "DUP";
    case 'F': return "FLOAT";
    case 'I': return "INT";
    case 'J': return "BININT";
    case 'K': return "BININT1";
    case 'L': return "LONG";
    case 'M': return "BININT2";
    case 'N': return "NONE";
    case 'P': return "PERSID";
    case 'Q': return "BINPERSID";
    case 'R': return "REDUCE";
    case 'S': return "STRING";
    case 'T': return "BINSTRING";
    case 'U': return "SHORT_BINSTRING";
    case 'V': return "UNICODE";
    case 'X': return "BINUNICODE";
    case 'a': return "APPEND";
    case 'b': return "BUILD";
    case 'c': return "GLOBAL";
    case 'd': return "DICT";
    case '}': return "EMPTY_DICT";
    case 'e': return "APPENDS";
    case 'g': return "GET";
    case 'h': return "BINGET";
    case 'i': return "INST";
    case 'j': return "LONG_BINGET";
    case 'l': return "LIST";
    case ']': return "EMPTY_LIST";
    case 'o': return "OBJ";
    case 'p': return "PUT";
    case 'q': return "BINPUT";
    case 'r': return "LONG_BINPUT";
    case 's': return "SETITEM";
    case 't': return "TUPLE";
    case ')': return "EMPTY_TUPLE";
    case 'u': return "SETITEMS";
    case 'G': return "BINFLOAT";
    case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES";
    case 0x80: return "PROTO";
    case 0x81: return "NEWOBJ";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case 0x85: return "TUPLE1";
    case 0x86: return "TUPLE2";
    case 0x87: return "TUPLE3";
    case 0x88: return "NEWTRUE";
    case 0x89: return "NEWFALSE";
    case 0x8a: return "LONG1";
    case 0x8b: return "LONG4";
    case 0x8c: return "SHORT_BINUNICODE";
    case 0x8d: return "BINUNICODE8";
    case 0x8e: return "BINBYTES8";
    case 0x8f: return "EMPTY_SET";
    case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";
    case 0x92: return "NEWOBJ_EX";
    case 0x93: return "STACK_GLOBAL";
    case 0x94: return "MEMOIZE";
    case 0x95: return "FRAME";
    case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    default: return nullptr;
  }
}

/// PyTorch storage class name ("FloatStorage") -> dtype; false when unknown.
inline bool storage_dtype(const std::string& name, DType& out) noexcept {
  static const std::pair<const char*, DType> table[] = {
      {"FloatStorage", DType::Float32}, {"DoubleStorage", DType::Float64}, {"HalfStorage", DType::Float16},
      {"BFloat16Storage", DType::BFloat16}, {"LongStorage", DType::Int64}, {"IntStorage", DType::Int32},
      {"ShortStorage", DType::Int16}, {"CharStorage", DType::Int8}, {"ByteStorage", DType::UInt8},
      {"BoolStorage", DType::Bool}};
  for (const auto& e : table)
    if (name == e.first) {
      out = e.second;
      return true;
    }
  return false;
}

/// PyTorch storage class name for a dtype.
inline const char* storage_class(DType t) noexcept {
  switch (t) {
    case DType::Float32: return "FloatStorage";
    case DType::Float64: return "DoubleStorage";
    case DType::Float16: return "HalfStorage";
    case DType::BFloat16: return "BFloat16Storage";
    case DType::Int64: return "LongStorage";
    case DType::Int32: return "IntStorage";
    case DType::Int16: return "ShortStorage";
    case DType::Int8: return "CharStorage";
    case DType::UInt8: return "ByteStorage";
    case DType::Bool: return "BoolStorage";
  }
  return "FloatStorage";
}

/// Reads element `j` of a raw little-endian (or, with `swap`, big-endian) storage.
inline void read_element(const unsigned char* base, DType t, std::size_t j, bool swap, double& f, std::int64_t& i) {
  const std::size_t w = itemsize(t);
  unsigned char b[8];
  for (std::size_t k = 0; k < w; ++k) b[k] = base[j * w + (swap ? w - 1 - k : k)];
  auto le = [&](std::size_t n) {
    std::uint64_t v = 0;
    for (std::size_t k = 0; k < n; ++k) v |= static_cast<std::uint64_t>(b[k]) << (8 * k);
    return v;
  };
  switch (t) {
    case DType::Float32: {
      const std::uint32_t u = static_cast<std::uint32_t>(le(4));
      float x;
      std::memcpy(&x, &u, 4);
      f = x;
      return;
    }
    case DType::Float64: {
      const std::uint64_t u = le(8);
      std::memcpy(&f, &u, 8);
      return;
    }
    case DType::Float16: f = half_to_float(static_cast<std::uint16_t>(le(2))); return;
    case DType::BFloat16: f = bf16_to_float(static_cast<std::uint16_t>(le(2))); return;
    case DType::Int64: i = static_cast<std::int64_t>(le(8)); return;
    case DType::Int32: i = static_cast<std::int32_t>(static_cast<std::uint32_t>(le(4))); return;
    case DType::Int16: i = static_cast<std::int16_t>(static_cast<std::uint16_t>(le(2))); return;
    case DType::Int8: i = static_cast<std::int8_t>(b[0]); return;
    case DType::UInt8: i = b[0]; return;
    case DType::Bool: i = b[0] != 0; return;
  }
}

/// Provides the raw bytes of storage `key` (checked to hold at least numel elements of dtype).
using StorageProvider = std::function<const std::vector<unsigned char>&(const std::string& key, DType, std::int64_t numel)>;

/// The pickle interpreter. Internally objects are shared nodes (pickle's memo aliases them and
/// SETITEMS/APPENDS mutate them after they are memoised); the result is converted to a value tree.
class Unpickler {
 public:
  /// `file` and `entry` only serve error messages ("<file>: <entry> byte N: ...").
  Unpickler(const unsigned char* data, std::size_t size, std::string file, std::string entry,
            StorageProvider storages = {}, bool big_endian_storages = false)
      : d_(data), n_(size), file_(std::move(file)), entry_(std::move(entry)), storages_(std::move(storages)),
        swap_(big_endian_storages) {}

  ~Unpickler() {
    // Every container stays owned by containers_ until here, so none is destroyed while it still
    // has children (a million nested lists would otherwise be torn down recursively), and cycles
    // a hostile pickle built (a list appended to itself) are broken: empty them all, then free.
    for (auto& p : containers_) {
      p->items.clear();
      p->dict.clear();
      p->index.clear();
      p->args.reset();
      p->state.reset();
    }
  }

  PickleValue load() {
    while (true) {
      if (pos_ >= n_) fail(pos_, "unexpected end of data.pkl (no STOP opcode); the file is truncated");
      op_pos_ = pos_;
      const unsigned char op = d_[pos_++];
      switch (op) {
        case 0x80: {  // PROTO
          const unsigned v = u8();
          if (v > 5) fail(op_pos_, "unknown pickle protocol " + std::to_string(v));
          break;
        }
        case 0x95: take(8); break;  // FRAME: framing is only a read hint
        case '.': {                 // STOP
          NodePtr top = pop();
          return convert(top, 0);
        }
        case '(': marks_.push_back(stack_.size()); break;
        case '0': pop(); break;
        case '1': pop_mark(); break;
        case '2': push(peek()); break;
        case 'N': push(value(PickleValue())); break;
        case 0x88: push(value(PickleValue(true))); break;
        case 0x89: push(value(PickleValue(false))); break;
        case 'J': push(value(PickleValue(static_cast<std::int64_t>(static_cast<std::int32_t>(le(4)))))); break;
        case 'K': push(value(PickleValue(static_cast<std::int64_t>(u8())))); break;
        case 'M': push(value(PickleValue(static_cast<std::int64_t>(le(2))))); break;
        case 0x8a: push(value(PickleValue(long_int(u8())))); break;
        case 0x8b: push(value(PickleValue(long_int(length(4))))); break;
        case 'G': {
          const unsigned char* p = take(8);
          std::uint64_t u = 0;
          for (int k = 0; k < 8; ++k) u = (u << 8) | p[k];
          double x;
          std::memcpy(&x, &u, 8);
          push(value(PickleValue(x)));
          break;
        }
        case 'X': push(value(PickleValue(str(length(4))))); break;
        case 0x8c: push(value(PickleValue(str(u8())))); break;
        case 0x8d: push(value(PickleValue(str(length(8))))); break;
        case 'T': push(value(PickleValue(str(length(4))))); break;
        case 'U': push(value(PickleValue(str(u8())))); break;
        case 'B': push(value(PickleValue::bytes(str(length(4))))); break;
        case 'C': push(value(PickleValue::bytes(str(u8())))); break;
        case 0x8e: push(value(PickleValue::bytes(str(length(8))))); break;
        case ')': push(container(Node::Tuple)); break;
        case ']': push(container(Node::List)); break;
        case '}': push(container(Node::Dict)); break;
        case 0x85: tuple_of(1); break;
        case 0x86: tuple_of(2); break;
        case 0x87: tuple_of(3); break;
        case 't': push(container(Node::Tuple, pop_mark())); break;
        case 'l': push(container(Node::List, pop_mark())); break;
        case 'd': {
          auto items = pop_mark();
          if (items.size() % 2) fail(op_pos_, "DICT with an odd number of items");
          NodePtr dn = container(Node::Dict);
          setitems(dn, std::move(items));
          push(dn);
          break;
        }
        case 'a': {
          NodePtr v = pop();
          append_to(peek(), {v});
          break;
        }
        case 'e': {
          auto items = pop_mark();
          append_to(peek(), std::move(items));
          break;
        }
        case 's': {
          NodePtr v = pop();
          NodePtr k = pop();
          setitems(peek(), {k, v});
          break;
        }
        case 'u': {
          auto items = pop_mark();
          if (items.size() % 2) fail(op_pos_, "SETITEMS with an odd number of items");
          setitems(peek(), std::move(items));
          break;
        }
        case 0x8f: {  // EMPTY_SET: kept as an opaque builtins.set
          NodePtr s = object("builtins", "set");
          s->args = container(Node::Tuple);
          push(s);
          break;
        }
        case 0x90: {  // ADDITEMS
          auto items = pop_mark();
          NodePtr s = peek();
          if (s->kind != Node::Object || s->name != "set") fail(op_pos_, "ADDITEMS on something that is not a set");
          for (auto& it : items) s->items.push_back(it);
          break;
        }
        case 0x91: {  // FROZENSET
          auto items = pop_mark();
          NodePtr s = object("builtins", "frozenset");
          s->args = container(Node::Tuple);
          s->items = std::move(items);
          push(s);
          break;
        }
        case 'q': memo_put(u8()); break;
        case 'r': memo_put(static_cast<std::uint32_t>(le(4))); break;
        case 0x94: memo_put(static_cast<std::uint32_t>(memo_.size())); break;
        case 'h': push(memo_get(u8())); break;
        case 'j': push(memo_get(static_cast<std::uint32_t>(le(4)))); break;
        case 'c': {
          std::string module = line();
          std::string name = line();
          push(global(std::move(module), std::move(name)));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          NodePtr name = pop();
          NodePtr module = pop();
          if (!is_string(module) || !is_string(name)) fail(op_pos_, "STACK_GLOBAL needs two strings");
          push(global(module->value.as_string(), name->value.as_string()));
          break;
        }
        case 'R': {
          NodePtr args = pop();
          NodePtr fn = pop();
          push(reduce(fn, args));
          break;
        }
        case 0x81: {  // NEWOBJ: cls.__new__(cls, *args)
          NodePtr args = pop();
          NodePtr cls = pop();
          push(reduce(cls, args));
          break;
        }
        case 'b': {
          NodePtr st = pop();
          build(peek(), st);
          break;
        }
        case 'Q': push(persistent(pop())); break;
        default: {
          const char* name = pickle_opcode_name(op);
          if (!name) fail(op_pos_, "invalid pickle opcode byte " + hex(op) + "; data.pkl is corrupt");
          throw NotSupported(where(op_pos_) + "pickle opcode " + hex(op) + " (" + name +
                             ") is not supported by nernst's checkpoint reader");
        }
      }
    }
  }

 private:
  struct Node;
  using NodePtr = std::shared_ptr<Node>;
  struct Node {
    enum Kind { Value, List, Tuple, Dict, Global, Object, Storage } kind = Value;
    PickleValue value;                                // Value (scalars, tensors)
    std::vector<NodePtr> items;                       // List, Tuple; Object's appended items
    std::vector<std::pair<NodePtr, NodePtr>> dict;    // Dict; Object's set items
    bool ordered = false;                             // Dict
    std::string module, name;                         // Global, Object; Storage: class name
    NodePtr args, state;                              // Object: call arguments (tuple); BUILD state
    DType dtype = DType::Float32;                     // Storage
    std::string key;                                  // Storage
    std::int64_t numel = 0;                           // Storage
    std::unordered_map<std::string, std::size_t> index;  // Dict: hashable scalar key -> position in dict
  };

  /// Hash key of a scalar dict key (Python semantics: True == 1), or "" when not indexed.
  static std::string dict_key(const NodePtr& k) {
    if (k->kind != Node::Value) return "";
    const PickleValue& v = k->value;
    if (v.is_string()) return "s" + v.as_string();
    if (v.is_int() || v.is_bool()) return "i" + std::to_string(v.as_int());
    if (v.is_bytes()) return "b" + v.as_bytes();
    if (v.is_none()) return "n";
    return "";
  }

  // ---- errors --------------------------------------------------------------------------------
  std::string where(std::size_t at) const { return entry_ + " byte " + std::to_string(at) + ": "; }
  [[noreturn]] void fail(std::size_t at, const std::string& msg) const { throw ParseError(file_, 0, where(at) + msg); }
  static std::string hex(unsigned v) {
    char b[8];
    std::snprintf(b, sizeof b, "0x%02x", v);
    return b;
  }

  // ---- raw reads (all bounds-checked) -----------------------------------------------------------
  const unsigned char* take(std::uint64_t k) {
    if (k > n_ - pos_) fail(op_pos_, std::string("truncated ") + pickle_opcode_name(d_[op_pos_]) + " argument");
    const unsigned char* p = d_ + pos_;
    pos_ += static_cast<std::size_t>(k);
    return p;
  }
  unsigned u8() { return *take(1); }
  std::uint64_t le(int k) {
    const unsigned char* p = take(static_cast<std::uint64_t>(k));
    std::uint64_t v = 0;
    for (int i = 0; i < k; ++i) v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
    return v;
  }
  std::uint64_t length(int k) {
    const std::uint64_t len = le(k);
    if (len > n_ - pos_) fail(op_pos_, "length " + std::to_string(len) + " runs past the end of data.pkl");
    return len;
  }
  std::string str(std::uint64_t len) {
    const unsigned char* p = take(len);
    return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(len));
  }
  std::string line() {
    const std::size_t start = pos_;
    while (pos_ < n_ && d_[pos_] != '\n') ++pos_;
    if (pos_ >= n_) fail(op_pos_, "unterminated GLOBAL name");
    std::string s(reinterpret_cast<const char*>(d_ + start), pos_ - start);
    ++pos_;
    return s;
  }
  std::int64_t long_int(std::uint64_t nbytes) {
    const unsigned char* p = take(nbytes);
    if (nbytes == 0) return 0;
    // Bytes beyond the 8th must be pure sign extension.
    const bool neg = (p[nbytes - 1] & 0x80) != 0;
    for (std::uint64_t k = 8; k < nbytes; ++k)
      if (p[k] != (neg ? 0xff : 0x00)) fail(op_pos_, "integer does not fit in 64 bits");
    std::uint64_t v = neg ? ~std::uint64_t(0) : 0;
    const std::uint64_t m = nbytes < 8 ? nbytes : 8;
    for (std::uint64_t k = 0; k < m; ++k) {
      v &= ~(std::uint64_t(0xff) << (8 * k));
      v |= static_cast<std::uint64_t>(p[k]) << (8 * k);
    }
    if (nbytes > 8 && ((v >> 63) != 0) != neg) fail(op_pos_, "integer does not fit in 64 bits");
    return static_cast<std::int64_t>(v);
  }

  // ---- stack ------------------------------------------------------------------------------------
  void push(NodePtr p) { stack_.push_back(std::move(p)); }
  NodePtr pop() {
    const std::size_t floor = marks_.empty() ? 0 : marks_.back();
    if (stack_.size() <= floor) fail(op_pos_, std::string(pickle_opcode_name(d_[op_pos_])) + " on an empty stack");
    NodePtr p = std::move(stack_.back());
    stack_.pop_back();
    return p;
  }
  const NodePtr& peek() const {
    const std::size_t floor = marks_.empty() ? 0 : marks_.back();
    if (stack_.size() <= floor) fail(op_pos_, std::string(pickle_opcode_name(d_[op_pos_])) + " on an empty stack");
    return stack_.back();
  }
  std::vector<NodePtr> pop_mark() {
    if (marks_.empty()) fail(op_pos_, std::string(pickle_opcode_name(d_[op_pos_])) + " without a MARK");
    const std::size_t m = marks_.back();
    marks_.pop_back();
    std::vector<NodePtr> items(std::make_move_iterator(stack_.begin() + static_cast<std::ptrdiff_t>(m)),
                               std::make_move_iterator(stack_.end()));
    stack_.resize(m);
    return items;
  }
  void tuple_of(std::size_t k) {
    NodePtr t = container(Node::Tuple);
    t->items.resize(k);
    for (std::size_t i = k; i-- > 0;) t->items[i] = pop();
    push(t);
  }

  // ---- memo -------------------------------------------------------------------------------------
  void memo_put(std::uint32_t idx) { memo_[idx] = peek(); }
  NodePtr memo_get(std::uint32_t idx) {
    auto it = memo_.find(idx);
    if (it == memo_.end()) fail(op_pos_, "memo key " + std::to_string(idx) + " was never stored");
    return it->second;
  }

  // ---- nodes ------------------------------------------------------------------------------------
  static NodePtr value(PickleValue v) {
    auto p = std::make_shared<Node>();
    p->value = std::move(v);
    return p;
  }
  NodePtr container(Node::Kind k) {
    auto p = std::make_shared<Node>();
    p->kind = k;
    containers_.push_back(p);
    return p;
  }
  /// A container holding `items` (the objects above a MARK).
  NodePtr container(Node::Kind k, std::vector<NodePtr> items) {
    NodePtr p = container(k);
    p->items = std::move(items);
    return p;
  }
  NodePtr global(std::string module, std::string name) {
    auto p = std::make_shared<Node>();
    p->kind = Node::Global;
    p->module = std::move(module);
    p->name = std::move(name);
    return p;
  }
  NodePtr object(std::string module, std::string name) {
    NodePtr p = container(Node::Object);
    p->module = std::move(module);
    p->name = std::move(name);
    return p;
  }
  static bool is_string(const NodePtr& p) { return p->kind == Node::Value && p->value.is_string(); }
  static bool is_int(const NodePtr& p) { return p->kind == Node::Value && (p->value.is_int() || p->value.is_bool()); }

  void append_to(const NodePtr& target, std::vector<NodePtr> items) {
    if (target->kind != Node::List && target->kind != Node::Object)
      fail(op_pos_, "APPEND(S) on a " + kind_name(target));
    for (auto& it : items) target->items.push_back(std::move(it));
  }
  void setitems(const NodePtr& target, std::vector<NodePtr> kv) {
    if (target->kind != Node::Dict && target->kind != Node::Object) fail(op_pos_, "SETITEM(S) on a " + kind_name(target));
    for (std::size_t k = 0; k + 1 < kv.size(); k += 2) {
      // A key set twice keeps its first position and its last value, as in Python (hashed lookup;
      // floats and tuples as keys are not deduplicated).
      const std::string h = target->kind == Node::Dict ? dict_key(kv[k]) : std::string();
      if (!h.empty()) {
        auto [it, inserted] = target->index.emplace(h, target->dict.size());
        if (!inserted) {
          target->dict[it->second].second = kv[k + 1];
          continue;
        }
      }
      target->dict.emplace_back(kv[k], kv[k + 1]);
    }
  }
  void build(const NodePtr& target, const NodePtr& st) {
    // Tensors (Parameter state) and other values accept and drop their state, as a loader would.
    if (target->kind == Node::Dict || target->kind == Node::Object) target->state = st;
  }
  static std::string kind_name(const NodePtr& p) {
    switch (p->kind) {
      case Node::Value: return p->value.type_name();
      case Node::List: return "list";
      case Node::Tuple: return "tuple";
      case Node::Dict: return "dict";
      case Node::Global: return "global " + p->module + "." + p->name;
      case Node::Object: return "object " + p->module + "." + p->name;
      case Node::Storage: return "storage";
    }
    return "?";
  }

  NodePtr persistent(const NodePtr& pid) {
    // ('storage', storage_type, key, location, numel)
    if (pid->kind != Node::Tuple || pid->items.size() < 5 || !is_string(pid->items[0]) ||
        pid->items[0]->value.as_string() != "storage")
      fail(op_pos_, "unsupported persistent id (expected ('storage', type, key, location, numel))");
    const NodePtr& type = pid->items[1];
    const NodePtr& key = pid->items[2];
    const NodePtr& numel = pid->items[4];
    if (type->kind != Node::Global) fail(op_pos_, "persistent id: storage type is not a class");
    auto p = std::make_shared<Node>();
    p->kind = Node::Storage;
    p->module = type->name;
    if (!storage_dtype(type->name, p->dtype))
      throw NotSupported(where(op_pos_) + "storage type " + type->module + "." + type->name + " is not supported");
    if (!is_string(key)) fail(op_pos_, "persistent id: storage key is not a string");
    if (!is_int(numel) || numel->value.as_int() < 0) fail(op_pos_, "persistent id: bad element count");
    p->key = key->value.as_string();
    p->numel = numel->value.as_int();
    return p;
  }

  std::vector<std::int64_t> int_list(const NodePtr& p, const char* what) {
    if (p->kind != Node::Tuple && p->kind != Node::List) fail(op_pos_, std::string("tensor ") + what + " is not a tuple");
    std::vector<std::int64_t> out;
    for (const auto& it : p->items) {
      if (!is_int(it)) fail(op_pos_, std::string("tensor ") + what + " holds a non-integer");
      out.push_back(it->value.as_int());
    }
    return out;
  }

  NodePtr rebuild_tensor(const NodePtr& storage, const NodePtr& offset_n, const NodePtr& size_n, const NodePtr& stride_n) {
    if (storage->kind != Node::Storage) fail(op_pos_, "tensor rebuild without a storage");
    if (!is_int(offset_n)) fail(op_pos_, "tensor storage offset is not an integer");
    const std::int64_t offset = offset_n->value.as_int();
    const std::vector<std::int64_t> size = int_list(size_n, "size");
    const std::vector<std::int64_t> stride = int_list(stride_n, "stride");
    if (size.size() != stride.size()) fail(op_pos_, "tensor size and stride have different lengths");
    if (offset < 0) fail(op_pos_, "negative storage offset");
    // numel, and the furthest storage element the view reaches; all in overflow-safe steps.
    constexpr std::int64_t kMax = std::int64_t(1) << 40;
    std::int64_t numel = 1, reach = offset;
    for (std::size_t d = 0; d < size.size(); ++d) {
      if (size[d] < 0 || stride[d] < 0 || size[d] > kMax || stride[d] > kMax)
        fail(op_pos_, "invalid tensor size/stride");
      numel = size[d] == 0 ? 0 : (numel > kMax / size[d] ? kMax + 1 : numel * size[d]);
      if (numel > kMax) fail(op_pos_, "tensor too large");
    }
    if (numel > 0) {
      for (std::size_t d = 0; d < size.size(); ++d) {
        if (stride[d] > 0 && size[d] - 1 > (kMax - reach) / stride[d])
          fail(op_pos_, "tensor view reaches beyond its storage");
        reach += (size[d] - 1) * stride[d];
      }
      if (reach >= storage->numel)
        fail(op_pos_, "tensor view (offset " + std::to_string(offset) + ", size and stride given) reaches element " +
                          std::to_string(reach) + " of storage '" + storage->key + "' with only " +
                          std::to_string(storage->numel) + " elements");
      // Expanded (stride-0) views of a small storage could ask for unbounded memory.
      if (numel > 16 * storage->numel + (std::int64_t(1) << 20))
        fail(op_pos_, "tensor view is far larger than its storage");
    }
    if (!storages_) fail(op_pos_, "tensor found, but no storage archive is available");
    const std::vector<unsigned char>& raw = storages_(storage->key, storage->dtype, storage->numel);

    Tensor t;
    t.dtype = storage->dtype;
    t.shape = size;
    t.storage_key = storage->key;
    t.storage_offset = offset;
    t.storage_stride = stride;
    const bool fl = is_floating(t.dtype);
    if (fl)
      t.values.resize(static_cast<std::size_t>(numel));
    else
      t.int_values.resize(static_cast<std::size_t>(numel));
    if (numel > 0) {
      const std::size_t nd = size.size();
      std::vector<std::int64_t> idx(nd, 0);
      std::int64_t src = offset;
      double f = 0;
      std::int64_t iv = 0;
      for (std::int64_t k = 0; k < numel; ++k) {
        read_element(raw.data(), t.dtype, static_cast<std::size_t>(src), swap_, f, iv);
        if (fl)
          t.values[static_cast<std::size_t>(k)] = f;
        else
          t.int_values[static_cast<std::size_t>(k)] = iv;
        for (std::size_t d = nd; d-- > 0;) {  // odometer over the row-major multi-index
          if (++idx[d] < size[d]) {
            src += stride[d];
            break;
          }
          src -= (size[d] - 1) * stride[d];
          idx[d] = 0;
        }
      }
    }
    return value(PickleValue(std::move(t)));
  }

  NodePtr reduce(const NodePtr& fn, const NodePtr& args, int depth = 0) {
    if (args->kind != Node::Tuple) fail(op_pos_, "call arguments are not a tuple");
    if (fn->kind != Node::Global) {
      // Calling something that is not a named global (e.g. a method obtained by getattr): opaque.
      NodePtr o = object("", "<call of " + kind_name(fn) + ">");
      o->args = args;
      return o;
    }
    const std::string& m = fn->module;
    const std::string& n = fn->name;
    const auto& a = args->items;
    if (m == "collections" && n == "OrderedDict") {
      NodePtr dn = container(Node::Dict);
      dn->ordered = true;
      if (!a.empty() && (a[0]->kind == Node::List || a[0]->kind == Node::Tuple))
        for (const auto& pr : a[0]->items)
          if ((pr->kind == Node::Tuple || pr->kind == Node::List) && pr->items.size() == 2)
            dn->dict.emplace_back(pr->items[0], pr->items[1]);
      return dn;
    }
    if (m == "torch._utils" && (n == "_rebuild_tensor_v2" || n == "_rebuild_tensor") && a.size() >= 4)
      return rebuild_tensor(a[0], a[1], a[2], a[3]);
    if (m == "torch._utils" && (n == "_rebuild_parameter" || n == "_rebuild_parameter_with_state") && !a.empty() &&
        a[0]->kind == Node::Value && a[0]->value.is_tensor())
      return a[0];
    if (m == "torch._tensor" && n == "_rebuild_from_type_v2" && a.size() >= 3 && depth < 4)
      return reduce(a[0], a[2], depth + 1);
    if (m == "_codecs" && n == "encode" && !a.empty() && is_string(a[0])) return value(latin1_bytes(a[0]->value.as_string()));
    NodePtr o = object(m, n);
    o->args = args;
    return o;
  }

  /// `_codecs.encode(s, 'latin1')`: how protocol 2 pickles Python 3 bytes.
  PickleValue latin1_bytes(const std::string& utf8) {
    std::string out;
    for (std::size_t i = 0; i < utf8.size(); ++i) {
      const unsigned char c = static_cast<unsigned char>(utf8[i]);
      if (c < 0x80) {
        out.push_back(static_cast<char>(c));
      } else if ((c & 0xe0) == 0xc0 && c <= 0xc3 && i + 1 < utf8.size()) {
        out.push_back(static_cast<char>(((c & 0x1f) << 6) | (static_cast<unsigned char>(utf8[++i]) & 0x3f)));
      } else {
        fail(op_pos_, "_codecs.encode: string is not latin-1");
      }
    }
    return PickleValue::bytes(std::move(out));
  }

  // ---- conversion to the value tree --------------------------------------------------------------
  PickleValue convert(const NodePtr& p, int depth) {
    if (depth > 512) fail(pos_, "object nesting deeper than 512 levels (or a cyclic structure)");
    if (++converted_ > (std::size_t(1) << 23)) fail(pos_, "object tree too large (shared references blow up)");
    switch (p->kind) {
      case Node::Value:
        if (p->value.is_tensor() && !seen_tensors_.insert(p.get()).second) {
          // The same tensor referenced again (memo) is copied again: bound that.
          dup_elements_ += p->value.as_tensor().numel();
          if (dup_elements_ > (std::size_t(1) << 27)) fail(pos_, "too many repeated references to large tensors");
        }
        return p->value;
      case Node::List:
      case Node::Tuple: {
        std::vector<PickleValue> items;
        items.reserve(p->items.size());
        for (const auto& it : p->items) items.push_back(convert(it, depth + 1));
        return p->kind == Node::List ? PickleValue::list(std::move(items)) : PickleValue::tuple(std::move(items));
      }
      case Node::Dict: {
        PickleDict d;
        d.ordered = p->ordered;
        d.items.reserve(p->dict.size());
        for (const auto& kv : p->dict) d.items.emplace_back(convert(kv.first, depth + 1), convert(kv.second, depth + 1));
        if (p->state) d.state.push_back(convert(p->state, depth + 1));
        return PickleValue(std::move(d));
      }
      case Node::Global: {
        Opaque o;
        o.module = p->module;
        o.name = p->name;
        return PickleValue(std::move(o));
      }
      case Node::Object: {
        Opaque o;
        o.module = p->module;
        o.name = p->name;
        o.called = true;
        if (p->args)
          for (const auto& it : p->args->items) o.args.push_back(convert(it, depth + 1));
        for (const auto& it : p->items) o.list_items.push_back(convert(it, depth + 1));
        for (const auto& kv : p->dict) o.dict_items.emplace_back(convert(kv.first, depth + 1), convert(kv.second, depth + 1));
        if (p->state) o.state.push_back(convert(p->state, depth + 1));
        return PickleValue(std::move(o));
      }
      case Node::Storage: {
        Opaque o;
        o.module = "torch";
        o.name = p->module;
        o.called = true;
        o.args = {PickleValue(p->key), PickleValue(static_cast<std::int64_t>(p->numel))};
        return PickleValue(std::move(o));
      }
    }
    return PickleValue();
  }

  const unsigned char* d_;
  std::size_t n_;
  std::size_t pos_ = 0, op_pos_ = 0;
  std::string file_, entry_;
  StorageProvider storages_;
  bool swap_;
  std::vector<NodePtr> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<std::uint32_t, NodePtr> memo_;
  std::vector<NodePtr> containers_;  // owns every container node (see ~Unpickler)
  std::size_t converted_ = 0, dup_elements_ = 0;
  std::unordered_set<const Node*> seen_tensors_;
};

}  // namespace detail
}  // namespace io
NERNST_NAMESPACE_END
