#include "ui/namemap/name_map_editor.h"

#include <QAction>
#include <QComboBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QKeySequence>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QSaveFile>
#include <QSplitter>
#include <QTableView>
#include <QTimer>
#include <QToolBar>
#include <QToolButton>
#include <QVBoxLayout>

#include <algorithm>
#include <exception>
#include <utility>
#include <vector>

#include "io/error.h"
#include "ui/namemap/choice_delegate.h"
#include "ui/namemap/counted.h"
#include "ui/namemap/map_planner.h"
#include "ui/namemap/map_summary.h"
#include "ui/namemap/message_bar.h"
#include "ui/namemap/preview_model.h"
#include "ui/namemap/rule_table_model.h"

namespace ckpt::ui {

namespace {

QString fromStd(const std::string& s) { return QString::fromStdString(s); }

QString errorText(const std::exception& e) {
  if (const auto* io_error = dynamic_cast<const io::Error*>(&e); io_error != nullptr && io_error->file().empty())
    return fromStd(io_error->sentence());
  return QString::fromUtf8(e.what());
}

// No tensor format stores this many axes (NumPy stops at 64), so a rule
// restricted to this rank never matches.
constexpr int kNoSuchRank = 1000;

// Same effect on names; notes may differ (a suggestion explains itself, a
// user's copy of the rule may not).
bool sameRule(const model::Rule& a, const model::Rule& b) {
  return a.match == b.match && a.pattern == b.pattern && a.replace == b.replace && a.drop == b.drop &&
         a.rank == b.rank && a.transforms == b.transforms;
}

}  // namespace

NameMapEditor::NameMapEditor(QWidget* parent) : QWidget(parent), planner_(std::make_unique<MapPlanner>()) {
  rules_ = new RuleTableModel(this);
  preview_ = new PreviewModel(this);
  last_emitted_ = model::to_json(model::NameMap{});

  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->setSpacing(4);

  auto* bar = new QWidget;
  buildToolBar(bar);
  layout->addWidget(bar);

  messages_ = new MessageBar;
  layout->addWidget(messages_);

  rule_view_ = new QTableView;
  rule_view_->setModel(rules_);
  rule_view_->setItemDelegateForColumn(
      RuleTableModel::Match,
      new ChoiceDelegate({QStringLiteral("exact"), QStringLiteral("prefix"), QStringLiteral("regex")}, rule_view_));
  rule_view_->setSelectionBehavior(QAbstractItemView::SelectRows);
  rule_view_->setSelectionMode(QAbstractItemView::ExtendedSelection);
  rule_view_->setEditTriggers(QAbstractItemView::DoubleClicked | QAbstractItemView::EditKeyPressed |
                              QAbstractItemView::AnyKeyPressed | QAbstractItemView::SelectedClicked);
  rule_view_->setWordWrap(false);
  rule_view_->setAlternatingRowColors(true);
  rule_view_->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
  rule_view_->horizontalHeader()->setStretchLastSection(true);
  rule_view_->setColumnWidth(RuleTableModel::Match, 70);
  rule_view_->setColumnWidth(RuleTableModel::Pattern, 250);
  rule_view_->setColumnWidth(RuleTableModel::Replacement, 170);
  rule_view_->setColumnWidth(RuleTableModel::Drop, 48);
  rule_view_->setColumnWidth(RuleTableModel::Rank, 48);
  rule_view_->setColumnWidth(RuleTableModel::Transforms, 170);
  rule_view_->setColumnWidth(RuleTableModel::Matches, 95);
  rule_view_->addAction(remove_);
  rule_view_->addAction(up_);
  rule_view_->addAction(down_);

  auto* preview_box = new QWidget;
  auto* preview_layout = new QVBoxLayout(preview_box);
  preview_layout->setContentsMargins(0, 0, 0, 0);
  auto* filter_row = new QHBoxLayout;
  auto* show_label = new QLabel(tr("&Show:"));
  show_ = new QComboBox;
  show_->addItem(tr("All names"), static_cast<int>(PreviewModel::Filter::All));
  show_->addItem(tr("Changed"), static_cast<int>(PreviewModel::Filter::Changed));
  show_->addItem(tr("Conflicts and errors"), static_cast<int>(PreviewModel::Filter::Problems));
  show_->addItem(tr("Unmapped"), static_cast<int>(PreviewModel::Filter::Unmapped));
  show_->addItem(tr("Dropped"), static_cast<int>(PreviewModel::Filter::Dropped));
  show_label->setBuddy(show_);
  name_filter_ = new QLineEdit;
  name_filter_->setPlaceholderText(tr("Filter names (source or target)"));
  name_filter_->setClearButtonEnabled(true);
  filter_row->addWidget(show_label);
  filter_row->addWidget(show_);
  filter_row->addWidget(name_filter_, 1);
  preview_layout->addLayout(filter_row);

  preview_view_ = new QTableView;
  preview_view_->setModel(preview_);
  preview_view_->setSelectionBehavior(QAbstractItemView::SelectRows);
  preview_view_->setSelectionMode(QAbstractItemView::SingleSelection);
  preview_view_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  preview_view_->setWordWrap(false);
  preview_view_->verticalHeader()->hide();
  // Fixed row heights keep a 100 000-row preview cheap to lay out and scroll.
  preview_view_->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
  preview_view_->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 6);
  rule_view_->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 8);
  QHeaderView* h = preview_view_->horizontalHeader();
  h->setSectionResizeMode(PreviewModel::Source, QHeaderView::Stretch);
  h->setSectionResizeMode(PreviewModel::Target, QHeaderView::Stretch);
  preview_view_->setColumnWidth(PreviewModel::SourceShape, 120);
  preview_view_->setColumnWidth(PreviewModel::TargetShape, 120);
  preview_view_->setColumnWidth(PreviewModel::DType, 90);
  preview_view_->setColumnWidth(PreviewModel::Rule, 50);
  preview_layout->addWidget(preview_view_);

  auto* splitter = new QSplitter(Qt::Vertical);
  splitter->addWidget(rule_view_);
  splitter->addWidget(preview_box);
  splitter->setStretchFactor(0, 2);
  splitter->setStretchFactor(1, 3);
  splitter->setChildrenCollapsible(false);
  layout->addWidget(splitter, 1);

  summary_ = new QLabel;
  summary_->setWordWrap(true);
  summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(summary_);

  // Several changes in one turn of the event loop (a reset, then the
  // unmapped policy) make one plan.
  replan_ = new QTimer(this);
  replan_->setSingleShot(true);
  replan_->setInterval(20);
  connect(replan_, &QTimer::timeout, this, &NameMapEditor::plan);
  slow_hint_ = new QTimer(this);
  slow_hint_->setSingleShot(true);
  slow_hint_->setInterval(200);
  connect(slow_hint_, &QTimer::timeout, this, [this] {
    if (previewPending()) summary_->setText(tr("Updating the preview…"));
  });

  connect(rules_, &RuleTableModel::rulesEdited, this, &NameMapEditor::onMapEdited);
  connect(planner_.get(), &MapPlanner::planned, this, &NameMapEditor::onPlanned);
  connect(planner_.get(), &MapPlanner::failed, this, [this](const QString& message) {
    slow_hint_->stop();
    messages_->showError(tr("The preview failed: %1").arg(message));
  });
  connect(unmapped_, &QComboBox::currentIndexChanged, this, &NameMapEditor::onMapEdited);
  connect(show_, &QComboBox::currentIndexChanged, this,
          [this] { preview_->setFilter(static_cast<PreviewModel::Filter>(show_->currentData().toInt())); });
  connect(name_filter_, &QLineEdit::textChanged, preview_, &PreviewModel::setTextFilter);
  connect(rule_view_->selectionModel(), &QItemSelectionModel::selectionChanged, this, &NameMapEditor::updateActions);
  connect(rule_view_->selectionModel(), &QItemSelectionModel::currentChanged, this, &NameMapEditor::updateActions);
  connect(preview_view_, &QTableView::activated, this, &NameMapEditor::showRuleOf);

  setSpec(std::nullopt);
  updateActions();
  updateSummary();
}

