#include "io/formats/ggml_quants.h"
namespace ckpt::io {
bool can_dequantize(DType) noexcept { return false; }  // PLACEHOLDER
void dequantize(DType, const std::byte*, float*, std::int64_t) {}
}
