// libFuzzer harness: one .npy image (header, then the data through every
// read path: stats on a prefix, windows, a full stream when small).
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/support/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ckpt::fuzz::open_and_touch(data, size, ckpt::io::Format::Npy);
  return 0;
}