NameMapEditor::~NameMapEditor() = default;

void NameMapEditor::buildToolBar(QWidget* bar) {
  auto* row = new QHBoxLayout(bar);
  row->setContentsMargins(0, 0, 0, 0);
  auto* tools = new QToolBar;
  tools->setToolButtonStyle(Qt::ToolButtonTextOnly);
  tools->setIconSize(QSize(16, 16));
  row->addWidget(tools, 1);

  QAction* add = tools->addAction(tr("Add rule"), this, &NameMapEditor::addRule);
  add->setShortcut(QKeySequence(Qt::Key_Insert));
  add->setShortcutContext(Qt::WidgetWithChildrenShortcut);
  add->setToolTip(
      tr("Add a rule after the current one; with a name selected in the preview, a rule for that name (Ins)"));
  addAction(add);
  remove_ = tools->addAction(tr("Remove"), this, &NameMapEditor::removeSelectedRules);
  remove_->setShortcut(QKeySequence::Delete);
  remove_->setShortcutContext(Qt::WidgetWithChildrenShortcut);
  remove_->setToolTip(tr("Remove the selected rules (Del)"));
  up_ = tools->addAction(tr("Up"), this, [this] { moveCurrentRule(-1); });
  up_->setShortcut(QKeySequence(Qt::ALT | Qt::Key_Up));
  up_->setShortcutContext(Qt::WidgetWithChildrenShortcut);
  up_->setToolTip(tr("Move the rule up: earlier rules match first (Alt+Up)"));
  down_ = tools->addAction(tr("Down"), this, [this] { moveCurrentRule(+1); });
  down_->setShortcut(QKeySequence(Qt::ALT | Qt::Key_Down));
  down_->setShortcutContext(Qt::WidgetWithChildrenShortcut);
  down_->setToolTip(tr("Move the rule down (Alt+Down)"));
  tools->addSeparator();

  auto* presets = new QMenu(tr("Presets"), this);
  presets->setToolTipsVisible(true);
  auto* append_menu = new QMenu(tr("Append rules of"), presets);
  append_menu->setToolTipsVisible(true);
  for (const std::string& name : model::preset_names()) {
    const QString qname = fromStd(name);
    const QString description = fromStd(model::preset_description(name));
    QAction* load = presets->addAction(qname, this, [this, qname] { loadMap(qname); });
    load->setToolTip(tr("Replace the map with %1: %2").arg(qname, description));
    QAction* append = append_menu->addAction(qname, this, [this, qname] { appendPreset(qname); });
    append->setToolTip(tr("Add the rules of %1 after the current ones: %2").arg(qname, description));
  }
  presets->addSeparator();
  presets->addMenu(append_menu);
  auto* presets_button = new QToolButton;
  presets_button->setText(tr("Presets"));
  presets_button->setMenu(presets);
  presets_button->setPopupMode(QToolButton::InstantPopup);
  presets_button->setToolTip(tr("Start from a preset map, or add its rules after yours"));
  tools->addWidget(presets_button);

  suggest_ = tools->addAction(tr("Suggest from spec"), this, [this] { suggestFromSpec(); });
  invert_ = tools->addAction(tr("Invert"), this, [this] { invertMap(); });
  invert_->setToolTip(tr("Turn the map around (e.g. PyTorch → MLX becomes MLX → PyTorch)"));
  tools->addSeparator();
  QAction* load = tools->addAction(tr("Load…"), this, &NameMapEditor::chooseMapToLoad);
  load->setToolTip(tr("Load a name map (JSON, as `ckpt convert --map` reads it)"));
  save_ = tools->addAction(tr("Save…"), this, &NameMapEditor::chooseMapToSave);
  save_->setToolTip(tr("Save the map as JSON for `ckpt convert --map`"));
  // Toolbar buttons take no focus by default; these must be reachable by Tab.
  for (QAction* a : tools->actions())
    if (auto* button = qobject_cast<QToolButton*>(tools->widgetForAction(a))) button->setFocusPolicy(Qt::TabFocus);

  auto* unmapped_label = new QLabel(tr("&Unmapped names:"));
  unmapped_ = new QComboBox;
  unmapped_->addItem(tr("keep"), static_cast<int>(model::Unmapped::Keep));
  unmapped_->addItem(tr("drop"), static_cast<int>(model::Unmapped::Drop));
  unmapped_->addItem(tr("error"), static_cast<int>(model::Unmapped::Error));
  unmapped_->setToolTip(tr("What happens to names no rule matches: kept as they are, dropped, or reported as errors"));
  unmapped_label->setBuddy(unmapped_);
  row->addWidget(unmapped_label);
  row->addWidget(unmapped_);
}

