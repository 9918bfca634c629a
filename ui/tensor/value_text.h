#pragma once
// How the tensor panel writes numbers and element indices, so the table, the
// heat map's tooltips and the statistics agree on one spelling.
#include <QString>

#include <cstdint>

#include "io/dtype.h"
#include "model/tensor_stats.h"

namespace ckpt::ui {

// Six significant digits ("0.0123457", "-3", "1.5e+08"); "nan", "inf", "-inf".
[[nodiscard]] QString numberText(double v);
// A window value as a cell shows it: whole numbers for integer and bool
// dtypes, six significant digits otherwise.
[[nodiscard]] QString valueText(double v, io::DType dtype);
// Every digit the dtype holds: the shortest text that reads back to the same
// float32 for narrow float types (a bf16 value is not printed to 17 digits),
// to the same double for f64 and wide integers.
[[nodiscard]] QString preciseValueText(double v, io::DType dtype);
// The full element index of window cell (r, c) of a tensor of rank `rank`:
// "[3, 0, 17]"; "[]" for a scalar.
[[nodiscard]] QString elementIndexText(const model::Window& w, int rank, std::int64_t r, std::int64_t c);

}  // namespace ckpt::ui
