#pragma once
// Category colours for the name map tables that read on light and dark
// palettes alike: a hue blended into the palette's base colour, so the text
// colour of the palette stays legible on top.
#include <QColor>

namespace ckpt::ui::tint {

// Something is wrong here (invalid rule, conflict, error).
[[nodiscard]] QColor problem();
// Worth a look, not wrong (unmapped name, rule that matched nothing).
[[nodiscard]] QColor attention();
// Removed from the result (dropped tensor).
[[nodiscard]] QColor removed();
// Text that is present but does not apply (a dropping rule's replacement).
[[nodiscard]] QColor mutedText();

}  // namespace ckpt::ui::tint