void NameMapEditor::setCheckpoint(std::shared_ptr<const io::Checkpoint> checkpoint) {
  checkpoint_ = std::move(checkpoint);
  planner_->cancel();
  replan_->start();
}

void NameMapEditor::setSpec(std::optional<model::ModuleSpec> spec) {
  spec_ = std::move(spec);
  if (spec_) {
    const QString from = spec_->source.empty() ? tr("the spec") : QFileInfo(fromStd(spec_->source)).fileName();
    suggest_->setToolTip(
        tr("Suggest rules that turn this checkpoint's names and layouts into those of %1 (%2); added before your rules")
            .arg(from, counted(static_cast<long long>(spec_->params.size()), "parameter", "parameters")));
  } else {
    suggest_->setToolTip(
        tr("Choose a spec (JSON) or a checkpoint whose names and layouts to match, then suggest rules"));
  }
}

void NameMapEditor::setMap(const model::NameMap& map) {
  {
    // The policy first and silently, so the new rules plan and emit once.
    const QSignalBlocker block(unmapped_);
    unmapped_->setCurrentIndex(unmapped_->findData(static_cast<int>(map.unmapped)));
  }
  rules_->setRules(map.rules);
}

model::NameMap NameMapEditor::map() const {
  model::NameMap m;
  m.rules = rules_->validRules();
  m.unmapped = unmapped();
  return m;
}

