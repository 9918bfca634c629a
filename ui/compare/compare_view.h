#pragma once
// The compare view: the current checkpoint (after the name map) against a
// module spec or a second checkpoint, side by side, one row per name, coloured
// by category, with the strict-load verdict above and per-category filters.
// Against a second checkpoint it also compares values, on a background thread.
#include <QString>
#include <QWidget>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <optional>
#include <vector>

#include "io/checkpoint.h"
#include "model/module_spec.h"
#include "model/name_map.h"
#include "model/spec_diff.h"
#include "ui/compare/agreement_job.h"
#include "ui/compare/category_style.h"

class QAbstractButton;
class QAbstractItemModel;
class QLabel;
class QLineEdit;
class QProgressBar;
class QStackedWidget;
class QTableView;
class QToolButton;

namespace ckpt::ui {

class CompareModel;
class CompareFilterProxy;

class CompareView : public QWidget {
  Q_OBJECT

 public:
  explicit CompareView(QWidget* parent = nullptr);
  ~CompareView() override;  // cancels and joins the background work

  void setCheckpoint(std::shared_ptr<const io::Checkpoint> left);  // the current checkpoint (null: none)
  void setMap(const model::NameMap& map);  // applied to the left side's names before diffing; default: identity
  bool loadSpec(const QString& path);        // a JSON spec or any checkpoint's names and shapes; false + inline error on failure
  bool loadCheckpoint(const QString& path);  // a second checkpoint on the right (values are compared too)
  void setSpec(const model::ModuleSpec& spec, const QString& label);
  [[nodiscard]] const model::ModuleSpec* spec() const;  // the right-hand spec (for a checkpoint: its tensors), nullptr if none
  [[nodiscard]] const model::SpecDiff* diff() const;    // nullptr if nothing to compare

  // What a user reads, for tests and the main window's status.
  [[nodiscard]] QString verdictText() const;
  [[nodiscard]] QString againstText() const;
  [[nodiscard]] QString errorText() const;  // the inline error, empty when none is shown
  [[nodiscard]] QAbstractButton* categoryButton(model::Category c) const;
  [[nodiscard]] CompareModel* compareModel() const { return model_; }
  [[nodiscard]] CompareFilterProxy* filterProxy() const { return proxy_; }
  [[nodiscard]] QTableView* tableView() const { return table_; }
  [[nodiscard]] bool agreementRunning() const { return job_ != nullptr; }
  // Background jobs not yet joined (a cancelled one finishes its current chunk first).
  [[nodiscard]] std::size_t pendingJobs() const { return (job_ ? 1 : 0) + retiring_.size(); }

  // Shows only these categories (all when empty); the toggle buttons follow.
  void setCategoryFilter(const std::vector<model::Category>& shown);
  void setTextFilter(const QString& pattern);

 signals:
  void specChanged();     // the right-hand side changed
  void diffChanged();     // the table now shows a new diff
  void agreementReady();  // value agreement column filled

 protected:
  void changeEvent(QEvent* event) override;

 private:
  void chooseSpec();
  void chooseCheckpoint();
  void recompute();
  void startAgreement();
  void stopAgreement();
  void onAgreement(std::uint64_t generation, AgreementJob::Result result);
  void onAgreementFinished(std::uint64_t generation, bool cancelled);
  void reapJobs();
  void applyCategoryButtons();
  void updateHeader();
  void updateCounts();
  void updateError();
  // Replaces the right-hand side with what `load` returns (a checkpoint, or
  // none for a spec file); on an exception keeps the old one and shows `failure`.
  using RightLoader = std::function<std::pair<std::shared_ptr<const io::Checkpoint>, model::ModuleSpec>()>;
  bool loadRight(const QString& path, const QString& failure, const RightLoader& load);
  void applyPalette();

  // Inputs.
  std::shared_ptr<const io::Checkpoint> left_;
  model::NameMap map_;
  std::optional<model::ModuleSpec> spec_;
  std::shared_ptr<const io::Checkpoint> right_;  // set when the right side is a checkpoint
  QString right_label_, right_path_;

  // Derived by recompute(); the model points into these, so it is cleared before they change.
  std::vector<io::TensorInfo> have_;  // the left side after the map
  std::optional<model::MapReport> report_;
  std::optional<model::SpecDiff> diff_;
  QString load_error_, map_error_;

  // Value agreement. Stale results (older generation) are dropped on arrival.
  std::unique_ptr<AgreementJob> job_;
  std::vector<std::unique_ptr<AgreementJob>> retiring_;  // cancelled, finishing their current chunk
  std::uint64_t generation_ = 0;
  std::size_t agreement_total_ = 0, agreement_done_ = 0;

  CompareModel* model_ = nullptr;       // owned by this (QObject parent)
  CompareFilterProxy* proxy_ = nullptr; // owned by this
  QLabel* against_ = nullptr;
  QLabel* left_info_ = nullptr;
  QLabel* verdict_ = nullptr;
  QLabel* progress_label_ = nullptr;
  QProgressBar* progress_ = nullptr;
  QLabel* error_ = nullptr;
  QWidget* error_box_ = nullptr;
  std::array<QToolButton*, kCategories.size()> category_buttons_{};
  QWidget* filter_row_ = nullptr;  // category buttons and the text filter, idle without a diff
  QLineEdit* filter_ = nullptr;
  QStackedWidget* stack_ = nullptr;
  QLabel* placeholder_ = nullptr;
  QTableView* table_ = nullptr;
};

}  // namespace ckpt::ui
