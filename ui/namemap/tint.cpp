#include "ui/namemap/tint.h"

#include <QGuiApplication>
#include <QPalette>

namespace ckpt::ui::tint {

namespace {

QColor blend(const QColor& hue, double amount) {
  const QColor base = QGuiApplication::palette().color(QPalette::Base);
  auto mix = [amount](int a, int b) { return static_cast<int>(a * (1.0 - amount) + b * amount + 0.5); };
  return QColor(mix(base.red(), hue.red()), mix(base.green(), hue.green()), mix(base.blue(), hue.blue()));
}

}  // namespace

QColor problem() { return blend(QColor(220, 50, 47), 0.30); }
QColor attention() { return blend(QColor(230, 160, 20), 0.20); }
QColor removed() { return blend(QColor(128, 128, 128), 0.18); }
QColor mutedText() { return QGuiApplication::palette().color(QPalette::PlaceholderText); }

}  // namespace ckpt::ui::tint