model::NameMap NameMapEditor::previewMap() const {
  model::NameMap m;
  m.unmapped = unmapped();
  for (int r = 0; r < rules_->rowCount(); ++r) {
    if (rules_->isValid(r)) {
      m.rules.push_back(rules_->rule(r));
    } else {
      model::Rule inert;
      inert.rank = kNoSuchRank;
      m.rules.push_back(std::move(inert));
    }
  }
  return m;
}

void NameMapEditor::setUnmapped(model::Unmapped unmapped) {
  unmapped_->setCurrentIndex(unmapped_->findData(static_cast<int>(unmapped)));
}

model::Unmapped NameMapEditor::unmapped() const {
  return static_cast<model::Unmapped>(unmapped_->currentData().toInt());
}

bool NameMapEditor::loadMap(const QString& path_or_preset) {
  model::NameMap loaded;
  try {
    loaded = model::load_map(path_or_preset.toStdString());
  } catch (const std::exception& e) {
    messages_->showError(tr("Could not load the name map: %1").arg(errorText(e)));
    return false;
  }
  setMap(loaded);
  const std::string description = model::preset_description(path_or_preset.toStdString());
  if (description.empty()) {
    last_dir_ = QFileInfo(path_or_preset).absolutePath();
    messages_->showInfo(tr("Loaded %1 (%2).")
                            .arg(QFileInfo(path_or_preset).fileName(),
                                 counted(static_cast<long long>(loaded.rules.size()), "rule", "rules")));
  } else {
    messages_->showInfo(tr("Preset %1: %2").arg(path_or_preset, fromStd(description)));
  }
  return true;
}

bool NameMapEditor::saveMap(const QString& path) {
  if (const int bad = rules_->invalidCount(); bad > 0) {
    std::vector<int> rows;
    for (int r = 0; r < rules_->rowCount(); ++r)
      if (!rules_->isValid(r)) rows.push_back(r);
    messages_->showError(tr("Not saved: %1 cannot be applied (%2). Fix or remove it first.")
                             .arg(ruleList(rows), rules_->rowError(rows.front())));
    return false;
  }
  const model::NameMap m = map();
  const std::string text = model::to_json(m);
  QSaveFile file(path);
  if (!file.open(QIODevice::WriteOnly) ||
      file.write(text.data(), static_cast<qint64>(text.size())) != static_cast<qint64>(text.size()) || !file.commit()) {
    messages_->showError(tr("Could not save %1: %2").arg(path, file.errorString()));
    return false;
  }
  last_dir_ = QFileInfo(path).absolutePath();
  messages_->showInfo(
      tr("Saved %1 to %2.")
          .arg(counted(static_cast<long long>(m.rules.size()), "rule", "rules"), QFileInfo(path).fileName()));
  return true;
}

void NameMapEditor::addRule() {
  model::Rule rule;
  int edit_column = RuleTableModel::Pattern;
  if (const model::MapEntry* e = preview_->entry(preview_view_->currentIndex())) {
    rule.pattern = e->source;
    rule.replace = e->dropped ? e->source : e->target;
    edit_column = RuleTableModel::Replacement;
  }
  const QModelIndex current = rule_view_->currentIndex();
  const int row = current.isValid() ? current.row() + 1 : rules_->rowCount();
  rules_->insertRule(row, rule);
  const QModelIndex cell = rules_->index(row, edit_column);
  rule_view_->setCurrentIndex(cell);
  rule_view_->scrollTo(cell);
  rule_view_->edit(cell);
}

