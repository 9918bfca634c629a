#include "ui/tensor/colour_scale.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace ckpt::ui {

namespace {

struct Stop {
  double at;
  QColor colour;
};

QColor mix(const QColor& a, const QColor& b, double t) {
  auto channel = [t](int x, int y) { return static_cast<int>(std::lround(x + (y - x) * t)); };
  return QColor(channel(a.red(), b.red()), channel(a.green(), b.green()), channel(a.blue(), b.blue()));
}

template <std::size_t N>
QColor along(const std::array<Stop, N>& stops, double t) {
  t = std::clamp(t, 0.0, 1.0);
  for (std::size_t k = 1; k < N; ++k) {
    if (t <= stops[k].at) {
      const double span = stops[k].at - stops[k - 1].at;
      return mix(stops[k - 1].colour, stops[k].colour, span > 0 ? (t - stops[k - 1].at) / span : 0.0);
    }
  }
  return stops[N - 1].colour;
}

// Lightness rises monotonically from deep indigo to pale yellow, so the ramp
// still orders values when printed in grey or seen with red-green blindness.
const std::array<Stop, 5> kSequential{{
    {0.00, QColor(0x1b, 0x0f, 0x4a)},
    {0.30, QColor(0x3a, 0x4f, 0x9a)},
    {0.55, QColor(0x2a, 0x9d, 0x8f)},
    {0.80, QColor(0x9c, 0xd3, 0x4f)},
    {1.00, QColor(0xf6, 0xe8, 0x7a)},
}};
const QColor kNegative(0x21, 0x66, 0xac);
const QColor kPositive(0xb2, 0x18, 0x2b);

}  // namespace

ColourScale ColourScale::fit(std::span<const double> values, const QPalette& palette) {
  ColourScale s;
  // Base is the view background, nearly white or nearly black; pulling it a
  // little towards mid grey keeps zero cells visible against the background.
  s.neutral_ = mix(palette.color(QPalette::Base), QColor(128, 128, 128), 0.12);
  double lo = INFINITY, hi = -INFINITY;
  for (double v : values) {
    if (std::isnan(v)) s.has_nan_ = true;
    if (!std::isfinite(v)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (!(lo <= hi)) return s;
  s.has_range_ = true;
  s.diverging_ = lo < 0 && hi > 0;
  if (s.diverging_) {
    const double m = std::max(-lo, hi);
    s.low_ = -m;
    s.high_ = m;
  } else {
    s.low_ = lo;
    s.high_ = hi;
  }
  return s;
}

QColor ColourScale::colourAt(double t) const {
  if (!diverging_) return along(kSequential, t);
  t = std::clamp(t, 0.0, 1.0);
  return t < 0.5 ? mix(kNegative, neutral_, t * 2) : mix(neutral_, kPositive, (t - 0.5) * 2);
}

QColor ColourScale::colour(double v) const {
  if (std::isnan(v)) return nanColour();
  if (!has_range_) return colourAt(0.5);
  if (high_ <= low_) return colourAt(0.5);  // one distinct value
  return colourAt((v - low_) / (high_ - low_));
}

QColor ColourScale::nanColour() { return QColor(0xd0, 0x3c, 0xd6); }  // magenta: in neither scale

}  // namespace ckpt::ui
