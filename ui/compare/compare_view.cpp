#include "ui/compare/compare_view.h"

#include <QEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPainter>
#include <QPixmap>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollBar>
#include <QStackedWidget>
#include <QStyle>
#include <QTableView>
#include <QToolButton>
#include <QVBoxLayout>

#include <algorithm>
#include <exception>
#include <string_view>
#include <unordered_map>

#include "io/error.h"
#include "io/open.h"
#include "ui/compare/compare_filter_proxy.h"
#include "ui/compare/compare_model.h"
#include "ui/compare/side_divider_delegate.h"

namespace ckpt::ui {

namespace {

QString fromStd(std::string_view s) { return QString::fromUtf8(s.data(), static_cast<qsizetype>(s.size())); }

// A core error about no file (a name map) reads best as its bare sentence.
QString errorMessage(const std::exception& e) {
  if (const auto* io_error = dynamic_cast<const io::Error*>(&e); io_error != nullptr && io_error->file().empty())
    return fromStd(io_error->sentence());
  return QString::fromUtf8(e.what());
}

QString plural(std::size_t n, const QString& one, const QString& many) {
  return QStringLiteral("%1 %2").arg(n).arg(n == 1 ? one : many);
}

bool isIdentity(const model::NameMap& map) { return map.rules.empty() && map.unmapped == model::Unmapped::Keep; }

// The button text; the mnemonics avoid one another and the buttons above.
QString categoryButtonLabel(model::Category c) {
  switch (c) {
    case model::Category::Match: return QObject::tr("Ma&tch");
    case model::Category::Missing: return QObject::tr("&Missing");
    case model::Category::Unexpected: return QObject::tr("&Unexpected");
    case model::Category::ShapeMismatch: return QObject::tr("S&hape");
    case model::Category::LayoutMismatch: return QObject::tr("&Layout");
    case model::Category::DtypeDiffers: return QObject::tr("&Dtype");
  }
  return {};
}

QIcon swatch(const QColor& hue) {
  QPixmap pixmap(12, 12);
  pixmap.fill(Qt::transparent);
  QPainter p(&pixmap);
  p.setPen(hue.darker(140));
  p.setBrush(hue);
  p.drawRect(0, 0, 11, 11);
  return QIcon(pixmap);
}

}  // namespace

CompareView::CompareView(QWidget* parent) : QWidget(parent) {
  model_ = new CompareModel(this);
  proxy_ = new CompareFilterProxy(this);
  proxy_->setSourceModel(model_);

  against_ = new QLabel;
  against_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  auto* open_spec = new QPushButton(tr("Open &spec…"));
  open_spec->setToolTip(tr("A module spec: a JSON file of names and shapes, or any checkpoint's names and shapes."));
  auto* open_checkpoint = new QPushButton(tr("Open &checkpoint…"));
  open_checkpoint->setToolTip(tr("A second checkpoint: names and shapes are compared, and the values of tensors in both."));
  connect(open_spec, &QPushButton::clicked, this, &CompareView::chooseSpec);
  connect(open_checkpoint, &QPushButton::clicked, this, &CompareView::chooseCheckpoint);
  auto* top = new QHBoxLayout;
  top->addWidget(against_, 1);
  top->addWidget(open_spec);
  top->addWidget(open_checkpoint);

  verdict_ = new QLabel;
  verdict_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  QFont bold = verdict_->font();
  bold.setBold(true);
  bold.setPointSizeF(bold.pointSizeF() * 1.15);
  verdict_->setFont(bold);
  progress_label_ = new QLabel;
  progress_ = new QProgressBar;
  progress_->setMaximumWidth(160);
  progress_->setFormat(tr("%v / %m"));
  progress_->hide();
  auto* verdict_row = new QHBoxLayout;
  verdict_row->addWidget(verdict_, 1);
  verdict_row->addWidget(progress_label_);
  verdict_row->addWidget(progress_);

  left_info_ = new QLabel;
  left_info_->setTextInteractionFlags(Qt::TextSelectableByMouse);

  error_box_ = new QWidget;
  auto* error_icon = new QLabel;
  const int icon_size = style()->pixelMetric(QStyle::PM_SmallIconSize, nullptr, this);
  error_icon->setPixmap(style()->standardIcon(QStyle::SP_MessageBoxWarning, nullptr, this).pixmap(icon_size, icon_size));
  error_icon->setAlignment(Qt::AlignTop);
  error_ = new QLabel;
  error_->setWordWrap(true);
  error_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  auto* error_layout = new QHBoxLayout(error_box_);
  error_layout->setContentsMargins(0, 0, 0, 0);
  error_layout->addWidget(error_icon);
  error_layout->addWidget(error_, 1);
  error_box_->hide();

  filter_row_ = new QWidget;
  auto* chips = new QHBoxLayout(filter_row_);
  chips->setContentsMargins(0, 0, 0, 0);
  chips->addWidget(new QLabel(tr("Show:")));
  for (std::size_t k = 0; k < kCategories.size(); ++k) {
    const model::Category c = kCategories[k];
    auto* b = new QToolButton;
    b->setCheckable(true);
    b->setIcon(swatch(categoryHue(c)));
    b->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    b->setObjectName(QStringLiteral("category-%1").arg(fromStd(model::category_name(c))));
    b->setToolTip(categoryDescription(c) + QLatin1Char('\n') +
                  tr("Checked buttons pick the rows shown; with none checked, every row is shown."));
    connect(b, &QToolButton::toggled, this, &CompareView::applyCategoryButtons);
    category_buttons_[k] = b;
    chips->addWidget(b);
  }
  chips->addStretch(1);
  auto* filter_label = new QLabel(tr("F&ilter:"));
  filter_ = new QLineEdit;
  filter_->setPlaceholderText(tr("name, e.g. layers.*.conv"));
  filter_->setClearButtonEnabled(true);
  filter_->setMinimumWidth(220);
  filter_label->setBuddy(filter_);
  connect(filter_, &QLineEdit::textChanged, proxy_, &CompareFilterProxy::setPattern);
  chips->addWidget(filter_label);
  chips->addWidget(filter_);

  table_ = new QTableView;
  table_->setModel(proxy_);
  table_->verticalHeader()->hide();
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setSelectionMode(QAbstractItemView::SingleSelection);
  table_->setWordWrap(false);
  table_->setTextElideMode(Qt::ElideMiddle);
  table_->setShowGrid(false);
  // No sort indicator: rows stay in the diff's order (spec order, then unexpected) until a header is clicked.
  table_->horizontalHeader()->setSortIndicator(-1, Qt::AscendingOrder);
  table_->setSortingEnabled(true);
  QHeaderView* header = table_->horizontalHeader();
  header->setHighlightSections(false);
  const std::pair<int, int> widths[] = {
      {CompareModel::CategoryColumn, 115}, {CompareModel::LeftNameColumn, 230},  {CompareModel::LeftShapeColumn, 110},
      {CompareModel::LeftDTypeColumn, 75}, {CompareModel::RightNameColumn, 230}, {CompareModel::RightShapeColumn, 110},
      {CompareModel::RightDTypeColumn, 95}, {CompareModel::NoteColumn, 190},     {CompareModel::AgreementColumn, 220}};
  for (const auto& [column, width] : widths) header->resizeSection(column, width);
  // The note takes the slack, so the agreement column keeps its width when it is shown.
  header->setSectionResizeMode(CompareModel::NoteColumn, QHeaderView::Stretch);
  table_->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
  table_->verticalHeader()->setDefaultSectionSize(table_->fontMetrics().height() + 8);
  auto* divider = new SideDividerDelegate(table_);
  table_->setItemDelegateForColumn(CompareModel::RightNameColumn, divider);
  table_->setItemDelegateForColumn(CompareModel::NoteColumn, divider);

  placeholder_ = new QLabel;
  placeholder_->setWordWrap(true);
  placeholder_->setAlignment(Qt::AlignCenter);
  placeholder_->setMargin(24);
  stack_ = new QStackedWidget;
  stack_->addWidget(placeholder_);
  stack_->addWidget(table_);

  auto* layout = new QVBoxLayout(this);
  layout->addLayout(top);
  layout->addLayout(verdict_row);
  layout->addWidget(left_info_);
  layout->addWidget(error_box_);
  layout->addWidget(filter_row_);
  layout->addWidget(stack_, 1);

  applyPalette();
  recompute();
}

CompareView::~CompareView() {
  // Cancel everything first so the threads wind down together, then join.
  if (job_) job_->cancel();
  for (auto& j : retiring_) j->cancel();
  job_.reset();
  retiring_.clear();
  model_->clear();
}

void CompareView::setCheckpoint(std::shared_ptr<const io::Checkpoint> left) {
  left_ = std::move(left);
  recompute();
}

void CompareView::setMap(const model::NameMap& map) {
  map_ = map;
  recompute();
}

bool CompareView::loadSpec(const QString& path) {
  return loadRight(path, tr("Could not load the spec %1: %2"), [&path] {
    return std::pair{std::shared_ptr<const io::Checkpoint>(), model::load_spec(path.toStdString())};
  });
}

bool CompareView::loadCheckpoint(const QString& path) {
  return loadRight(path, tr("Could not open the checkpoint %1: %2"), [&path] {
    // Headers only: tensor data stay in the file until the agreement job streams them.
    auto other = std::make_shared<const io::Checkpoint>(io::open_checkpoint(path.toStdString()));
    model::ModuleSpec spec = model::spec_from_tensors(other->tensors, path.toStdString());
    return std::pair{std::shared_ptr<const io::Checkpoint>(std::move(other)), std::move(spec)};
  });
}

bool CompareView::loadRight(const QString& path, const QString& failure, const RightLoader& load) {
  try {
    auto [checkpoint, spec] = load();
    right_ = std::move(checkpoint);
    right_path_ = path;
    spec_ = std::move(spec);
    right_label_ = QFileInfo(path).fileName();
  } catch (const std::exception& e) {
    // The previous right-hand side stays; the message says what failed.
    load_error_ = failure.arg(QFileInfo(path).fileName(), errorMessage(e));
    updateError();
    return false;
  }
  load_error_.clear();
  recompute();
  emit specChanged();
  return true;
}

void CompareView::setSpec(const model::ModuleSpec& spec, const QString& label) {
  right_.reset();
  right_path_ = fromStd(spec.source);
  spec_ = spec;
  right_label_ = label;
  load_error_.clear();
  recompute();
  emit specChanged();
}

const model::ModuleSpec* CompareView::spec() const { return spec_ ? &*spec_ : nullptr; }

const model::SpecDiff* CompareView::diff() const { return diff_ ? &*diff_ : nullptr; }

QString CompareView::verdictText() const { return verdict_->text(); }

QString CompareView::againstText() const { return against_->text(); }

QString CompareView::errorText() const { return error_box_->isHidden() ? QString() : error_->text(); }

QAbstractButton* CompareView::categoryButton(model::Category c) const {
  for (std::size_t k = 0; k < kCategories.size(); ++k)
    if (kCategories[k] == c) return category_buttons_[k];
  return nullptr;
}

void CompareView::setCategoryFilter(const std::vector<model::Category>& shown) {
  for (std::size_t k = 0; k < kCategories.size(); ++k) {
    const QSignalBlocker block(category_buttons_[k]);
    category_buttons_[k]->setChecked(std::find(shown.begin(), shown.end(), kCategories[k]) != shown.end());
  }
  applyCategoryButtons();
}

void CompareView::setTextFilter(const QString& pattern) { filter_->setText(pattern); }

void CompareView::changeEvent(QEvent* event) {
  if (event->type() == QEvent::PaletteChange) applyPalette();
  QWidget::changeEvent(event);
}

void CompareView::chooseSpec() {
  // open(), not exec(): a nested event loop would stall scripted runs.
  auto* dialog = new QFileDialog(this, tr("Open module spec"), QString(),
                                 tr("Module specs (*.json);;Checkpoints (*.safetensors *.gguf *.npz *.npy *.pt *.pth *.bin *.ckpt);;All files (*)"));
  dialog->setFileMode(QFileDialog::ExistingFile);
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  connect(dialog, &QFileDialog::fileSelected, this, [this](const QString& path) { loadSpec(path); });
  dialog->open();
}

void CompareView::chooseCheckpoint() {
  auto* dialog = new QFileDialog(this, tr("Open checkpoint to compare with"), QString(),
                                 tr("Checkpoints (*.safetensors *.gguf *.npz *.npy *.pt *.pth *.bin *.ckpt *.json);;All files (*)"));
  dialog->setFileMode(QFileDialog::ExistingFile);
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  connect(dialog, &QFileDialog::fileSelected, this, [this](const QString& path) { loadCheckpoint(path); });
  dialog->open();
}

void CompareView::recompute() {
  stopAgreement();
  // A map edit recomputes everything; keep the user's place in the table.
  const int scroll = table_->verticalScrollBar()->value();
  std::string current;
  if (const model::DiffRow* r = model_->diffRow(proxy_->mapToSource(table_->currentIndex()))) current = r->name;

  model_->clear();
  diff_.reset();
  report_.reset();
  have_.clear();
  map_error_.clear();
  if (left_ && spec_) {
    have_ = left_->tensors;
    if (!isIdentity(map_)) {
      model::MapReport report;
      try {
        have_ = model::apply_map(map_, left_->tensors, &report);
        report_ = std::move(report);
      } catch (const std::exception& e) {
        // The core's sentence already says "the name map cannot be applied: …"; others need the context.
        map_error_ = errorMessage(e);
        if (!map_error_.contains(QLatin1String("name map"))) map_error_ = tr("The name map is not applied: %1").arg(map_error_);
        if (!map_error_.isEmpty()) map_error_[0] = map_error_[0].toUpper();
      }
    }
    try {
      diff_ = model::diff(have_, *spec_);
    } catch (const std::exception& e) {
      load_error_ = tr("Could not compare: %1").arg(errorMessage(e));
    }
  }
  if (diff_) model_->setDiff(&*diff_, report_ ? &*report_ : nullptr);
  table_->setColumnHidden(CompareModel::AgreementColumn, right_ == nullptr);

  if (!current.empty()) {
    for (int row = 0; row < model_->rowCount(); ++row) {
      if (diff_->rows[static_cast<std::size_t>(row)].name != current) continue;
      const QModelIndex at = proxy_->mapFromSource(model_->index(row, 0));
      if (at.isValid()) table_->setCurrentIndex(at);
      break;
    }
  }
  table_->verticalScrollBar()->setValue(scroll);

  updateHeader();
  updateCounts();
  updateError();
  emit diffChanged();
  if (diff_ && right_) startAgreement();
}

void CompareView::startAgreement() {
  std::unordered_map<std::string_view, const io::TensorInfo*> have_by_name, want_by_name;
  // The first of a repeated name is the one the diff paired (model::diff does the same).
  for (const auto& t : have_) have_by_name.emplace(t.name, &t);
  for (const auto& t : right_->tensors) want_by_name.emplace(t.name, &t);
  std::vector<AgreementJob::Pair> pairs;
  for (std::size_t k = 0; k < diff_->rows.size(); ++k) {
    const model::DiffRow& r = diff_->rows[k];
    if (r.category != model::Category::Match && r.category != model::Category::DtypeDiffers &&
        r.category != model::Category::LayoutMismatch)
      continue;
    const auto a = have_by_name.find(r.name), b = want_by_name.find(r.name);
    if (a == have_by_name.end() || b == want_by_name.end()) continue;
    pairs.push_back({k, *a->second, *b->second});
    model_->setAgreementState(static_cast<int>(k), CompareModel::AgreementState::Pending);
  }
  agreement_total_ = pairs.size();
  agreement_done_ = 0;
  if (pairs.empty()) {
    progress_label_->setText(tr("no tensors in both to compare values of"));
    emit agreementReady();
    return;
  }
  const std::uint64_t generation = generation_;
  // The job's thread only posts to this object; the destructor joins it before `this` goes.
  job_ = std::make_unique<AgreementJob>(
      std::move(pairs),
      [this, generation](AgreementJob::Result result) {
        QMetaObject::invokeMethod(
            this, [this, generation, result = std::move(result)]() mutable { onAgreement(generation, std::move(result)); },
            Qt::QueuedConnection);
      },
      [this, generation](bool cancelled) {
        QMetaObject::invokeMethod(this, [this, generation, cancelled] { onAgreementFinished(generation, cancelled); },
                                  Qt::QueuedConnection);
      });
  progress_label_->setText(tr("computing agreement…"));
  progress_->setRange(0, static_cast<int>(agreement_total_));
  progress_->setValue(0);
  progress_->show();
}

void CompareView::stopAgreement() {
  ++generation_;
  if (job_) {
    job_->cancel();
    retiring_.push_back(std::move(job_));
  }
  reapJobs();
  agreement_total_ = agreement_done_ = 0;
  progress_->hide();
  progress_label_->clear();
}

void CompareView::reapJobs() {
  std::erase_if(retiring_, [](const std::unique_ptr<AgreementJob>& j) { return j->finished(); });
}

void CompareView::onAgreement(std::uint64_t generation, AgreementJob::Result result) {
  if (generation != generation_ || !diff_ || result.row >= diff_->rows.size()) return;
  diff_->rows[result.row].agreement = result.agreement;
  const int row = static_cast<int>(result.row);
  if (!result.error.empty()) {
    model_->setAgreementState(row, CompareModel::AgreementState::Failed, QString::fromStdString(result.error));
  } else if (!result.agreement) {
    const bool layout = diff_->rows[result.row].category == model::Category::LayoutMismatch;
    model_->setAgreementState(
        row, CompareModel::AgreementState::NotCompared,
        layout ? tr("A layout mismatch is compared only when the checkpoint's data lie whole and in order in the file; "
                    "a name map that permutes the tensor lets it be compared in the wanted layout.")
               : tr("The values of this pair cannot be read (a dtype this build does not decode, or complex against real)."));
  } else {
    model_->setAgreementState(row, CompareModel::AgreementState::Ready);
  }
  ++agreement_done_;
  progress_->setValue(static_cast<int>(agreement_done_));
}

void CompareView::onAgreementFinished(std::uint64_t generation, bool cancelled) {
  reapJobs();
  if (generation != generation_ || cancelled) return;
  job_.reset();  // finished: the join returns at once
  progress_->hide();
  std::size_t compared = 0, identical = 0;
  for (const auto& r : diff_->rows) {
    if (!r.agreement) continue;
    ++compared;
    identical += r.agreement->identical ? 1 : 0;
  }
  progress_label_->setText(tr("values: %1 compared, %2 identical").arg(compared).arg(identical));
  emit agreementReady();
}

void CompareView::applyCategoryButtons() {
  std::vector<model::Category> shown;
  for (std::size_t k = 0; k < kCategories.size(); ++k)
    if (category_buttons_[k]->isChecked()) shown.push_back(kCategories[k]);
  proxy_->setCategories(std::move(shown));
}

void CompareView::updateHeader() {
  if (spec_) {
    const QString detail = right_ ? tr("%1, %2").arg(fromStd(io::format_name(right_->format)),
                                                      plural(right_->tensors.size(), tr("tensor"), tr("tensors")))
                                  : plural(spec_->params.size(), tr("parameter"), tr("parameters"));
    against_->setText(tr("Against: <b>%1</b> (%2)").arg(right_label_.toHtmlEscaped(), detail.toHtmlEscaped()));
    against_->setToolTip(right_path_);
  } else {
    against_->setText(tr("Against: nothing yet"));
    against_->setToolTip({});
  }

  if (left_) {
    QString text = tr("Checkpoint: %1 (%2)").arg(QFileInfo(QString::fromStdString(left_->path)).fileName(),
                                                 plural(left_->tensors.size(), tr("tensor"), tr("tensors")));
    if (report_) {
      std::size_t renamed = 0, relaid = 0, dropped = 0;
      for (const auto& e : report_->entries) {
        if (e.dropped) {
          ++dropped;
          continue;
        }
        renamed += e.source != e.target ? 1 : 0;
        relaid += e.transforms.empty() ? 0 : 1;
      }
      QStringList did;
      if (renamed > 0) did << tr("%1 renamed").arg(renamed);
      if (relaid > 0) did << tr("%1 transformed").arg(relaid);
      if (dropped > 0) did << tr("%1 dropped").arg(dropped);
      text += tr(" · name map: %1").arg(did.isEmpty() ? tr("changes nothing") : did.join(QLatin1String(", ")));
    } else if (!map_error_.isEmpty()) {
      text += tr(" · name map not applied");
    }
    left_info_->setText(text);
    left_info_->setToolTip(QString::fromStdString(left_->path));
  } else {
    left_info_->setText(tr("Checkpoint: none open"));
    left_info_->setToolTip({});
  }

  const bool ok = diff_ && diff_->strict_load_ok();
  if (diff_) verdict_->setText(tr("Strict load: %1").arg(fromStd(diff_->verdict())));
  else if (!left_) verdict_->setText(tr("No checkpoint open"));
  else verdict_->setText(tr("Nothing to compare against"));
  QPalette verdict_palette = verdict_->palette();
  verdict_palette.setColor(QPalette::WindowText,
                           diff_ ? verdictColor(ok, palette()) : palette().color(QPalette::WindowText));
  verdict_->setPalette(verdict_palette);

  if (!left_) {
    placeholder_->setText(tr("No checkpoint is open. Open one first; this view then compares it with a module spec "
                             "or with a second checkpoint."));
  } else {
    placeholder_->setText(tr("Compare this checkpoint with a module spec (a JSON file of names and shapes, or any "
                             "checkpoint's) or with a second checkpoint, whose values are compared too.\n\n"
                             "Use “Open spec…” or “Open checkpoint…” above."));
  }
  stack_->setCurrentWidget(diff_ ? static_cast<QWidget*>(table_) : placeholder_);
  filter_row_->setEnabled(diff_.has_value());
}

void CompareView::updateCounts() {
  for (std::size_t k = 0; k < kCategories.size(); ++k) {
    const std::size_t n = diff_ ? diff_->count(kCategories[k]) : 0;
    category_buttons_[k]->setText(QStringLiteral("%1 %2").arg(categoryButtonLabel(kCategories[k])).arg(n));
  }
}

void CompareView::updateError() {
  QStringList parts;
  if (!load_error_.isEmpty()) parts << load_error_;
  if (!map_error_.isEmpty()) parts << map_error_;
  error_->setText(parts.join(QLatin1Char('\n')));
  error_box_->setVisible(!parts.isEmpty());
}

void CompareView::applyPalette() {
  model_->setPalette(palette());
  QPalette error_palette = error_->palette();
  error_palette.setColor(QPalette::WindowText, verdictColor(false, palette()));
  error_->setPalette(error_palette);
  updateHeader();
}

}  // namespace ckpt::ui