void NameMapEditor::removeSelectedRules() {
  std::vector<int> rows;
  for (const QModelIndex& i : rule_view_->selectionModel()->selectedRows()) rows.push_back(i.row());
  if (rows.empty() && rule_view_->currentIndex().isValid()) rows.push_back(rule_view_->currentIndex().row());
  if (rows.empty()) return;
  std::sort(rows.begin(), rows.end());
  const int first = rows.front();
  // From the bottom up, each contiguous run at once.
  for (std::size_t end = rows.size(); end > 0;) {
    std::size_t begin = end - 1;
    while (begin > 0 && rows[begin - 1] == rows[begin] - 1) --begin;
    rules_->removeRows(rows[begin], static_cast<int>(end - begin));
    end = begin;
  }
  if (rules_->rowCount() > 0) rule_view_->selectRow(std::min(first, rules_->rowCount() - 1));
}

void NameMapEditor::moveCurrentRule(int delta) {
  const QModelIndex current = rule_view_->currentIndex();
  if (!current.isValid() || !rules_->moveRule(current.row(), delta)) return;
  rule_view_->selectRow(current.row() + delta);
}

void NameMapEditor::appendPreset(const QString& name) {
  try {
    const model::NameMap preset = model::load_map(name.toStdString());
    std::vector<model::Rule> all = rules_->rules();
    all.insert(all.end(), preset.rules.begin(), preset.rules.end());
    rules_->setRules(all);
    messages_->showInfo(tr("Added the %1 of %2 after yours.")
                            .arg(counted(static_cast<long long>(preset.rules.size()), "rule", "rules"), name));
  } catch (const std::exception& e) {
    messages_->showError(tr("Could not load %1: %2").arg(name, errorText(e)));
  }
}

bool NameMapEditor::suggestFromSpec() {
  if (!checkpoint_) {
    messages_->showError(tr("Open a checkpoint first: suggestions compare its names and shapes with the spec."));
    return false;
  }
  if (!spec_) {
    chooseSpec();
    return false;
  }
  model::NameMap suggested;
  try {
    suggested = model::suggest_map(checkpoint_->tensors, *spec_);
  } catch (const std::exception& e) {
    messages_->showError(tr("Could not suggest a map: %1").arg(errorText(e)));
    return false;
  }
  std::vector<model::Rule> current = rules_->rules();
  std::vector<model::Rule> merged;
  int already = 0;
  for (auto& r : suggested.rules) {
    const bool present =
        std::any_of(current.begin(), current.end(), [&](const model::Rule& c) { return sameRule(c, r); });
    if (present)
      ++already;
    else
      merged.push_back(std::move(r));
  }
  const int added = static_cast<int>(merged.size());
  if (added == 0) {
    messages_->showInfo(
        already > 0 ? tr("Every suggested rule is already in the map.")
                    : tr("Nothing to suggest: no renames or layout changes bring the checkpoint closer to the spec."));
    return false;
  }
  // Suggestions are exact or specific, so they go first: the first matching rule decides.
  merged.insert(merged.end(), current.begin(), current.end());
  rules_->setRules(merged);
  QString text = tr("Added %1 before yours").arg(counted(added, "suggested rule", "suggested rules"));
  if (already > 0) text += tr(" (%1 already there)").arg(already);
  messages_->showInfo(text + QLatin1Char('.'));
  return true;
}

bool NameMapEditor::invertMap() {
  if (rules_->invalidCount() > 0) {
    messages_->showError(tr("Fix or remove the invalid rules before inverting the map."));
    return false;
  }
  std::string why;
  const std::optional<model::NameMap> inverse = model::invert(map(), &why);
  if (!inverse) {
    messages_->showError(tr("This map cannot be inverted: %1.").arg(fromStd(why)));
    return false;
  }
  setMap(*inverse);
  messages_->showInfo(tr("Inverted: the rules now map the other way."));
  return true;
}

void NameMapEditor::onMapEdited() {
  if (rules_->invalidCount() == 0) {
    model::NameMap m = map();
    std::string json = model::to_json(m);
    if (json != last_emitted_) {
      last_emitted_ = std::move(json);
      emit mapChanged(m);
    }
  }
  // Whatever is being planned now describes the old rules.
  planner_->cancel();
  replan_->start();
  updateActions();
}

