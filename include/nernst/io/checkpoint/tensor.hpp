#pragma once
/// \file
/// \brief Tensor and StateDict: host-side, dense, row-major arrays read from / written to PyTorch
/// checkpoints. Floating types are widened exactly to double, integer and bool types to int64.

#include <nernst/core/error.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <map>
#include <string>
#include <utility>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace io {

/// Element type of a stored tensor (the PyTorch storage type it came from or goes to).
enum class DType { Float32, Float64, Float16, BFloat16, Int64, Int32, Int16, Int8, UInt8, Bool };

/// True for the floating types, whose elements live in Tensor::values.
inline bool is_floating(DType t) noexcept {
  return t == DType::Float32 || t == DType::Float64 || t == DType::Float16 || t == DType::BFloat16;
}

/// Bytes per element in a storage.
inline std::size_t itemsize(DType t) noexcept {
  switch (t) {
    case DType::Float64:
    case DType::Int64: return 8;
    case DType::Float32:
    case DType::Int32: return 4;
    case DType::Float16:
    case DType::BFloat16:
    case DType::Int16: return 2;
    default: return 1;
  }
}

/// PyTorch's name for the dtype ("float32", "int64", ...).
inline const char* dtype_name(DType t) noexcept {
  switch (t) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Float16: return "float16";
    case DType::BFloat16: return "bfloat16";
    case DType::Int64: return "int64";
    case DType::Int32: return "int32";
    case DType::Int16: return "int16";
    case DType::Int8: return "int8";
    case DType::UInt8: return "uint8";
    case DType::Bool: return "bool";
  }
  return "?";
}

/// A dense row-major tensor. Exactly one of `values` (floating dtypes, widened exactly to double)
/// and `int_values` (integer and bool dtypes) holds numel() elements; the other is empty.
struct Tensor {
  DType dtype = DType::Float32;
  std::vector<std::int64_t> shape;        ///< empty for a 0-d (scalar) tensor
  std::vector<double> values;             ///< floating dtypes
  std::vector<std::int64_t> int_values;   ///< integer and bool dtypes
  /// Where a loaded tensor's elements live in its archive (torch's storage key, element offset
  /// and strides), so that a file can be written back with new values in place (a mace `.model`,
  /// mace_writer.hpp). Empty key for tensors not read from a storage.
  std::string storage_key;
  std::int64_t storage_offset = 0;
  std::vector<std::int64_t> storage_stride;

  /// Number of elements: the product of `shape` (1 for a 0-d tensor).
  std::size_t numel() const noexcept {
    std::size_t n = 1;
    for (auto s : shape) n *= static_cast<std::size_t>(s < 0 ? 0 : s);
    return n;
  }
  std::size_t ndim() const noexcept { return shape.size(); }
  bool is_floating() const noexcept { return io::is_floating(dtype); }

  /// Row-major flat index of a multi-index; throws ValueError on a wrong rank or an index out of range.
  template <class... I>
  std::size_t flat_index(I... idx) const {
    const std::int64_t ix[] = {static_cast<std::int64_t>(idx)..., 0};
    constexpr std::size_t n = sizeof...(I);
    if (n != shape.size())
      throw ValueError("Tensor::at: " + std::to_string(n) + " indices for a tensor of rank " +
                       std::to_string(shape.size()));
    std::size_t flat = 0;
    for (std::size_t d = 0; d < n; ++d) {
      if (ix[d] < 0 || ix[d] >= shape[d])
        throw ValueError("Tensor::at: index " + std::to_string(ix[d]) + " out of range for dimension " +
                         std::to_string(d) + " of size " + std::to_string(shape[d]));
      flat = flat * static_cast<std::size_t>(shape[d]) + static_cast<std::size_t>(ix[d]);
    }
    return flat;
  }

  /// Element at a multi-index as double (integer elements converted).
  template <class... I>
  double at(I... idx) const {
    const std::size_t k = flat_index(idx...);
    return is_floating() ? values.at(k) : static_cast<double>(int_values.at(k));
  }

  /// Element at a multi-index as int64 (integer/bool dtypes only).
  template <class... I>
  std::int64_t at_int(I... idx) const {
    if (is_floating()) throw ValueError(std::string("Tensor::at_int on a ") + dtype_name(dtype) + " tensor");
    return int_values.at(flat_index(idx...));
  }

