#pragma once
/// \file
/// \brief Serialises a PickleValue as a protocol-2 pickle the way `torch.save` does: tensors as
/// `torch._utils._rebuild_tensor_v2` calls on persistent storages, whose raw bytes are collected
/// for the archive's `data/<key>` entries.

#include <nernst/core/error.hpp>
#include <nernst/io/checkpoint/detail/unpickler.hpp>
#include <nernst/io/checkpoint/pickle_value.hpp>
#include <nernst/io/checkpoint/tensor.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace io {
namespace detail {

/// Raw little-endian bytes of a tensor's elements in its dtype (floats rounded to nearest).
inline std::string tensor_bytes(const Tensor& t) {
  const std::size_t n = t.numel();
  const bool fl = t.is_floating();
  if ((fl ? t.values.size() : t.int_values.size()) != n || (fl ? !t.int_values.empty() : !t.values.empty()))
    throw ValueError(std::string("save_torch: a ") + dtype_name(t.dtype) + " tensor must hold exactly numel() = " +
                     std::to_string(n) + " elements in " + (fl ? "values" : "int_values"));
  const std::size_t w = itemsize(t.dtype);
  std::string out(n * w, '\0');
  auto put = [&](std::size_t j, std::uint64_t bits) {
    for (std::size_t k = 0; k < w; ++k) out[j * w + k] = static_cast<char>((bits >> (8 * k)) & 0xff);
  };
  for (std::size_t j = 0; j < n; ++j) {
    switch (t.dtype) {
      case DType::Float32: {
        const float f = static_cast<float>(t.values[j]);
        std::uint32_t u;
        std::memcpy(&u, &f, 4);
        put(j, u);
        break;
      }
      case DType::Float64: {
        std::uint64_t u;
        std::memcpy(&u, &t.values[j], 8);
        put(j, u);
        break;
      }
      case DType::Float16: put(j, float_to_half(static_cast<float>(t.values[j]))); break;
      case DType::BFloat16: put(j, float_to_bf16(static_cast<float>(t.values[j]))); break;
      case DType::Bool: put(j, t.int_values[j] != 0 ? 1u : 0u); break;
      default: put(j, static_cast<std::uint64_t>(t.int_values[j])); break;  // two's complement, truncated to w bytes
    }
  }
  return out;
}

/// Protocol-2 pickler. Strings go out as BINUNICODE, bytes as `_codecs.encode(str, 'latin1')`
/// (what Python does at protocol 2), dicts as EMPTY_DICT + SETITEMS, OrderedDict as a REDUCE of
/// `collections.OrderedDict` followed by SETITEMS and BUILD of its state when it has one.
class Pickler {
 public:
  /// One storage per tensor, keyed "0", "1", ... in the order tensors are met.
  std::vector<std::pair<std::string, std::string>> storages;

  std::string dump(const PickleValue& v) {
    out_.clear();
    out_ += "\x80\x02";
    save(v, 0);
    out_ += '.';
    return out_;
  }

