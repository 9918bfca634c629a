#include "ui/export/drop_target.h"

#include <QDragEnterEvent>
#include <QDragLeaveEvent>
#include <QDragMoveEvent>
#include <QDropEvent>
#include <QFileInfo>
#include <QMimeData>
#include <QPainter>
#include <QUrl>

#include "ui/export/output_naming.h"

namespace ckpt::ui {

DropTarget::DropTarget(io::Format format, QWidget* parent) : QToolButton(parent), format_(format) {
  setText(formatLabel(format));
  setToolButtonStyle(Qt::ToolButtonTextOnly);
  setAcceptDrops(true);
  setFocusPolicy(Qt::StrongFocus);
  setAccessibleName(tr("Convert to %1").arg(formatLabel(format)));
  setToolTip(tr("Drop checkpoints here to write them as %1 (%2) beside themselves.\n"
                "Click to convert the open checkpoint.")
                 .arg(formatLabel(format), formatExtension(format)));
}

QStringList DropTarget::localFiles(const QMimeData* mime) {
  QStringList files;
  if (mime == nullptr || !mime->hasUrls()) return files;
  for (const QUrl& url : mime->urls()) {
    if (!url.isLocalFile() || QFileInfo(url.toLocalFile()).isDir()) return {};
    files << url.toLocalFile();
  }
  return files;
}

void DropTarget::dragEnterEvent(QDragEnterEvent* event) {
  if (!isEnabled() || localFiles(event->mimeData()).isEmpty()) {
    event->ignore();
    return;
  }
  event->acceptProposedAction();
  setHighlighted(true);
}

void DropTarget::dragMoveEvent(QDragMoveEvent* event) {
  if (highlighted_) event->acceptProposedAction();
  else event->ignore();
}

void DropTarget::dragLeaveEvent(QDragLeaveEvent* event) {
  setHighlighted(false);
  event->accept();
}

void DropTarget::dropEvent(QDropEvent* event) {
  setHighlighted(false);
  const QStringList files = localFiles(event->mimeData());
  if (files.isEmpty()) {
    event->ignore();
    return;
  }
  // The source stays where it is: only a copy in another format is made.
  event->setDropAction(Qt::CopyAction);
  event->accept();
  emit filesDropped(files);
}

void DropTarget::paintEvent(QPaintEvent* event) {
  QToolButton::paintEvent(event);
  if (!highlighted_) return;
  QPainter painter(this);
  painter.setRenderHint(QPainter::Antialiasing);
  QColor fill = palette().color(QPalette::Highlight);
  fill.setAlphaF(0.25f);
  painter.setBrush(fill);
  painter.setPen(QPen(palette().color(QPalette::Highlight), 2));
  painter.drawRoundedRect(QRectF(rect()).adjusted(1, 1, -1, -1), 4, 4);
}

void DropTarget::setHighlighted(bool on) {
  if (highlighted_ == on) return;
  highlighted_ = on;
  update();
}

}  // namespace ckpt::ui
