#pragma once
/// \file
/// \brief PickleValue: the object tree of an unpickled PyTorch checkpoint (value semantics).
///
/// A value is one of None, bool, int (int64), float (double), str (UTF-8), bytes, list, tuple,
/// dict (insertion-ordered; keys of any kind, usually str or int), Tensor, or Opaque. Opaque stands
/// for any Python object whose class the reader does not rebuild (an optimizer class, a numpy
/// scalar, `torch.device`, a bare global such as `torch.float32`): it keeps the global's module
/// and name, the arguments it was called with and the state BUILD gave it, so a caller can walk
/// past it or inspect it.

#include <nernst/core/error.hpp>
#include <nernst/io/checkpoint/tensor.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <variant>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace io {

class PickleValue;

/// A Python list or tuple.
struct PickleSequence {
  std::vector<PickleValue> items;
};

/// A Python dict or collections.OrderedDict; items keep their insertion order.
struct PickleDict {
  std::vector<std::pair<PickleValue, PickleValue>> items;
  bool ordered = false;            ///< collections.OrderedDict rather than dict
  std::vector<PickleValue> state;  ///< BUILD state (e.g. a state_dict's `_metadata`); 0 or 1 entry
};

/// Python bytes.
struct PickleBytes {
  std::string data;
};

/// An object of a class the reader does not rebuild: `module.name(*args)` followed by BUILD(state).
struct Opaque {
  std::string module;              ///< e.g. "torch.optim.adam"
  std::string name;                ///< e.g. "Adam"
  bool called = false;             ///< false: the bare global itself (a class or function object)
  std::vector<PickleValue> args;   ///< positional arguments of the call
  std::vector<PickleValue> state;  ///< BUILD state; 0 or 1 entry
  std::vector<PickleValue> list_items;                             ///< APPENDS after the call (list subclasses, sets)
  std::vector<std::pair<PickleValue, PickleValue>> dict_items;     ///< SETITEMS after the call (dict subclasses)
  std::string qualname() const { return module + "." + name; }
};

/// A node of an unpickled object tree.
class PickleValue {
 public:
  enum class Kind { None, Bool, Int, Float, String, Bytes, List, Tuple, Dict, Tensor, Opaque };

  PickleValue() = default;
  PickleValue(std::nullptr_t) {}
  PickleValue(bool b) : v_(std::in_place_type<bool>, b) {}
  PickleValue(int i) : v_(std::in_place_type<std::int64_t>, i) {}
  PickleValue(long i) : v_(std::in_place_type<std::int64_t>, i) {}
  PickleValue(long long i) : v_(std::in_place_type<std::int64_t>, i) {}
  PickleValue(unsigned i) : v_(std::in_place_type<std::int64_t>, i) {}
  PickleValue(unsigned long i) : v_(std::in_place_type<std::int64_t>, static_cast<std::int64_t>(i)) {}
  PickleValue(double d) : v_(std::in_place_type<double>, d) {}
  PickleValue(const char* s) : v_(std::in_place_type<std::string>, s) {}
  PickleValue(std::string s) : v_(std::in_place_type<std::string>, std::move(s)) {}
  PickleValue(Tensor t) : v_(std::in_place_type<Tensor>, std::move(t)) {}
  PickleValue(Opaque o) : v_(std::in_place_type<Opaque>, std::move(o)) {}
  PickleValue(PickleDict d) : v_(std::in_place_type<PickleDict>, std::move(d)) {}
  PickleValue(PickleBytes b) : v_(std::in_place_type<PickleBytes>, std::move(b)) {}

  static PickleValue none() { return PickleValue(); }
  static PickleValue bytes(std::string data) { return PickleValue(PickleBytes{std::move(data)}); }
  static PickleValue list(std::vector<PickleValue> items = {}) {
    PickleValue p;
    p.v_.emplace<ListTag>(ListTag{{std::move(items)}});
    return p;
  }
  static PickleValue tuple(std::vector<PickleValue> items = {}) {
    PickleValue p;
    p.v_.emplace<TupleTag>(TupleTag{{std::move(items)}});
    return p;
  }
  static PickleValue dict() { return PickleValue(PickleDict{}); }
  static PickleValue ordered_dict() {
    PickleDict d;
    d.ordered = true;
    return PickleValue(std::move(d));
  }

  Kind kind() const noexcept { return static_cast<Kind>(v_.index()); }
  bool is_none() const noexcept { return kind() == Kind::None; }
  bool is_bool() const noexcept { return kind() == Kind::Bool; }
  bool is_int() const noexcept { return kind() == Kind::Int; }
  bool is_float() const noexcept { return kind() == Kind::Float; }
  bool is_number() const noexcept { return is_int() || is_float() || is_bool(); }
  bool is_string() const noexcept { return kind() == Kind::String; }
  bool is_bytes() const noexcept { return kind() == Kind::Bytes; }
  bool is_list() const noexcept { return kind() == Kind::List; }
  bool is_tuple() const noexcept { return kind() == Kind::Tuple; }
  bool is_sequence() const noexcept { return is_list() || is_tuple(); }
  bool is_dict() const noexcept { return kind() == Kind::Dict; }
  bool is_tensor() const noexcept { return kind() == Kind::Tensor; }
  bool is_opaque() const noexcept { return kind() == Kind::Opaque; }

