#pragma once
// A bar chart of a model::TensorStats histogram: equal-width bins between
// the finite minimum and maximum, with value ticks below, the largest count
// on the left, and each bar's range and count in its tooltip. Counts can be
// drawn on a log scale, where the thin tails of weight distributions show.
#include <QWidget>

#include <cstdint>
#include <vector>

namespace ckpt::ui {

class HistogramWidget : public QWidget {
  Q_OBJECT

 public:
  explicit HistogramWidget(QWidget* parent = nullptr);

  // `counts` per bin over [low, high] (the range the bins were built on).
  void setHistogram(std::vector<std::uint64_t> counts, double low, double high);
  void clear();
  void setLogScale(bool on);
  // What an empty histogram says ("No histogram" by default).
  void setPlaceholderText(const QString& text);

  [[nodiscard]] const std::vector<std::uint64_t>& counts() const { return counts_; }
  [[nodiscard]] std::uint64_t total() const;
  [[nodiscard]] double low() const { return low_; }
  [[nodiscard]] double high() const { return high_; }
  [[nodiscard]] bool logScale() const { return log_; }
  // The bin under x (widget coordinates), or -1; and what its tooltip says.
  [[nodiscard]] int binAt(int x) const;
  [[nodiscard]] QString binToolTip(int bin) const;

  [[nodiscard]] QSize sizeHint() const override;
  [[nodiscard]] QSize minimumSizeHint() const override;

 protected:
  void paintEvent(QPaintEvent* event) override;
  bool event(QEvent* event) override;

 private:
  [[nodiscard]] QRect plotRect() const;
  [[nodiscard]] double barHeight(std::uint64_t count, std::uint64_t max) const;  // 0..1

  std::vector<std::uint64_t> counts_;
  double low_ = 0, high_ = 0;
  bool log_ = false;
  QString placeholder_;
};

}  // namespace ckpt::ui
