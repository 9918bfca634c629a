#include "ui/namemap/message_bar.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QPalette>
#include <QToolButton>

#include "ui/namemap/tint.h"

namespace ckpt::ui {

MessageBar::MessageBar(QWidget* parent) : QWidget(parent) {
  setAutoFillBackground(true);
  auto* layout = new QHBoxLayout(this);
  layout->setContentsMargins(8, 4, 4, 4);
  label_ = new QLabel;
  label_->setWordWrap(true);
  label_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(label_, 1);
  auto* close = new QToolButton;
  close->setText(QStringLiteral("×"));
  close->setAutoRaise(true);
  close->setToolTip(tr("Dismiss"));
  connect(close, &QToolButton::clicked, this, &MessageBar::dismiss);
  layout->addWidget(close, 0, Qt::AlignTop);
  hide();
}

void MessageBar::showError(const QString& text) { present(text, true); }

void MessageBar::showInfo(const QString& text) { present(text, false); }

void MessageBar::present(const QString& text, bool error) {
  QPalette p = palette();
  p.setColor(QPalette::Window, error ? tint::problem() : p.color(QPalette::AlternateBase));
  setPalette(p);
  label_->setText(text);
  show();
}

void MessageBar::dismiss() {
  label_->clear();
  hide();
}

QString MessageBar::text() const { return isHidden() ? QString() : label_->text(); }

}  // namespace ckpt::ui
