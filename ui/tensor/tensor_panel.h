#pragma once
// The tensor panel: everything about the selected tensor. Its description
// shows at once; statistics with a histogram, and a value table beside a
// heat map of a chosen 2-D window, follow when the background work delivers
// them. Selecting another tensor (or clear()) cancels the work in flight,
// whose results are then never shown; the GUI thread never waits on it.
#include <QWidget>

#include <cstddef>
#include <memory>
#include <optional>

#include "io/checkpoint.h"
#include "model/tensor_stats.h"

class QLabel;
class QSplitter;
class QTabWidget;
class QTableView;
class QTimer;

namespace ckpt::ui {

class HeatMapWidget;
class HistogramWidget;
class StatsPane;
class TensorJob;
class ValueWindowModel;
class WindowControls;

class TensorPanel : public QWidget {
  Q_OBJECT

 public:
  static constexpr int kHistogramBins = 64;
  enum Page : int { StatsPage, ValuesPage };

  explicit TensorPanel(QWidget* parent = nullptr);
  ~TensorPanel() override;  // cancels and joins any running work

  // Shows tensor `index` of `checkpoint`: description at once, then stats,
  // histogram, value window and heat map when the background work delivers.
  // Calling it again (or clear()) cancels the previous work; calling it
  // with the tensor already shown keeps what is there.
  void setTensor(std::shared_ptr<const io::Checkpoint> checkpoint, std::size_t index);
  void clear();

  // The tensor shown, or null.
  [[nodiscard]] const io::TensorInfo* tensor() const;
  // The description as plain "label: text" lines (the name first).
  [[nodiscard]] QString descriptionText() const;
  // The statistics on screen (nullopt while computing or after a failure).
  [[nodiscard]] const std::optional<model::TensorStats>& stats() const;
  // Inline messages shown instead of statistics / the window (empty if none).
  [[nodiscard]] QString statsMessage() const;
  [[nodiscard]] QString windowMessage() const;
  // The selected cells of the value table as tab-separated rows, every
  // digit of each value (what Ctrl+C puts on the clipboard).
  [[nodiscard]] QString selectedValuesText() const;
  // True while statistics or a window are being computed.
  [[nodiscard]] bool busy() const;

  void setCurrentPage(Page page);
  [[nodiscard]] StatsPane* statsPane() const { return stats_; }
  [[nodiscard]] HistogramWidget* histogram() const;
  [[nodiscard]] WindowControls* windowControls() const { return controls_; }
  [[nodiscard]] ValueWindowModel* valueModel() const { return values_; }
  [[nodiscard]] QTableView* valueTable() const { return table_; }
  [[nodiscard]] HeatMapWidget* heatMap() const { return heat_map_; }

 signals:
  void statsShown();   // statistics and histogram are on screen for the current tensor
  void windowShown();  // value table and heat map show the current window

 protected:
  void resizeEvent(QResizeEvent* event) override;

 private:
  void requestStats();
  void requestWindow();
  void showWindowMessage(const QString& text);
  void copySelection();

  std::shared_ptr<const io::Checkpoint> checkpoint_;
  std::size_t index_ = 0;

  QLabel* name_ = nullptr;
  QLabel* details_ = nullptr;
  QTabWidget* tabs_ = nullptr;
  StatsPane* stats_ = nullptr;
  WindowControls* controls_ = nullptr;
  QLabel* window_message_ = nullptr;
  QTimer* window_pending_ = nullptr;  // "Reading values…" for windows that take a while
  QSplitter* window_views_ = nullptr;
  ValueWindowModel* values_ = nullptr;
  QTableView* table_ = nullptr;
  HeatMapWidget* heat_map_ = nullptr;
  // Owned here rather than as a QObject child so it is stopped and joined
  // in ~TensorPanel, before any widget its deliveries reach goes away.
  std::unique_ptr<TensorJob> job_;
};

}  // namespace ckpt::ui
