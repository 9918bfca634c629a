#include "ui/tensor/tensor_panel.h"

#include <QAction>
#include <QClipboard>
#include <QFontDatabase>
#include <QGuiApplication>
#include <QHeaderView>
#include <QLabel>
#include <QResizeEvent>
#include <QSplitter>
#include <QTabWidget>
#include <QTableView>
#include <QTimer>
#include <QVBoxLayout>

#include <algorithm>
#include <climits>
#include <utility>

#include "ui/tensor/heat_map_widget.h"
#include "ui/tensor/histogram_widget.h"
#include "ui/tensor/stats_pane.h"
#include "ui/tensor/tensor_description.h"
#include "ui/tensor/tensor_job.h"
#include "ui/tensor/value_text.h"
#include "ui/tensor/value_window_model.h"
#include "ui/tensor/window_controls.h"

namespace ckpt::ui {

namespace {

// Below this width the table and the heat map stack instead of sitting side by side.
constexpr int kSideBySideWidth = 760;
// A window that takes longer than this (streamed, deflated data) says it is coming.
constexpr int kWindowPendingMs = 150;

}  // namespace

TensorPanel::TensorPanel(QWidget* parent) : QWidget(parent), job_(std::make_unique<TensorJob>()) {
  auto* layout = new QVBoxLayout(this);

  name_ = new QLabel;
  name_->setObjectName(QStringLiteral("tensorName"));
  QFont bold = name_->font();
  bold.setBold(true);
  bold.setPointSizeF(bold.pointSizeF() * 1.15);
  name_->setFont(bold);
  name_->setTextInteractionFlags(Qt::TextSelectableByMouse | Qt::TextSelectableByKeyboard);
  // A long name must not widen the whole panel; the tooltip has it in full.
  name_->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
  layout->addWidget(name_);

  details_ = new QLabel;
  details_->setObjectName(QStringLiteral("tensorDetails"));
  details_->setTextFormat(Qt::RichText);
  details_->setWordWrap(true);
  details_->setTextInteractionFlags(Qt::TextSelectableByMouse | Qt::TextSelectableByKeyboard);
  layout->addWidget(details_);

  tabs_ = new QTabWidget;
  stats_ = new StatsPane;
  tabs_->addTab(stats_, tr("&Statistics"));

  auto* window_page = new QWidget;
  auto* window_layout = new QVBoxLayout(window_page);
  controls_ = new WindowControls;
  window_layout->addWidget(controls_);
  window_message_ = new QLabel;
  window_message_->setObjectName(QStringLiteral("windowMessage"));
  window_message_->setWordWrap(true);
  window_message_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  window_message_->hide();
  window_layout->addWidget(window_message_);

  values_ = new ValueWindowModel(this);
  table_ = new QTableView;
  table_->setModel(values_);
  table_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  table_->setSelectionMode(QAbstractItemView::ContiguousSelection);
  table_->horizontalHeader()->setDefaultSectionSize(table_->fontMetrics().horizontalAdvance(QStringLiteral("-0.000000e+00")));
  table_->horizontalHeader()->setMinimumSectionSize(24);
  table_->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
  table_->verticalHeader()->setDefaultSectionSize(table_->fontMetrics().height() + 6);
  heat_map_ = new HeatMapWidget;
  window_views_ = new QSplitter(Qt::Horizontal);
  window_views_->addWidget(table_);
  window_views_->addWidget(heat_map_);
  window_views_->setChildrenCollapsible(false);
  window_layout->addWidget(window_views_, 1);
  tabs_->addTab(window_page, tr("&Values"));
  window_pending_ = new QTimer(this);
  window_pending_->setSingleShot(true);
  window_pending_->setInterval(kWindowPendingMs);
  connect(window_pending_, &QTimer::timeout, this, [this] { showWindowMessage(tr("Reading values…")); });
  auto* copy = new QAction(tr("&Copy values"), table_);
  copy->setShortcut(QKeySequence::Copy);
  copy->setShortcutContext(Qt::WidgetShortcut);
  connect(copy, &QAction::triggered, this, &TensorPanel::copySelection);
  table_->addAction(copy);
  table_->setContextMenuPolicy(Qt::ActionsContextMenu);
  layout->addWidget(tabs_, 1);

  connect(job_.get(), &TensorJob::statsProgress, stats_, &StatsPane::setProgress);
  connect(job_.get(), &TensorJob::statsReady, this, [this](const model::TensorStats& s) {
    stats_->showStats(s);
    emit statsShown();
  });
  connect(job_.get(), &TensorJob::statsFailed, this,
          [this](const QString& message) { stats_->showMessage(message, true); });
  connect(job_.get(), &TensorJob::windowReady, this,
          [this](const model::WindowValues& v, const model::Window& w) {
            const io::TensorInfo* t = tensor();
            if (!t) return;
            const int rank = static_cast<int>(t->shape.size());
            window_pending_->stop();
            window_message_->hide();
            values_->setWindow(v, w, rank, t->dtype);
            heat_map_->setWindow(v, w, rank, t->dtype);
            emit windowShown();
          });
  connect(job_.get(), &TensorJob::windowFailed, this, [this](const QString& message) {
    window_pending_->stop();
    showWindowMessage(message);
  });
  connect(heat_map_, &HeatMapWidget::cellClicked, this, [this](int row, int col) {
    const QModelIndex cell = values_->index(row, col);
    table_->setCurrentIndex(cell);
    table_->scrollTo(cell);
  });
  connect(stats_, &StatsPane::stopRequested, this, [this] {
    job_->cancelStats();
    stats_->showMessage(tr("Statistics stopped before they were complete."), true);
  });
  connect(stats_, &StatsPane::retryRequested, this, &TensorPanel::requestStats);
  connect(controls_, &WindowControls::windowChanged, this, &TensorPanel::requestWindow);

  clear();
}

TensorPanel::~TensorPanel() {
  // Stop and join the workers while every widget still exists; queued
  // deliveries addressed to the job die with it.
  job_.reset();
}

void TensorPanel::setTensor(std::shared_ptr<const io::Checkpoint> checkpoint, std::size_t index) {
  if (!checkpoint || index >= checkpoint->tensors.size()) {
    clear();
    return;
  }
  // The tree re-reports its current row after a filter or sort; the work
  // done or under way for it stays (a failed attempt is tried again).
  if (checkpoint == checkpoint_ && index == index_ && (stats_->stats() || stats_->computing())) return;
  job_->cancel();
  checkpoint_ = std::move(checkpoint);
  index_ = index;
  const io::TensorInfo& t = checkpoint_->tensors[index_];

  const QString name = QString::fromStdString(t.name);
  name_->setText(name.isEmpty() ? tr("(unnamed tensor)") : name);
  name_->setToolTip(name);
  QString html = QStringLiteral("<table cellspacing='0' cellpadding='1'>");
  QString tooltip;
  for (const DescriptionRow& row : describeTensor(t)) {
    html += QStringLiteral("<tr><td style='padding-right:12px'>%1</td><td>%2</td></tr>")
                .arg(row.label.toHtmlEscaped(), row.text.toHtmlEscaped());
    if (!row.tooltip.isEmpty()) tooltip = row.tooltip;
  }
  html += QStringLiteral("</table>");
  details_->setText(html);
  details_->setToolTip(tooltip);

  values_->clear();
  heat_map_->clear();
  controls_->setShape(t.shape);
  stats_->setNote(valuesNote(t));
  window_pending_->stop();
  if (!t.data) {
    const QString why = unreadableText(t);
    stats_->showMessage(why, false);
    controls_->setEnabled(false);
    showWindowMessage(why);
    return;
  }
  controls_->setEnabled(true);
  window_message_->hide();
  requestStats();
  requestWindow();
}

void TensorPanel::clear() {
  job_->cancel();
  window_pending_->stop();
  checkpoint_.reset();
  index_ = 0;
  name_->setText(tr("No tensor selected"));
  name_->setToolTip(QString());
  details_->setText(tr("Select a tensor to see its statistics and values."));
  details_->setToolTip(QString());
  stats_->clear();
  controls_->clear();
  controls_->setEnabled(false);
  window_message_->hide();
  values_->clear();
  heat_map_->clear();
}

const io::TensorInfo* TensorPanel::tensor() const {
  return checkpoint_ ? &checkpoint_->tensors[index_] : nullptr;
}

QString TensorPanel::descriptionText() const {
  const io::TensorInfo* t = tensor();
  if (!t) return {};
  QString text = QString::fromStdString(t->name) + QLatin1Char('\n');
  for (const DescriptionRow& row : describeTensor(*t)) text += row.label + QStringLiteral(": ") + row.text + QLatin1Char('\n');
  return text;
}

const std::optional<model::TensorStats>& TensorPanel::stats() const { return stats_->stats(); }

QString TensorPanel::statsMessage() const { return stats_->message(); }

QString TensorPanel::windowMessage() const { return window_message_->isHidden() ? QString() : window_message_->text(); }

bool TensorPanel::busy() const { return job_->statsBusy() || job_->windowBusy(); }

void TensorPanel::setCurrentPage(Page page) { tabs_->setCurrentIndex(page); }

HistogramWidget* TensorPanel::histogram() const { return stats_->histogram(); }

void TensorPanel::resizeEvent(QResizeEvent* event) {
  QWidget::resizeEvent(event);
  window_views_->setOrientation(event->size().width() >= kSideBySideWidth ? Qt::Horizontal : Qt::Vertical);
}

void TensorPanel::requestStats() {
  if (!checkpoint_ || !tensor()->data) return;
  stats_->showComputing();
  job_->requestStats(checkpoint_, index_, kHistogramBins);
}

void TensorPanel::requestWindow() {
  if (!checkpoint_ || !tensor()->data) return;
  job_->requestWindow(checkpoint_, index_, controls_->window());
  window_pending_->start();
}

QString TensorPanel::selectedValuesText() const {
  const QModelIndexList cells = table_->selectionModel()->selectedIndexes();
  const io::TensorInfo* t = tensor();
  if (cells.isEmpty() || !t) return {};
  int top = INT_MAX, left = INT_MAX, bottom = -1, right = -1;
  for (const QModelIndex& i : cells) {
    top = std::min(top, i.row());
    bottom = std::max(bottom, i.row());
    left = std::min(left, i.column());
    right = std::max(right, i.column());
  }
  // A rectangle of cells, blanks where the selection has holes, so it
  // pastes into a spreadsheet in the shape it had here.
  QStringList lines;
  for (int r = top; r <= bottom; ++r) {
    QStringList row;
    for (int c = left; c <= right; ++c)
      row << (table_->selectionModel()->isSelected(values_->index(r, c)) ? preciseValueText(values_->value(r, c), t->dtype)
                                                                        : QString());
    lines << row.join(QLatin1Char('\t'));
  }
  return lines.join(QLatin1Char('\n')) + QLatin1Char('\n');
}

void TensorPanel::copySelection() {
  const QString text = selectedValuesText();
  if (!text.isEmpty()) QGuiApplication::clipboard()->setText(text);
}

void TensorPanel::showWindowMessage(const QString& text) {
  values_->clear();
  heat_map_->clear();
  window_message_->setText(text);
  window_message_->show();
}

}  // namespace ckpt::ui