void NameMapEditor::plan() {
  if (!checkpoint_) {
    preview_->clear();
    rules_->setMatchCounts({});
    updateSummary();
    emit previewUpdated();
    return;
  }
  planner_->request(previewMap(), checkpoint_);
  slow_hint_->start();
}

void NameMapEditor::onPlanned(std::shared_ptr<const model::MapReport> report) {
  slow_hint_->stop();
  std::vector<int> counts(static_cast<std::size_t>(rules_->rowCount()), 0);
  for (const auto& e : report->entries)
    if (e.rule >= 0 && static_cast<std::size_t>(e.rule) < counts.size()) ++counts[static_cast<std::size_t>(e.rule)];
  for (int r = 0; r < rules_->rowCount(); ++r)
    if (!rules_->isValid(r)) counts[static_cast<std::size_t>(r)] = -1;
  preview_->setReport(std::move(report));
  rules_->setMatchCounts(std::move(counts));
  updateSummary();
  emit previewUpdated();
}

void NameMapEditor::updateSummary() {
  std::vector<int> invalid;
  for (int r = 0; r < rules_->rowCount(); ++r)
    if (!rules_->isValid(r)) invalid.push_back(r);
  const MapSummary summary = summarize(preview_->report(), preview_->counts(), invalid, checkpoint_ != nullptr);
  summary_->setText(summary.line);
  summary_->setToolTip(summary.details);
}

void NameMapEditor::updateActions() {
  const QModelIndex current = rule_view_->currentIndex();
  const bool has = current.isValid();
  remove_->setEnabled(has || rule_view_->selectionModel()->hasSelection());
  up_->setEnabled(has && current.row() > 0);
  down_->setEnabled(has && current.row() + 1 < rules_->rowCount());
  invert_->setEnabled(rules_->rowCount() > 0);
}

QString NameMapEditor::summaryText() const { return summary_->text(); }

QString NameMapEditor::messageText() const { return messages_->text(); }

bool NameMapEditor::previewPending() const { return replan_->isActive() || planner_->busy(); }

void NameMapEditor::chooseMapToLoad() {
  auto* dialog = new QFileDialog(this, tr("Load name map"), last_dir_, tr("Name maps (*.json);;All files (*)"));
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  dialog->setAcceptMode(QFileDialog::AcceptOpen);
  dialog->setFileMode(QFileDialog::ExistingFile);
  connect(dialog, &QFileDialog::fileSelected, this, [this](const QString& path) { loadMap(path); });
  dialog->open();
}

void NameMapEditor::chooseMapToSave() {
  auto* dialog = new QFileDialog(this, tr("Save name map"), last_dir_, tr("Name maps (*.json);;All files (*)"));
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  dialog->setAcceptMode(QFileDialog::AcceptSave);
  dialog->setDefaultSuffix(QStringLiteral("json"));
  connect(dialog, &QFileDialog::fileSelected, this, [this](const QString& path) { saveMap(path); });
  dialog->open();
}

void NameMapEditor::chooseSpec() {
  auto* dialog = new QFileDialog(this, tr("Choose the spec to match"), last_dir_,
                                 tr("Specs and checkpoints (*.json *.safetensors *.gguf *.npz *.npy *.pt *.pth *.bin "
                                    "*.ckpt);;All files (*)"));
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  dialog->setAcceptMode(QFileDialog::AcceptOpen);
  dialog->setFileMode(QFileDialog::ExistingFile);
  connect(dialog, &QFileDialog::fileSelected, this, [this](const QString& path) {
    try {
      // Headers only, like opening a checkpoint: no tensor data is read.
      setSpec(model::load_spec(path.toStdString()));
    } catch (const std::exception& e) {
      messages_->showError(tr("Could not read the spec: %1").arg(errorText(e)));
      return;
    }
    suggestFromSpec();
  });
  dialog->open();
}

void NameMapEditor::showRuleOf(const QModelIndex& preview_index) {
  const model::MapEntry* e = preview_->entry(preview_index);
  if (e == nullptr || e->rule < 0 || e->rule >= rules_->rowCount()) return;
  rule_view_->selectRow(e->rule);
  rule_view_->scrollTo(rules_->index(e->rule, 0));
}

}  // namespace ckpt::ui
