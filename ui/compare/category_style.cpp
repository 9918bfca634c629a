#include "ui/compare/category_style.h"

#include <QObject>

namespace ckpt::ui {

namespace {

QColor blend(const QColor& from, const QColor& to, double t) {
  const QColor a = from.toRgb(), b = to.toRgb();
  return QColor::fromRgbF(static_cast<float>(a.redF() * (1 - t) + b.redF() * t),
                          static_cast<float>(a.greenF() * (1 - t) + b.greenF() * t),
                          static_cast<float>(a.blueF() * (1 - t) + b.blueF() * t));
}

bool isDark(const QPalette& palette) { return palette.color(QPalette::Base).lightnessF() < 0.5; }

}  // namespace

QString categoryLabel(model::Category c) {
  switch (c) {
    case model::Category::Match: return QObject::tr("Match");
    case model::Category::Missing: return QObject::tr("Missing");
    case model::Category::Unexpected: return QObject::tr("Unexpected");
    case model::Category::ShapeMismatch: return QObject::tr("Shape");
    case model::Category::LayoutMismatch: return QObject::tr("Layout");
    case model::Category::DtypeDiffers: return QObject::tr("Dtype");
  }
  return {};
}

QString categoryDescription(model::Category c) {
  switch (c) {
    case model::Category::Match: return QObject::tr("Same name and shape (and dtype, where the right side names one).");
    case model::Category::Missing: return QObject::tr("Wanted by the right side, not in the checkpoint: a strict load fails.");
    case model::Category::Unexpected: return QObject::tr("In the checkpoint, not wanted by the right side: a strict load fails.");
    case model::Category::ShapeMismatch: return QObject::tr("Same name, different shape, and no permutation of axes fits.");
    case model::Category::LayoutMismatch:
      return QObject::tr("Same name; permuting the axes gives the wanted shape (e.g. PyTorch OIHW against MLX OHWI). "
                         "A name map can apply the permutation.");
    case model::Category::DtypeDiffers: return QObject::tr("Same name and shape, another dtype: loads, values are cast.");
  }
  return {};
}

int categoryRank(model::Category c) {
  switch (c) {
    case model::Category::Missing: return 0;
    case model::Category::Unexpected: return 1;
    case model::Category::ShapeMismatch: return 2;
    case model::Category::LayoutMismatch: return 3;
    case model::Category::DtypeDiffers: return 4;
    case model::Category::Match: return 5;
  }
  return 6;
}

QColor categoryHue(model::Category c) {
  switch (c) {
    case model::Category::Match: return {0x2e, 0x9d, 0x4f};
    case model::Category::Missing: return {0xd9, 0x36, 0x36};
    case model::Category::Unexpected: return {0xe0, 0x8a, 0x1e};
    case model::Category::ShapeMismatch: return {0xb8, 0x33, 0x9e};
    case model::Category::LayoutMismatch: return {0x5b, 0x6e, 0xe1};
    case model::Category::DtypeDiffers: return {0x00, 0xa0, 0xd0};
  }
  return {};
}

QColor categoryBackground(model::Category c, const QPalette& palette) {
  // A dark Base needs more of the hue to show at all; a light one less, or
  // dark text on it loses contrast.
  return blend(palette.color(QPalette::Base), categoryHue(c), isDark(palette) ? 0.32 : 0.24);
}

QColor verdictColor(bool ok, const QPalette& palette) {
  const QColor hue = ok ? QColor(0x1f, 0xa0, 0x45) : QColor(0xe0, 0x30, 0x30);
  return blend(palette.color(QPalette::WindowText), hue, isDark(palette) ? 0.55 : 0.75);
}

}  // namespace ckpt::ui
