#pragma once
// Maps window values to colours for the heat map and its legend. A window
// holding negative and positive values gets a diverging scale centred on
// zero (blue below, red above, the view's base colour at zero), anything
// else a sequential dark-to-light ramp. NaN has a colour of its own that
// neither scale uses; infinities take the colour of the end they lie beyond.
#include <QColor>
#include <QPalette>

#include <span>

namespace ckpt::ui {

class ColourScale {
 public:
  ColourScale() = default;
  // Fitted to the finite values of `values`; `palette` gives the neutral
  // colour of a diverging scale so zero reads as "nothing" on light and dark themes.
  [[nodiscard]] static ColourScale fit(std::span<const double> values, const QPalette& palette);

  [[nodiscard]] bool hasRange() const { return has_range_; }  // false: no finite value
  [[nodiscard]] bool diverging() const { return diverging_; }
  // The values at the two ends of the scale (symmetric around 0 when diverging).
  [[nodiscard]] double low() const { return low_; }
  [[nodiscard]] double high() const { return high_; }
  [[nodiscard]] bool hasNan() const { return has_nan_; }

  [[nodiscard]] QColor colour(double v) const;
  // The colour at position t in [0, 1] along the scale (the legend's gradient).
  [[nodiscard]] QColor colourAt(double t) const;
  [[nodiscard]] static QColor nanColour();

 private:
  bool has_range_ = false;
  bool diverging_ = false;
  bool has_nan_ = false;
  double low_ = 0, high_ = 0;
  QColor neutral_ = Qt::white;
};

}  // namespace ckpt::ui
