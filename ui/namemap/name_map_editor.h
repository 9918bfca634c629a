#pragma once
// The name map editor: the rules of a model::NameMap in an editable table
// above a live preview of every name of the open checkpoint after the map
// (model::plan_map, run off the GUI thread). Presets, suggestions from a
// module spec, inversion, and the JSON files the CLI reads and writes.
#include <QString>
#include <QWidget>

#include <memory>
#include <optional>
#include <string>

#include "io/checkpoint.h"
#include "model/module_spec.h"
#include "model/name_map.h"

class QAction;
class QComboBox;
class QLabel;
class QLineEdit;
class QTableView;
class QTimer;
class QToolButton;

namespace ckpt::ui {

class MapPlanner;
class MessageBar;
class PreviewModel;
class RuleTableModel;

class NameMapEditor : public QWidget {
  Q_OBJECT

 public:
  explicit NameMapEditor(QWidget* parent = nullptr);
  ~NameMapEditor() override;

  // The names to preview; nullptr clears the preview.
  void setCheckpoint(std::shared_ptr<const io::Checkpoint> checkpoint);
  // Enables "Suggest from spec"; without a spec the button asks for a spec file.
  void setSpec(std::optional<model::ModuleSpec> spec);
  // Replaces the rules and the unmapped policy (emits mapChanged when that changes the map).
  void setMap(const model::NameMap& map);
  // The rules as edited, invalid rows excluded.
  [[nodiscard]] model::NameMap map() const;
  // A JSON file or a preset name; false with an inline error when it cannot be read.
  bool loadMap(const QString& path_or_preset);
  // model::to_json written atomically; false with an inline error (also
  // when a rule is invalid, so a save never silently loses a row).
  bool saveMap(const QString& path);

  // The toolbar's commands.
  // A new rule after the current one: an exact rule for the name selected in
  // the preview, if any, else an empty one. Opens it for editing.
  void addRule();
  void removeSelectedRules();
  // Moves the current rule up (-1) or down (+1).
  void moveCurrentRule(int delta);
  // Adds a preset's rules after the existing ones (loadMap replaces).
  void appendPreset(const QString& name);
  // Puts model::suggest_map's rules (those not already there) before the
  // existing ones. Needs a checkpoint; without a spec, asks for a spec file
  // and suggests once one is chosen. False when nothing was added.
  bool suggestFromSpec();
  // Replaces the map by model::invert's result; false (with the reason inline) when it has none.
  bool invertMap();
  void setUnmapped(model::Unmapped unmapped);
  [[nodiscard]] model::Unmapped unmapped() const;

  [[nodiscard]] RuleTableModel* ruleModel() const { return rules_; }
  [[nodiscard]] PreviewModel* previewModel() const { return preview_; }
  [[nodiscard]] QTableView* ruleView() const { return rule_view_; }
  [[nodiscard]] QTableView* previewView() const { return preview_view_; }
  // "312 names: 298 renamed, 4 dropped, 2 conflicts, rule 3 matched nothing".
  [[nodiscard]] QString summaryText() const;
  // The inline message (errors of load, save, invert, suggest); empty when none.
  [[nodiscard]] QString messageText() const;
  // An edit whose preview has not arrived yet.
  [[nodiscard]] bool previewPending() const;

 signals:
  // After every edit that leaves all rules valid and changes the map.
  void mapChanged(const model::NameMap& map);
  // A fresh preview is shown (the summary and the rule match counts too).
  void previewUpdated();

 private:
  void buildToolBar(QWidget* bar);
  void onMapEdited();
  void plan();
  void onPlanned(std::shared_ptr<const model::MapReport> report);
  void updateSummary();
  void updateActions();
  void chooseMapToLoad();
  void chooseMapToSave();
  void chooseSpec();
  void showRuleOf(const QModelIndex& preview_index);
  // What the preview plans: every row, an invalid one replaced by a rule that
  // matches nothing, so the report's rule numbers stay the table's.
  [[nodiscard]] model::NameMap previewMap() const;

  std::shared_ptr<const io::Checkpoint> checkpoint_;
  std::optional<model::ModuleSpec> spec_;
  std::string last_emitted_;  // to_json of the last map sent with mapChanged
  QString last_dir_;

  RuleTableModel* rules_ = nullptr;  // owned by this (QObject parent)
  PreviewModel* preview_ = nullptr;  // owned by this
  QTableView* rule_view_ = nullptr;
  QTableView* preview_view_ = nullptr;
  QComboBox* unmapped_ = nullptr;
  QComboBox* show_ = nullptr;
  QLineEdit* name_filter_ = nullptr;
  QLabel* summary_ = nullptr;
  MessageBar* messages_ = nullptr;
  QTimer* replan_ = nullptr;
  QTimer* slow_hint_ = nullptr;
  QAction* remove_ = nullptr;
  QAction* up_ = nullptr;
  QAction* down_ = nullptr;
  QAction* suggest_ = nullptr;
  QAction* invert_ = nullptr;
  QAction* save_ = nullptr;

  // Last member: destroyed first, joining its thread before anything it
  // reports to goes away.
  std::unique_ptr<MapPlanner> planner_;
};

}  // namespace ckpt::ui
