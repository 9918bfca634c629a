#pragma once
// A one-paragraph message inside a panel or dialog (an error to fix, a reason
// something is read-only), tinted from the palette so it reads on light and
// dark themes alike, instead of a modal box that would stop the user.
#include <QLabel>

namespace ckpt::ui {

class MessageBanner : public QLabel {
  Q_OBJECT

 public:
  enum Kind { Info, Error };
  explicit MessageBanner(Kind kind = Info, QWidget* parent = nullptr);

  void setKind(Kind kind);
  [[nodiscard]] Kind kind() const { return kind_; }
  // Sets the text, the kind and shows the banner.
  void showMessage(const QString& text, Kind kind);

 protected:
  void changeEvent(QEvent* event) override;

 private:
  void applyPalette();
  Kind kind_;
};

}  // namespace ckpt::ui
