#pragma once
// How each diff category looks on screen: its label, a short explanation, one
// hue, and that hue blended into a palette's Base so a row stays readable with
// the palette's Text colour on light and dark themes alike.
#include <QColor>
#include <QPalette>
#include <QString>

#include <array>

#include "model/spec_diff.h"

namespace ckpt::ui {

// The order of the filter buttons: the CLI's category names in the order the docs list them.
inline constexpr std::array<model::Category, 6> kCategories{
    model::Category::Match,          model::Category::Missing,        model::Category::Unexpected,
    model::Category::ShapeMismatch,  model::Category::LayoutMismatch, model::Category::DtypeDiffers};

[[nodiscard]] QString categoryLabel(model::Category c);        // "Match", "Missing", … "Dtype"
[[nodiscard]] QString categoryDescription(model::Category c);  // one sentence for tooltips
// Problems first, in the order a user fixes them; matches last (the CLI's order).
[[nodiscard]] int categoryRank(model::Category c);
[[nodiscard]] QColor categoryHue(model::Category c);
[[nodiscard]] QColor categoryBackground(model::Category c, const QPalette& palette);
// Green-ish when a strict load would succeed, red-ish otherwise, pulled towards
// the palette's text colour so it stays legible on Window.
[[nodiscard]] QColor verdictColor(bool ok, const QPalette& palette);

}  // namespace ckpt::ui