  /// Python-ish name of the kind, for error messages.
  const char* type_name() const noexcept {
    static const char* names[] = {"None", "bool", "int",  "float",  "str",   "bytes",
                                  "list", "tuple", "dict", "Tensor", "object"};
    return names[v_.index()];
  }

  bool as_bool() const { return get<bool>("bool"); }
  std::int64_t as_int() const {
    if (is_bool()) return std::get<bool>(v_) ? 1 : 0;
    return get<std::int64_t>("int");
  }
  /// A float, or an int/bool converted (Python's numeric tower).
  double as_double() const {
    if (is_int()) return static_cast<double>(std::get<std::int64_t>(v_));
    if (is_bool()) return std::get<bool>(v_) ? 1.0 : 0.0;
    return get<double>("float");
  }
  const std::string& as_string() const { return get<std::string>("str"); }
  const std::string& as_bytes() const { return get<PickleBytes>("bytes").data; }
  const Tensor& as_tensor() const { return get<Tensor>("Tensor"); }
  Tensor& as_tensor() { return get<Tensor>("Tensor"); }
  const Opaque& as_opaque() const { return get<Opaque>("object"); }
  Opaque& as_opaque() { return get<Opaque>("object"); }
  const PickleDict& as_dict() const { return get<PickleDict>("dict"); }
  PickleDict& as_dict() { return get<PickleDict>("dict"); }

  /// Items of a list or tuple.
  const std::vector<PickleValue>& items() const {
    if (is_list()) return std::get<ListTag>(v_).items;
    if (is_tuple()) return std::get<TupleTag>(v_).items;
    throw ValueError(std::string("expected a list or tuple, found ") + type_name());
  }
  std::vector<PickleValue>& items() {
    if (is_list()) return std::get<ListTag>(v_).items;
    if (is_tuple()) return std::get<TupleTag>(v_).items;
    throw ValueError(std::string("expected a list or tuple, found ") + type_name());
  }

  /// Number of items of a list, tuple or dict.
  std::size_t size() const { return is_dict() ? as_dict().items.size() : items().size(); }

  /// The dict entry for `key`, or nullptr when absent (or when this is not a dict).
  const PickleValue* find(const PickleValue& key) const {
    if (!is_dict()) return nullptr;
    for (const auto& kv : std::get<PickleDict>(v_).items)
      if (kv.first == key) return &kv.second;
    return nullptr;
  }
  PickleValue* find(const PickleValue& key) {
    return const_cast<PickleValue*>(static_cast<const PickleValue*>(this)->find(key));
  }
  bool contains(const PickleValue& key) const { return find(key) != nullptr; }

  /// Dict lookup; throws ValueError naming the key when absent.
  const PickleValue& at(const PickleValue& key) const {
    if (!is_dict()) throw ValueError(std::string("expected a dict, found ") + type_name());
    if (const PickleValue* p = find(key)) return *p;
    throw ValueError("key " + key.repr() + " not found in dict");
  }
  PickleValue& at(const PickleValue& key) {
    return const_cast<PickleValue&>(static_cast<const PickleValue*>(this)->at(key));
  }
  const PickleValue& operator[](const std::string& key) const { return at(PickleValue(key)); }
  const PickleValue& operator[](const char* key) const { return at(PickleValue(key)); }
  PickleValue& operator[](const std::string& key) { return at(PickleValue(key)); }
  PickleValue& operator[](const char* key) { return at(PickleValue(key)); }
  /// List/tuple element (bounds-checked). For a dict with integer keys use at(PickleValue(k)).
  const PickleValue& operator[](std::size_t i) const {
    const auto& it = items();
    if (i >= it.size()) throw ValueError("index " + std::to_string(i) + " out of range (size " + std::to_string(it.size()) + ")");
    return it[i];
  }
  PickleValue& operator[](std::size_t i) {
    return const_cast<PickleValue&>(static_cast<const PickleValue*>(this)->operator[](i));
  }
  // Exact overloads so that v[0] is an index, not a null `const char*` key.
  const PickleValue& operator[](int i) const { return (*this)[index_of(i)]; }
  PickleValue& operator[](int i) { return (*this)[index_of(i)]; }

  /// Sets (or replaces) a dict entry, keeping insertion order.
  PickleValue& set(PickleValue key, PickleValue value) {
    auto& d = get<PickleDict>("dict");
    for (auto& kv : d.items)
      if (kv.first == key) {
        kv.second = std::move(value);
        return kv.second;
      }
    d.items.emplace_back(std::move(key), std::move(value));
    return d.items.back().second;
  }
  /// Appends to a list.
  void append(PickleValue v) {
    if (!is_list()) throw ValueError(std::string("append on a ") + type_name());
    std::get<ListTag>(v_).items.push_back(std::move(v));
  }