  /// The element of a one-element tensor (0-d scalars such as `num_batches_tracked` or Adam's `step`).
  double item() const {
    if (numel() != 1) throw ValueError("Tensor::item on a tensor with " + std::to_string(numel()) + " elements");
    return is_floating() ? values.at(0) : static_cast<double>(int_values.at(0));
  }

  /// A floating tensor from a shape and row-major values (checked for consistency).
  static Tensor from_values(std::vector<std::int64_t> shape, std::vector<double> v, DType t = DType::Float32) {
    Tensor out;
    out.dtype = t;
    out.shape = std::move(shape);
    if (!out.is_floating()) throw ValueError("Tensor::from_values needs a floating dtype");
    if (v.size() != out.numel())
      throw ValueError("Tensor::from_values: " + std::to_string(v.size()) + " values for shape of " +
                       std::to_string(out.numel()) + " elements");
    out.values = std::move(v);
    return out;
  }

  /// An integer/bool tensor from a shape and row-major values.
  static Tensor from_ints(std::vector<std::int64_t> shape, std::vector<std::int64_t> v, DType t = DType::Int64) {
    Tensor out;
    out.dtype = t;
    out.shape = std::move(shape);
    if (out.is_floating()) throw ValueError("Tensor::from_ints needs an integer or bool dtype");
    if (v.size() != out.numel())
      throw ValueError("Tensor::from_ints: " + std::to_string(v.size()) + " values for shape of " +
                       std::to_string(out.numel()) + " elements");
    out.int_values = std::move(v);
    return out;
  }
};

/// A module's parameters and buffers by their dotted names ("layers.0.weight").
using StateDict = std::map<std::string, Tensor>;

namespace detail {

/// The bits of a float, and the float with given bits (std::bit_cast before C++20).
inline std::uint32_t float_bits(float f) noexcept {
  std::uint32_t x;
  std::memcpy(&x, &f, 4);
  return x;
}
inline float float_from_bits(std::uint32_t x) noexcept {
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

/// IEEE binary16 bits -> float (exact).
inline float half_to_float(std::uint16_t h) noexcept {
  const std::uint32_t sign = (h >> 15) & 1u, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  std::uint32_t bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign << 31;
    } else {  // subnormal: renormalise
      std::uint32_t e = 127 - 15 + 1, m = man;
      while ((m & 0x400u) == 0) { m <<= 1; --e; }
      bits = (sign << 31) | (e << 23) | ((m & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    bits = (sign << 31) | 0x7f800000u | (man << 13);
  } else {
    bits = (sign << 31) | ((exp + 127 - 15) << 23) | (man << 13);
  }
  return float_from_bits(bits);
}

/// float -> IEEE binary16 bits, round to nearest even (overflow to inf, NaN kept quiet).
inline std::uint16_t float_to_half(float f) noexcept {
  const std::uint32_t x = float_bits(f);
  const std::uint32_t sign = (x >> 16) & 0x8000u;
  const std::uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0u));
  if (absx >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // rounds past 65504
  const int e = static_cast<int>(absx >> 23) - 127;
  if (e >= -14) {  // normal half
    std::uint32_t mant = absx & 0x7fffffu;
    std::uint32_t h = (static_cast<std::uint32_t>(e + 15) << 10) | (mant >> 13);
    const std::uint32_t rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // carry into exponent is correct
    return static_cast<std::uint16_t>(sign | h);
  }
  if (e < -25) return static_cast<std::uint16_t>(sign);  // below half the smallest subnormal
  // subnormal half: value = m * 2^-24 with m = mant_full * 2^(e-23+24)
  const std::uint32_t mant_full = (absx & 0x7fffffu) | 0x800000u;
  const int shift = -e - 14 + 13;  // 14..24
  std::uint32_t h = mant_full >> shift;
  const std::uint32_t rest = mant_full & ((1u << shift) - 1u), half = 1u << (shift - 1);
  if (rest > half || (rest == half && (h & 1u))) ++h;
  return static_cast<std::uint16_t>(sign | h);
}

/// bfloat16 bits -> float (exact).
inline float bf16_to_float(std::uint16_t h) noexcept {
  const std::uint32_t bits = static_cast<std::uint32_t>(h) << 16;
  return float_from_bits(bits);
}

/// float -> bfloat16 bits, round to nearest even (NaN kept quiet).
inline std::uint16_t float_to_bf16(float f) noexcept {
  std::uint32_t x = float_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((x >> 16) | 0x40u);
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<std::uint16_t>(x >> 16);
}

}  // namespace detail
}  // namespace io
NERNST_NAMESPACE_END
