#include "ui/metadata/message_banner.h"

#include <QEvent>
#include <QPalette>

namespace ckpt::ui {

namespace {

QColor blend(const QColor& base, const QColor& tint, double amount) {
  return QColor::fromRgbF(static_cast<float>(base.redF() * (1 - amount) + tint.redF() * amount),
                          static_cast<float>(base.greenF() * (1 - amount) + tint.greenF() * amount),
                          static_cast<float>(base.blueF() * (1 - amount) + tint.blueF() * amount));
}

}  // namespace

MessageBanner::MessageBanner(Kind kind, QWidget* parent) : QLabel(parent), kind_(kind) {
  setWordWrap(true);
  setTextInteractionFlags(Qt::TextSelectableByMouse);
  setAutoFillBackground(true);
  setMargin(6);
  applyPalette();
}

void MessageBanner::setKind(Kind kind) {
  kind_ = kind;
  applyPalette();
}

void MessageBanner::showMessage(const QString& text, Kind kind) {
  setText(text);
  setKind(kind);
  show();
}

void MessageBanner::changeEvent(QEvent* event) {
  QLabel::changeEvent(event);
  // Follow a theme switch; our own setPalette also lands here, so only react to the app's.
  if (event->type() == QEvent::ApplicationPaletteChange) applyPalette();
}

void MessageBanner::applyPalette() {
  // The palette of the parent (or the application), not our tinted copy.
  const QPalette base = parentWidget() ? parentWidget()->palette() : QPalette();
  const QColor tint = kind_ == Error ? QColor(220, 50, 47) : base.color(QPalette::Highlight);
  QPalette p = base;
  p.setColor(QPalette::Window, blend(base.color(QPalette::Base), tint, kind_ == Error ? 0.22 : 0.14));
  p.setColor(QPalette::WindowText, base.color(QPalette::Text));
  setPalette(p);
}

}  // namespace ckpt::ui