 private:
  void op(unsigned char c) { out_.push_back(static_cast<char>(c)); }
  void le(std::uint64_t v, int n) {
    for (int k = 0; k < n; ++k) out_.push_back(static_cast<char>((v >> (8 * k)) & 0xff));
  }
  void save_int(std::int64_t i) {
    if (i >= 0 && i <= 0xff) {
      op('K');
      le(static_cast<std::uint64_t>(i), 1);
    } else if (i >= 0 && i <= 0xffff) {
      op('M');
      le(static_cast<std::uint64_t>(i), 2);
    } else if (i >= std::numeric_limits<std::int32_t>::min() && i <= std::numeric_limits<std::int32_t>::max()) {
      op('J');
      le(static_cast<std::uint64_t>(i), 4);
    } else {
      // LONG1 with the shortest two's-complement encoding.
      std::uint64_t u = static_cast<std::uint64_t>(i);
      int n = 8;
      while (n > 1) {
        const unsigned top = static_cast<unsigned>((u >> (8 * (n - 1))) & 0xff);
        const unsigned next_sign = static_cast<unsigned>((u >> (8 * (n - 2) + 7)) & 1);
        if ((top == 0x00 && next_sign == 0) || (top == 0xff && next_sign == 1))
          --n;
        else
          break;
      }
      op(0x8a);
      le(static_cast<std::uint64_t>(n), 1);
      le(u, n);
    }
  }
  void save_str(const std::string& s) {
    op('X');
    le(s.size(), 4);
    out_ += s;
  }
  void save_global(const std::string& module, const std::string& name) {
    op('c');
    out_ += module;
    out_ += '\n';
    out_ += name;
    out_ += '\n';
  }
  void save_tuple(const std::vector<PickleValue>& items, int depth) {
    if (items.empty()) {
      op(')');
      return;
    }
    if (items.size() <= 3) {
      for (const auto& it : items) save(it, depth + 1);
      op(static_cast<unsigned char>(0x84 + items.size()));  // TUPLE1..3
      return;
    }
    op('(');
    for (const auto& it : items) save(it, depth + 1);
    op('t');
  }
  void save_setitems(const std::vector<std::pair<PickleValue, PickleValue>>& items, int depth) {
    for (std::size_t b = 0; b < items.size(); b += 1000) {  // batches, as Python writes them
      op('(');
      for (std::size_t k = b; k < items.size() && k < b + 1000; ++k) {
        save(items[k].first, depth + 1);
        save(items[k].second, depth + 1);
      }
      op('u');
    }
  }
  void save_appends(const std::vector<PickleValue>& items, int depth) {
    for (std::size_t b = 0; b < items.size(); b += 1000) {
      op('(');
      for (std::size_t k = b; k < items.size() && k < b + 1000; ++k) save(items[k], depth + 1);
      op('e');
    }
  }
  void save_tensor(const Tensor& t) {
    const std::string key = std::to_string(storages.size());
    storages.emplace_back(key, tensor_bytes(t));
    const std::int64_t numel = static_cast<std::int64_t>(t.numel());
    save_global("torch._utils", "_rebuild_tensor_v2");
    op('(');
    // persistent id ('storage', torch.<Type>Storage, key, 'cpu', numel)
    op('(');
    save_str("storage");
    save_global("torch", storage_class(t.dtype));
    save_str(key);
    save_str("cpu");
    save_int(numel);
    op('t');
    op('Q');
    save_int(0);  // storage offset
    std::vector<std::int64_t> stride(t.shape.size(), 1);
    for (std::size_t d = t.shape.size(); d-- > 1;) stride[d - 1] = stride[d] * t.shape[d];
    auto int_tuple = [&](const std::vector<std::int64_t>& v) {
      if (v.empty()) {
        op(')');
        return;
      }
      op('(');
      for (auto x : v) save_int(x);
      op('t');
    };
    int_tuple(t.shape);
    int_tuple(stride);
    op(0x89);  // requires_grad = False
    save_global("collections", "OrderedDict");  // backward_hooks = OrderedDict()
    op(')');
    op('R');
    op('t');
    op('R');
  }
  void save(const PickleValue& v, int depth) {
    if (depth > 512) throw ValueError("save_torch: object nesting deeper than 512 levels");
    using K = PickleValue::Kind;
    switch (v.kind()) {
      case K::None: op('N'); return;
      case K::Bool: op(v.as_bool() ? 0x88 : 0x89); return;
      case K::Int: save_int(v.as_int()); return;
      case K::Float: {
        const double d = v.as_double();
        std::uint64_t u;
        std::memcpy(&u, &d, 8);
        op('G');
        for (int k = 7; k >= 0; --k) out_.push_back(static_cast<char>((u >> (8 * k)) & 0xff));
        return;
      }
      case K::String: save_str(v.as_string()); return;
      case K::Bytes: {
        std::string s;  // latin-1 -> UTF-8
        for (unsigned char c : v.as_bytes()) {
          if (c < 0x80) {
            s.push_back(static_cast<char>(c));
          } else {
            s.push_back(static_cast<char>(0xc0 | (c >> 6)));
            s.push_back(static_cast<char>(0x80 | (c & 0x3f)));
          }
        }
        save_global("_codecs", "encode");
        save_str(s);
        save_str("latin1");
        op(0x86);
        op('R');
        return;
      }
      case K::List:
        op(']');
        save_appends(v.items(), depth);
        return;
      case K::Tuple: save_tuple(v.items(), depth); return;
      case K::Dict: {
        const PickleDict& d = v.as_dict();
        if (d.ordered) {
          save_global("collections", "OrderedDict");
          op(')');
          op('R');
        } else {
          op('}');
        }
        save_setitems(d.items, depth);
        if (!d.state.empty()) {
          save(d.state.front(), depth + 1);
          op('b');
        }
        return;
      }
      case K::Tensor: save_tensor(v.as_tensor()); return;
      case K::Opaque: {
        const Opaque& o = v.as_opaque();
        if (o.module.empty() || o.name.empty() || o.module.find('\n') != std::string::npos ||
            o.name.find('\n') != std::string::npos)
          throw ValueError("save_torch: cannot pickle an object without a module and name");
        save_global(o.module, o.name);
        if (o.called && (o.module == "builtins" || o.module == "__builtin__") &&
            (o.name == "set" || o.name == "frozenset") && o.args.empty()) {
          // Sets read from EMPTY_SET/ADDITEMS keep their members in list_items: set(list)
          op(']');
          save_appends(o.list_items, depth);
          op(0x85);
          op('R');
          return;
        }
        if (o.called) {
          save_tuple(o.args, depth);
          op('R');
          save_appends(o.list_items, depth);
          save_setitems(o.dict_items, depth);
          if (!o.state.empty()) {
            save(o.state.front(), depth + 1);
            op('b');
          }
        }
        return;
      }
    }
  }

  std::string out_;
};

}  // namespace detail
}  // namespace io
NERNST_NAMESPACE_END
