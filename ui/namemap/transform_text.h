#pragma once
// A rule's transforms as one editable line, "permute (0, 2, 3, 1); cast float16":
// the text the rule table shows and the parse of what a user typed there.
#include <QString>

#include <vector>

#include "model/name_map.h"

namespace ckpt::ui {

// The transforms in the CLI's words (model::describe), joined by "; ".
[[nodiscard]] QString transformsText(const std::vector<model::Transform>& transforms);

struct ParsedTransforms {
  std::vector<model::Transform> transforms;
  QString error;  // empty when the whole text parsed
};

// Accepts what transformsText writes and the short forms people type:
// "permute 0,2,3,1", "perm [1 0]", "transpose" / "T", "cast f16",
// "dequantize float32"; steps separated by ';'. Dtype names are the core's
// ("float16") or safetensors' ("F16", any case). Checks only the form (and
// that a permutation is one); whether a dtype is a valid target for the step
// is left to the map parser, which owns that rule.
[[nodiscard]] ParsedTransforms parseTransforms(const QString& text);

}  // namespace ckpt::ui
