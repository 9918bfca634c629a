#pragma once
// The statistics of one tensor as the panel shows them: count, min, max,
// mean, std, zeros, NaN and Inf; a progress bar with Stop while they are
// computed; the histogram; or an inline message in their place.
#include <QWidget>

#include <optional>

#include "model/tensor_stats.h"

class QCheckBox;
class QLabel;
class QProgressBar;
class QPushButton;
class QTimer;

namespace ckpt::ui {

class HistogramWidget;

class StatsPane : public QWidget {
  Q_OBJECT

 public:
  enum Field : int { Count, Min, Max, Mean, Std, Zeros, NaN, Inf, FieldCount };

  explicit StatsPane(QWidget* parent = nullptr);

  // Numbers cleared; the progress bar appears if the work is still running
  // a moment later (small tensors finish before it would only flicker).
  void showComputing();
  void setProgress(double fraction);
  void showStats(const model::TensorStats& stats);
  // An explanation instead of numbers; `retry` offers to compute again.
  void showMessage(const QString& text, bool retry);
  // A remark about what the numbers mean (dequantized, magnitudes, …).
  void setNote(const QString& note);
  void clear();

  [[nodiscard]] const std::optional<model::TensorStats>& stats() const { return stats_; }
  // The text shown for `f` ("…" while computing, empty when nothing is shown).
  [[nodiscard]] QString fieldText(Field f) const;
  [[nodiscard]] QString message() const;
  [[nodiscard]] bool computing() const { return computing_; }
  [[nodiscard]] QProgressBar* progressBar() const { return progress_; }
  [[nodiscard]] HistogramWidget* histogram() const { return histogram_; }

 signals:
  void stopRequested();
  void retryRequested();

 private:
  void setFieldsVisible(bool on);

  std::optional<model::TensorStats> stats_;
  bool computing_ = false;
  QLabel* note_ = nullptr;
  QWidget* fields_ = nullptr;
  QLabel* values_[FieldCount] = {};
  QWidget* progress_row_ = nullptr;
  QProgressBar* progress_ = nullptr;
  QTimer* progress_delay_ = nullptr;
  QLabel* message_ = nullptr;
  QPushButton* retry_ = nullptr;
  HistogramWidget* histogram_ = nullptr;
  QCheckBox* log_scale_ = nullptr;
};

}  // namespace ckpt::ui
