#pragma once
// An inline message above the editor's tables (what a load, save, invert or
// suggestion did, or why it could not), instead of a modal box that would
// stall scripted runs. Errors are tinted; the user dismisses it with ×.
#include <QString>
#include <QWidget>

class QLabel;

namespace ckpt::ui {

class MessageBar : public QWidget {
  Q_OBJECT

 public:
  explicit MessageBar(QWidget* parent = nullptr);

  void showError(const QString& text);
  void showInfo(const QString& text);
  void dismiss();
  // The message shown; empty when hidden.
  [[nodiscard]] QString text() const;

 private:
  void present(const QString& text, bool error);

  QLabel* label_ = nullptr;
};

}  // namespace ckpt::ui
