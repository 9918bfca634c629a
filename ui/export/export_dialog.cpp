#include "ui/export/export_dialog.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDesktopServices>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QFrame>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QStackedWidget>
#include <QStyle>
#include <QUrl>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <utility>

#include "io/convert.h"
#include "io/error.h"
#include "ui/export/conversion_job.h"
#include "ui/export/feedback.h"
#include "ui/export/output_naming.h"
#include "ui/param_tree_model.h"

namespace ckpt::ui {

namespace {

constexpr double kBytesPerGB = 1e9;  // shard sizes in Hugging Face's decimal units ("5GB")

QString sourceSummary(const io::Checkpoint& ck) {
  const std::size_t n = ck.tensors.size();
  return QStringLiteral("%1 — %2 · %3 · %4")
      .arg(QFileInfo(QString::fromStdString(ck.path)).fileName(),
           n == 1 ? ExportDialog::tr("1 tensor") : ExportDialog::tr("%1 tensors").arg(n), humanBytes(ck.total_bytes()),
           QString::fromStdString(ck.format_detail));
}

}  // namespace

ExportDialog::ExportDialog(std::shared_ptr<const io::Checkpoint> checkpoint, model::NameMap map, QWidget* parent)
    : QDialog(parent), checkpoint_(std::move(checkpoint)), map_(std::move(map)), job_(std::make_unique<ConversionJob>()) {
  const QString source = checkpoint_ ? QString::fromStdString(checkpoint_->path) : QString();
  setWindowTitle(tr("Export %1").arg(QFileInfo(source).fileName()));

  auto* summary = new QLabel(checkpoint_ ? sourceSummary(*checkpoint_) : tr("No checkpoint"));
  summary->setTextInteractionFlags(Qt::TextSelectableByMouse);
  summary->setWordWrap(true);

  format_ = new QComboBox;
  format_->setObjectName(QStringLiteral("formatCombo"));
  for (io::Format f : kExportFormats)
    format_->addItem(QStringLiteral("%1  (%2)").arg(formatLabel(f), formatExtension(f)), static_cast<int>(f));

  options_box_ = new QGroupBox;
  auto* options_layout = new QVBoxLayout(options_box_);
  options_layout->addWidget(buildOptionsPages());

  dtype_ = new QComboBox;
  dtype_->setObjectName(QStringLiteral("dtypeCombo"));
  dtype_->addItem(tr("Keep each tensor's dtype"), -1);
  for (int i = 0; i < io::kDTypeCount; ++i) {
    const auto t = static_cast<io::DType>(i);
    if (io::is_cast_target(t)) dtype_->addItem(QString::fromUtf8(io::name(t).data(), static_cast<qsizetype>(io::name(t).size())), i);
  }
  dtype_->setToolTip(tr("Floating and quantized tensors are cast (quantized ones dequantized); integer and bool tensors keep their dtype."));

  apply_map_ = new QCheckBox;
  apply_map_->setObjectName(QStringLiteral("applyMapCheck"));
  const auto rules = map_.rules.size();
  if (rules == 0) {
    apply_map_->setText(tr("Apply name map (no map loaded)"));
    apply_map_->setEnabled(false);
  } else {
    apply_map_->setText(rules == 1 ? tr("Apply name map (1 rule)") : tr("Apply name map (%1 rules)").arg(rules));
    apply_map_->setChecked(true);
  }
  apply_map_->setToolTip(tr("Rename, drop and re-lay-out tensors with the current name map before writing."));

  output_ = new QLineEdit;
  output_->setObjectName(QStringLiteral("outputEdit"));
  output_->setClearButtonEnabled(true);
  output_->setMinimumWidth(380);
  browse_ = new QPushButton(tr("&Browse…"));
  auto* output_row = new QHBoxLayout;
  output_row->addWidget(output_, 1);
  output_row->addWidget(browse_);
  output_hint_ = new QLabel;
  output_hint_->setWordWrap(true);
  output_hint_->setVisible(false);

  auto* form = new QFormLayout;
  form->addRow(tr("&Format:"), format_);
  form->addRow(options_box_);
  form->addRow(tr("&Data type:"), dtype_);
  form->addRow(tr("Name map:"), apply_map_);
  // A row holding a layout gets no buddy by itself, and its "&" would show.
  auto* output_label = new QLabel(tr("&Output:"));
  output_label->setBuddy(output_);
  form->addRow(output_label, output_row);
  form->addRow(QString(), output_hint_);

  progress_ = new QProgressBar;
  progress_->setObjectName(QStringLiteral("progressBar"));
  progress_->setRange(0, kProgressSteps);
  progress_->setValue(0);
  progress_->setVisible(false);

  message_frame_ = new QFrame;
  message_frame_->setFrameShape(QFrame::StyledPanel);
  message_frame_->setAutoFillBackground(true);
  message_icon_ = new QLabel;
  message_icon_->setAlignment(Qt::AlignTop);
  message_ = new QLabel;
  message_->setObjectName(QStringLiteral("messageLabel"));
  message_->setWordWrap(true);
  message_->setTextInteractionFlags(Qt::TextSelectableByMouse | Qt::TextSelectableByKeyboard);
  open_result_ = new QPushButton(tr("&Open result"));
  open_result_->setObjectName(QStringLiteral("openResultButton"));
  show_folder_ = new QPushButton(tr("Show in &folder"));
  show_folder_->setObjectName(QStringLiteral("showInFolderButton"));
  auto* result_buttons = new QHBoxLayout;
  result_buttons->addStretch(1);
  result_buttons->addWidget(open_result_);
  result_buttons->addWidget(show_folder_);
  auto* message_text = new QVBoxLayout;
  message_text->addWidget(message_);
  message_text->addLayout(result_buttons);
  auto* message_layout = new QHBoxLayout(message_frame_);
  message_layout->addWidget(message_icon_);
  message_layout->addLayout(message_text, 1);
  message_frame_->setVisible(false);

  buttons_ = new QDialogButtonBox;
  export_ = buttons_->addButton(tr("&Export"), QDialogButtonBox::AcceptRole);
  export_->setObjectName(QStringLiteral("exportButton"));
  export_->setDefault(true);
  close_ = buttons_->addButton(QDialogButtonBox::Close);
  close_->setObjectName(QStringLiteral("closeButton"));

  auto* layout = new QVBoxLayout(this);
  layout->addWidget(summary);
  layout->addLayout(form);
  layout->addWidget(progress_);
  layout->addWidget(message_frame_);
  layout->addStretch(1);
  layout->addSpacing(6);
  layout->addWidget(buttons_);

  connect(format_, &QComboBox::currentIndexChanged, this, &ExportDialog::formatChanged);
  connect(apply_map_, &QCheckBox::toggled, this, &ExportDialog::formatChanged);
  connect(output_, &QLineEdit::textEdited, this, [this] { output_edited_ = true; });
  connect(output_, &QLineEdit::textChanged, this, &ExportDialog::outputChanged);
  connect(browse_, &QPushButton::clicked, this, &ExportDialog::browse);
  connect(export_, &QPushButton::clicked, this, &ExportDialog::start);
  connect(buttons_, &QDialogButtonBox::rejected, this, &ExportDialog::reject);
  connect(open_result_, &QPushButton::clicked, this, [this] {
    emit openRequested(result_path_);
    accept();
  });
  connect(show_folder_, &QPushButton::clicked, this, [this] {
    QDesktopServices::openUrl(QUrl::fromLocalFile(QFileInfo(result_path_).absolutePath()));
  });

  connect(job_.get(), &ConversionJob::progress, this, &ExportDialog::showProgress);
  connect(job_.get(), &ConversionJob::finished, this, [this](const QString& path, const QString& summary_text) {
    result_path_ = path;
    setRunning(false);
    showMessage(Tone::Success, tr("Exported to %1\n%2").arg(QFileInfo(path).fileName(), summary_text), true);
    emit exportFinished(path);
  });
  connect(job_.get(), &ConversionJob::failed, this, [this](const QString& text) {
    setRunning(false);
    showMessage(Tone::Error, text, false);
    emit exportFailed(text);
  });
  connect(job_.get(), &ConversionJob::cancelled, this, [this] {
    setRunning(false);
    showMessage(Tone::Info, tr("Export cancelled; nothing was written."), false);
    emit exportCancelled();
  });

  // Start on a format other than the source's: exporting is for changing it.
  int first = 0;
  for (int i = 0; i < format_->count(); ++i)
    if (!checkpoint_ || format_->itemData(i).toInt() != static_cast<int>(checkpoint_->format)) {
      first = i;
      break;
    }
  format_->setCurrentIndex(first);
  formatChanged();
  setRunning(false);
}

ExportDialog::~ExportDialog() {
  // Stop the worker while the widgets its results would touch still exist.
  job_.reset();
}

QWidget* ExportDialog::buildOptionsPages() {
  pages_ = new QStackedWidget;

  auto* st = new QWidget;
  auto* st_form = new QFormLayout(st);
  st_tag_ = new QComboBox;
  st_tag_->addItem(tr("pt — what Hugging Face loaders expect"), static_cast<int>(io::SafetensorsTag::Pt));
  st_tag_->addItem(tr("mlx"), static_cast<int>(io::SafetensorsTag::Mlx));
  st_tag_->addItem(tr("none"), static_cast<int>(io::SafetensorsTag::None));
  st_tag_->setToolTip(tr("The value written as __metadata__[\"format\"]."));
  shard_gb_ = new QDoubleSpinBox;
  shard_gb_->setRange(0, 1000);
  shard_gb_->setDecimals(1);
  shard_gb_->setSingleStep(1);
  shard_gb_->setSuffix(tr(" GB per shard"));
  shard_gb_->setSpecialValueText(tr("One file"));
  shard_gb_->setToolTip(tr("Split into NAME-00001-of-0000N.safetensors shards plus NAME.safetensors.index.json."));
  st_form->addRow(tr("Format &tag:"), st_tag_);
  st_form->addRow(tr("&Shards:"), shard_gb_);
  pages_->addWidget(st);

  auto* gguf = new QWidget;
  auto* gguf_form = new QFormLayout(gguf);
  alignment_ = new QComboBox;
  for (int a = 8; a <= 4096; a *= 2) alignment_->addItem(tr("%1 bytes").arg(a), a);
  alignment_->setCurrentIndex(alignment_->findData(32));
  alignment_->setToolTip(tr("general.alignment: where each tensor's data starts (32 is llama.cpp's default)."));
  gguf_form->addRow(tr("Data &alignment:"), alignment_);
  pages_->addWidget(gguf);

  auto* npz = new QWidget;
  auto* npz_form = new QFormLayout(npz);
  compress_ = new QCheckBox(tr("&Compress members (np.savez_compressed)"));
  level_ = new QSpinBox;
  level_->setRange(1, 9);
  level_->setValue(6);
  level_->setEnabled(false);
  connect(compress_, &QCheckBox::toggled, level_, &QWidget::setEnabled);
  npz_form->addRow(compress_);
  npz_form->addRow(tr("Compression &level:"), level_);
  pages_->addWidget(npz);

  // The notes break their lines themselves: a word-wrapped label in a
  // stacked page is not given its wrapped height when the page changes.
  npy_note_ = new QLabel;
  pages_->addWidget(npy_note_);

  auto* pt_note = new QLabel(tr("A plain state_dict of tensors, which torch.load reads without running code.\n"
                                "Metadata is not written."));
  pages_->addWidget(pt_note);
  return pages_;
}

void ExportDialog::formatChanged() {
  const io::Format f = format();
  // Pages were added in kExportFormats order. Hidden pages are ignored for
  // height, so a one-line page does not keep the room of the tallest.
  for (std::size_t i = 0; i < kExportFormats.size(); ++i) {
    const bool current = kExportFormats[i] == f;
    QWidget* page = pages_->widget(static_cast<int>(i));
    // Only the vertical policy changes: a word-wrapped note keeps its height-for-width.
    QSizePolicy policy = page->sizePolicy();
    policy.setVerticalPolicy(current ? QSizePolicy::Preferred : QSizePolicy::Ignored);
    page->setSizePolicy(policy);
    if (current) pages_->setCurrentIndex(static_cast<int>(i));
  }
  options_box_->setTitle(tr("%1 options").arg(formatLabel(f)));
  if (f == io::Format::Npy && checkpoint_) npy_note_->setText(npyNote());
  const QString source = checkpoint_ ? QString::fromStdString(checkpoint_->path) : QString();
  if (!output_edited_ && !source.isEmpty()) output_->setText(convertedPath(source, f));
  else output_->setText(withExtension(output_->text(), f));
}

QString ExportDialog::npyNote() const {
  std::size_t kept = checkpoint_->tensors.size();
  if (applyMap()) {
    // A map can fail to apply (a rule past its limits, a conflict): the
    // export reports that when started; this note must not throw from a slot.
    try {
      kept = 0;
      for (const auto& e : model::plan_map(map_, checkpoint_->tensors).entries) kept += e.dropped ? 0 : 1;
    } catch (const io::Error& e) {
      return tr("The name map cannot be applied: %1").arg(QString::fromStdString(e.sentence()));
    } catch (const std::exception& e) {
      return tr("The name map cannot be applied: %1").arg(QString::fromUtf8(e.what()));
    }
  }
  if (kept == 1) return tr("A .npy file holds one array, as this checkpoint does.");
  return tr("A .npy file holds one array, but this checkpoint has %1 tensors.\n"
            "Choose NPZ, safetensors or GGUF to keep them all.")
      .arg(kept);
}

void ExportDialog::outputChanged() {
  const QString path = output_->text().trimmed();
  const QString source = checkpoint_ ? QString::fromStdString(checkpoint_->path) : QString();
  QString hint;
  bool usable = !path.isEmpty();
  if (!source.isEmpty() && !path.isEmpty() && sameFile(path, source)) {
    hint = tr("This is the file being exported; choose another name.");
    usable = false;
  } else if (QFileInfo(path).isDir()) {
    hint = tr("This is a folder; add a file name.");
    usable = false;
  } else if (QFileInfo::exists(path) && (result_path_.isEmpty() || !sameFile(path, result_path_))) {
    // Not for the file this dialog has just written: that one is expected there.
    hint = tr("A file of this name exists; it is replaced when the export completes.");
  }
  output_hint_->setText(hint);
  output_hint_->setVisible(!hint.isEmpty());
  export_->setEnabled(usable && !isRunning());
}

void ExportDialog::browse() {
  const io::Format f = format();
  const QString filter = tr("%1 (*%2);;All files (*)").arg(formatLabel(f), formatExtension(f));
  const QString chosen = QFileDialog::getSaveFileName(this, tr("Export to"), output_->text(), filter);
  if (chosen.isEmpty()) return;
  output_edited_ = true;
  output_->setText(chosen);
}

void ExportDialog::setTarget(io::Format format, const QString& outputPath) {
  const int index = format_->findData(static_cast<int>(format));
  if (index >= 0) format_->setCurrentIndex(index);
  output_edited_ = true;
  output_->setText(outputPath);
}

void ExportDialog::setDType(std::optional<io::DType> dtype) {
  const int index = dtype_->findData(dtype ? static_cast<int>(*dtype) : -1);
  dtype_->setCurrentIndex(index >= 0 ? index : 0);
}

void ExportDialog::setWriteOptions(const io::WriteOptions& options) {
  st_tag_->setCurrentIndex(std::max(0, st_tag_->findData(static_cast<int>(options.safetensors_tag))));
  shard_gb_->setValue(static_cast<double>(options.max_shard_bytes) / kBytesPerGB);
  compress_->setChecked(options.compress);
  level_->setValue(options.compression_level);
  const int align = alignment_->findData(static_cast<int>(options.gguf_alignment));
  if (align >= 0) alignment_->setCurrentIndex(align);
  sync_ = options.sync;
}

void ExportDialog::setApplyMap(bool apply) {
  if (apply_map_->isEnabled()) apply_map_->setChecked(apply);
}

io::Format ExportDialog::format() const { return static_cast<io::Format>(format_->currentData().toInt()); }

QString ExportDialog::outputPath() const { return output_->text().trimmed(); }

std::optional<io::DType> ExportDialog::dtype() const {
  const int v = dtype_->currentData().toInt();
  if (v < 0) return std::nullopt;
  return static_cast<io::DType>(v);
}

io::WriteOptions ExportDialog::writeOptions() const {
  io::WriteOptions o;
  o.safetensors_tag = static_cast<io::SafetensorsTag>(st_tag_->currentData().toInt());
  o.max_shard_bytes = static_cast<std::uint64_t>(std::llround(shard_gb_->value() * kBytesPerGB));
  o.compress = compress_->isChecked();
  o.compression_level = level_->value();
  o.gguf_alignment = static_cast<std::uint32_t>(alignment_->currentData().toInt());
  o.sync = sync_;
  return o;
}

bool ExportDialog::applyMap() const { return apply_map_->isEnabled() && apply_map_->isChecked(); }

QString ExportDialog::message() const { return message_->text(); }

bool ExportDialog::isRunning() const { return job_ && job_->isRunning(); }

void ExportDialog::start() {
  if (isRunning() || !checkpoint_) return;
  const QString path = outputPath();
  if (path.isEmpty()) {
    showMessage(Tone::Error, tr("Choose where to write the export."), false);
    return;
  }
  ConversionRequest request;
  request.checkpoint = checkpoint_;
  if (applyMap()) request.map = map_;
  request.format = format();
  request.dtype = dtype();
  request.options = writeOptions();
  request.outputPath = path;
  clearMessage();
  if (!job_->start(std::move(request))) return;
  setRunning(true);
  showProgress(0, checkpoint_->total_bytes(), QString());
}

void ExportDialog::cancel() {
  if (!isRunning()) return;
  job_->cancel();
  progress_->setFormat(tr("Cancelling…"));
}

void ExportDialog::reject() {
  if (isRunning()) {
    cancel();
    return;
  }
  QDialog::reject();
}

void ExportDialog::setRunning(bool running) {
  for (QWidget* w : std::initializer_list<QWidget*>{format_, options_box_, dtype_, output_, browse_})
    w->setEnabled(!running);
  apply_map_->setEnabled(!running && !map_.rules.empty());
  close_->setText(running ? tr("Cancel") : tr("Close"));
  // The bar is shown only while there is something to measure.
  progress_->setVisible(running);
  progress_->setTextVisible(running);
  if (running) progress_->setValue(0);
  outputChanged();
}

void ExportDialog::showProgress(quint64 done, quint64 total, const QString& tensor) {
  progress_->setValue(progressValue(done, total));
  QString text = QStringLiteral("%1 / %2").arg(humanBytes(done), humanBytes(total));
  if (!tensor.isEmpty()) {
    // Long names keep both ends ("model.layers.31…q_proj.weight") so the layer stays readable.
    const QString prefix = text + QStringLiteral(" — ");
    const int room = progress_->width() - progress_->fontMetrics().horizontalAdvance(prefix) - 24;
    text = prefix + progress_->fontMetrics().elidedText(tensor, Qt::ElideMiddle, std::max(room, 60));
  }
  // QProgressBar expands %p, %v and %m in its format and has no escape: a
  // zero-width space after each '%' keeps a name like "x%v" as it is.
  progress_->setFormat(text.replace(QLatin1Char('%'), QStringLiteral("%\u200B")));
}

void ExportDialog::showMessage(Tone tone, const QString& text, bool offerResult) {
  QColor accent;
  QStyle::StandardPixmap icon = QStyle::SP_MessageBoxInformation;
  switch (tone) {
    case Tone::Info: accent = palette().color(QPalette::Highlight); break;
    case Tone::Error:
      accent = errorAccent();
      icon = QStyle::SP_MessageBoxCritical;
      break;
    case Tone::Success:
      accent = successAccent();
      icon = QStyle::SP_DialogApplyButton;
      break;
  }
  // A tint of the accent over the base colour reads on light and dark themes alike.
  QPalette pal = message_frame_->palette();
  pal.setColor(QPalette::Window, tinted(accent, palette().color(QPalette::Base), 0.18));
  pal.setColor(QPalette::WindowText, palette().color(QPalette::Text));
  message_frame_->setPalette(pal);
  const int size = style()->pixelMetric(QStyle::PM_MessageBoxIconSize, nullptr, this);
  message_icon_->setPixmap(style()->standardIcon(icon, nullptr, this).pixmap(size, size));
  message_->setText(text);
  open_result_->setVisible(offerResult);
  show_folder_->setVisible(offerResult);
  message_frame_->setVisible(true);
  if (offerResult) open_result_->setFocus();
}

void ExportDialog::clearMessage() {
  message_->clear();
  message_frame_->setVisible(false);
  result_path_.clear();
}

}  // namespace ckpt::ui
