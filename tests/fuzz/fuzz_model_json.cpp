// libFuzzer target for the model_json reader (see fuzz_targets.hpp).
#include "fuzz_targets.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  nernst_fuzz::fuzz_model_json(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
