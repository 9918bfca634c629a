#pragma once
// A checkpoint (after an optional name map) against a module spec or a second
// checkpoint, answering "would model.load_weights(strict=True) succeed?".
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "model/module_spec.h"

namespace ckpt::model {

enum class Category { Match, Missing, Unexpected, ShapeMismatch, LayoutMismatch, DtypeDiffers };
[[nodiscard]] const char* category_name(Category c);  // "match", "missing", "unexpected", "shape", "layout", "dtype"

struct Agreement {                     // value agreement where both sides hold data
  double max_abs_diff = 0;
  double max_rel_error = 0;
  double cosine = 1;
  bool identical = false;              // bit-identical after conversion to float64
};

struct DiffRow {
  Category category = Category::Match;
  std::string name;
  std::optional<io::Shape> have_shape, want_shape;     // have: checkpoint; want: spec / second checkpoint
  std::optional<io::DType> have_dtype, want_dtype;
  std::vector<int> permutation;        // LayoutMismatch: have.permute(permutation) has want's shape
  std::optional<Agreement> agreement;
};

struct SpecDiff {
  std::vector<DiffRow> rows;           // spec order, then unexpected names in checkpoint order
  [[nodiscard]] std::size_t count(Category c) const;
  [[nodiscard]] bool strict_load_ok() const;   // no missing, unexpected, shape or layout mismatch
  [[nodiscard]] std::string verdict() const;   // "would load" / "would fail: 3 missing, 2 unexpected, 1 shape mismatch"
};

[[nodiscard]] SpecDiff diff(std::span<const io::TensorInfo> have, const ModuleSpec& want);
// Two checkpoints; with compare_values, tensors present in both with equal
// shapes get an Agreement (streamed, chunk by chunk).
[[nodiscard]] SpecDiff diff_checkpoints(std::span<const io::TensorInfo> have, std::span<const io::TensorInfo> want,
                                        bool compare_values);

}  // namespace ckpt::model
