#pragma once
// The one-line account of a map's preview under the editor:
// "312 names: 298 renamed, 4 dropped, 2 conflicts, rule 3 matched nothing",
// with the report's errors and notes for its tooltip.
#include <QString>

#include <vector>

#include "model/name_map.h"
#include "ui/namemap/preview_model.h"

namespace ckpt::ui {

struct MapSummary {
  QString line;
  QString details;  // errors and notes, one per line (capped)
};

// `report` and `counts` describe the latest preview (report null: none yet);
// `invalid_rows` are rules left out of it, so they are neither "matched
// nothing" nor applied.
[[nodiscard]] MapSummary summarize(const model::MapReport* report, const PreviewModel::Counts& counts,
                                   const std::vector<int>& invalid_rows, bool has_checkpoint);

// "rule 3" / "rules 3, 7".
[[nodiscard]] QString ruleList(const std::vector<int>& rows);

}  // namespace ckpt::ui
