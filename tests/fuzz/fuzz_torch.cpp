// libFuzzer target for the torch reader (see fuzz_targets.hpp).
#include "fuzz_targets.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  nernst_fuzz::fuzz_torch(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