  /// Structural equality (Python ==, except that int 1 != float 1.0 and tensors compare bitwise-by-value).
  friend bool operator==(const PickleValue& a, const PickleValue& b) {
    if (a.v_.index() != b.v_.index()) return false;
    switch (a.kind()) {
      case Kind::None: return true;
      case Kind::Bool: return a.as_bool() == b.as_bool();
      case Kind::Int: return a.as_int() == b.as_int();
      case Kind::Float: return std::get<double>(a.v_) == std::get<double>(b.v_);
      case Kind::String: return a.as_string() == b.as_string();
      case Kind::Bytes: return a.as_bytes() == b.as_bytes();
      case Kind::List:
      case Kind::Tuple: return a.items() == b.items();
      case Kind::Dict: return a.as_dict().items == b.as_dict().items && a.as_dict().ordered == b.as_dict().ordered;
      case Kind::Tensor: {
        const Tensor &x = a.as_tensor(), &y = b.as_tensor();
        return x.dtype == y.dtype && x.shape == y.shape && x.values == y.values && x.int_values == y.int_values;
      }
      case Kind::Opaque: {
        const Opaque &x = a.as_opaque(), &y = b.as_opaque();
        return x.module == y.module && x.name == y.name && x.called == y.called && x.args == y.args &&
               x.state == y.state && x.list_items == y.list_items && x.dict_items == y.dict_items;
      }
    }
    return false;
  }
  friend bool operator!=(const PickleValue& a, const PickleValue& b) { return !(a == b); }

  /// A short Python-like rendering (tensors as `Tensor[float32, (3, 4)]`), for messages and debugging.
  std::string repr(std::size_t max_items = 8) const {
    switch (kind()) {
      case Kind::None: return "None";
      case Kind::Bool: return as_bool() ? "True" : "False";
      case Kind::Int: return std::to_string(as_int());
      case Kind::Float: {
        // Shortest form that reads back to the same double, like Python's repr.
        const double d = std::get<double>(v_);
        char buf[40];
        for (int prec = 1; prec <= 17; ++prec) {
          std::snprintf(buf, sizeof buf, "%.*g", prec, d);
          if (std::strtod(buf, nullptr) == d) break;
        }
        std::string s = buf;
        if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
        return s;
      }
      case Kind::String: return "'" + as_string() + "'";
      case Kind::Bytes: return "b<" + std::to_string(as_bytes().size()) + " bytes>";
      case Kind::List:
      case Kind::Tuple: {
        std::string s = is_list() ? "[" : "(";
        const auto& it = items();
        for (std::size_t i = 0; i < it.size(); ++i) {
          if (i == max_items) {
            s += ", ...";
            break;
          }
          if (i) s += ", ";
          s += it[i].repr(max_items);
        }
        return s + (is_list() ? "]" : (it.size() == 1 ? ",)" : ")"));
      }
      case Kind::Dict: {
        std::string s = as_dict().ordered ? "OrderedDict{" : "{";
        const auto& it = as_dict().items;
        for (std::size_t i = 0; i < it.size(); ++i) {
          if (i == max_items) {
            s += ", ...";
            break;
          }
          if (i) s += ", ";
          s += it[i].first.repr(max_items) + ": " + it[i].second.repr(max_items);
        }
        return s + "}";
      }
      case Kind::Tensor: {
        const Tensor& t = as_tensor();
        std::string s = std::string("Tensor[") + dtype_name(t.dtype) + ", (";
        for (std::size_t i = 0; i < t.shape.size(); ++i) s += (i ? ", " : "") + std::to_string(t.shape[i]);
        return s + (t.shape.size() == 1 ? ",)]" : ")]");
      }
      case Kind::Opaque: {
        const Opaque& o = as_opaque();
        std::string s = "<" + o.qualname();
        if (o.called) s += PickleValue::tuple(o.args).repr(max_items);
        return s + ">";
      }
    }
    return "?";
  }

 private:
  static std::size_t index_of(int i) {
    if (i < 0) throw ValueError("negative index " + std::to_string(i));
    return static_cast<std::size_t>(i);
  }
  // Two distinct alternative types for list and tuple so the variant index is the Kind.
  struct ListTag : PickleSequence {};
  struct TupleTag : PickleSequence {};
  template <class T>
  const T& get(const char* what) const {
    if (const T* p = std::get_if<T>(&v_)) return *p;
    throw ValueError(std::string("expected ") + what + ", found " + type_name());
  }
  template <class T>
  T& get(const char* what) {
    if (T* p = std::get_if<T>(&v_)) return *p;
    throw ValueError(std::string("expected ") + what + ", found " + type_name());
  }

  std::variant<std::monostate, bool, std::int64_t, double, std::string, PickleBytes, ListTag, TupleTag, PickleDict,
               Tensor, Opaque>
      v_;
};

}  // namespace io
NERNST_NAMESPACE_END
