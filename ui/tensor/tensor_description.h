#pragma once
// What the tensor panel says about a tensor before reading any of its data:
// one (label, text) row per fact, and the notes that explain how its values
// are shown.
#include <QString>

#include <utility>
#include <vector>

#include "io/tensor.h"

namespace ckpt::ui {

struct DescriptionRow {
  QString label;
  QString text;
  QString tooltip;  // the longer form, when the text is shortened (a file's full path)
};

// dtype, shape, parameters, bytes, file and offset, layout, GGUF type.
[[nodiscard]] std::vector<DescriptionRow> describeTensor(const io::TensorInfo& t);
// How statistics and values relate to the stored data (dequantized blocks,
// complex magnitudes); empty when they are the values themselves.
[[nodiscard]] QString valuesNote(const io::TensorInfo& t);
// Why the values cannot be shown, for a tensor without readable data.
[[nodiscard]] QString unreadableText(const io::TensorInfo& t);

}  // namespace ckpt::ui
