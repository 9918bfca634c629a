#include "ui/export/feedback.h"

#include <algorithm>
#include <cmath>

namespace ckpt::ui {

int progressValue(quint64 done, quint64 total) {
  if (total == 0) return 0;
  const double fraction = static_cast<double>(done) / static_cast<double>(total);
  return static_cast<int>(std::lround(std::clamp(fraction, 0.0, 1.0) * kProgressSteps));
}

QColor tinted(const QColor& accent, const QColor& base, double amount) {
  auto mix = [amount](float a, float b) { return static_cast<float>(a * amount + b * (1 - amount)); };
  return QColor::fromRgbF(mix(accent.redF(), base.redF()), mix(accent.greenF(), base.greenF()),
                          mix(accent.blueF(), base.blueF()));
}

QColor errorAccent() { return {0xd3, 0x2f, 0x2f}; }

QColor successAccent() { return {0x2e, 0x9d, 0x4a}; }

QColor errorText(const QPalette& palette) { return tinted(errorAccent(), palette.color(QPalette::WindowText), 0.7); }

}  // namespace ckpt::ui
