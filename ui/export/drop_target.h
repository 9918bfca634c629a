#pragma once
// One format button of the drop bar: accepts drags of local files, lights up
// while one hovers over it, and reports what was dropped. A click (mouse or
// keyboard) is an ordinary QToolButton click.
#include <QStringList>
#include <QToolButton>

#include "io/checkpoint.h"

class QMimeData;

namespace ckpt::ui {

class DropTarget : public QToolButton {
  Q_OBJECT

 public:
  explicit DropTarget(io::Format format, QWidget* parent = nullptr);

  [[nodiscard]] io::Format format() const { return format_; }
  [[nodiscard]] bool isHighlighted() const { return highlighted_; }
  // The local files a drag carries; empty when it carries anything else too
  // (web URLs, text), so such a drag is refused as a whole.
  [[nodiscard]] static QStringList localFiles(const QMimeData* mime);

 signals:
  void filesDropped(const QStringList& paths);

 protected:
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dragMoveEvent(QDragMoveEvent* event) override;
  void dragLeaveEvent(QDragLeaveEvent* event) override;
  void dropEvent(QDropEvent* event) override;
  void paintEvent(QPaintEvent* event) override;

 private:
  void setHighlighted(bool on);

  io::Format format_;
  bool highlighted_ = false;
};

}  // namespace ckpt::ui
