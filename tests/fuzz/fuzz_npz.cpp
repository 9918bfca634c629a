// libFuzzer harness: an .npz archive — the zip layer (end records, zip64,
// central directory, local headers, data descriptors) and each member's .npy
// header, then every member's data (stored members mapped in place, deflated
// ones inflated: the CRC, the declared sizes and the ratio limit are checked
// on the way).
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/support/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ckpt::fuzz::open_and_touch(data, size, ckpt::io::Format::Npz);
  return 0;
}
