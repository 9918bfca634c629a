#pragma once
// How the export UI shows a running conversion and its outcome, shared by
// the dialog and the drop bar: a progress-bar position from byte counts and
// message colours derived from the palette (readable on light and dark themes).
#include <QColor>
#include <QPalette>
#include <QtGlobal>

namespace ckpt::ui {

// Progress bars run 0…kProgressSteps: byte counts overflow an int.
inline constexpr int kProgressSteps = 1000;
[[nodiscard]] int progressValue(quint64 done, quint64 total);

// `amount` of `accent` over `base` (0: base, 1: accent).
[[nodiscard]] QColor tinted(const QColor& accent, const QColor& base, double amount);
[[nodiscard]] QColor errorAccent();
[[nodiscard]] QColor successAccent();
// Error text: red pulled towards the palette's text colour, so dark red on
// light themes and a light red on dark ones.
[[nodiscard]] QColor errorText(const QPalette& palette);

}  // namespace ckpt::ui
