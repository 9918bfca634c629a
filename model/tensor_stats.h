#pragma once
// Statistics and value windows of any tensor of any dtype (block-quantized
// ones dequantized), computed chunk by chunk on all cores without holding
// the whole tensor in memory.
#include <cstdint>
#include <functional>
#include <vector>

#include "io/tensor.h"

namespace ckpt::model {

struct StatsOptions {
  int bins = 64;                       // histogram bins between min and max
  unsigned threads = 0;                // 0: every core
  std::function<bool()> cancelled;     // polled between chunks; true stops with io::Error "cancelled"
  std::function<void(std::uint64_t done, std::uint64_t total)> progress;  // elements
};

struct TensorStats {
  std::uint64_t count = 0;             // elements
  std::uint64_t nan = 0, inf = 0, zeros = 0;
  double min = 0, max = 0;             // over finite values (complex: magnitudes)
  double mean = 0, std = 0;            // over finite values
  std::vector<std::uint64_t> histogram;  // `bins` counts of finite values over [min, max]
};

[[nodiscard]] TensorStats compute_stats(const io::TensorInfo& t, const StatsOptions& opt = {});

// A 2-D window of an N-d tensor: `row_axis` and `col_axis` vary, every other
// axis is fixed at `index[axis]` (entries for the two window axes are ignored).
struct Window {
  int row_axis = 0, col_axis = 1;
  std::vector<std::int64_t> index;
  std::int64_t row0 = 0, col0 = 0, rows = 16, cols = 16;
};

struct WindowValues {
  std::int64_t rows = 0, cols = 0;     // clipped to the tensor
  std::vector<double> values;          // row-major, rows × cols (complex: real parts)
};

[[nodiscard]] WindowValues read_window(const io::TensorInfo& t, const Window& w);

}  // namespace ckpt::model
