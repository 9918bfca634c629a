#pragma once
// Opens a checkpoint off the GUI thread: reading a large pickle or a header
// of 100,000 tensors takes long enough to freeze a window otherwise.
#include <QObject>
#include <QString>

#include <memory>
#include <thread>

#include "io/checkpoint.h"
#include "model/param_tree.h"

namespace ckpt::ui {

// What a tab shows: the open checkpoint and its tree, shared with panels
// whose background work may outlive a selection.
struct Document {
  QString path;
  std::shared_ptr<const io::Checkpoint> checkpoint;
  std::shared_ptr<const model::ParamTree> tree;
};

// Opens `path` (headers only) and builds its tree. Throws the core's error.
[[nodiscard]] Document openDocument(const QString& path);

class CheckpointLoader : public QObject {
  Q_OBJECT

 public:
  explicit CheckpointLoader(QObject* parent = nullptr);
  ~CheckpointLoader() override;  // waits for a running open: it reads headers only

  void start(const QString& path);

 signals:
  void loaded(const ckpt::ui::Document& document);
  void failed(const QString& message);

 private:
  std::thread thread_;
};

}  // namespace ckpt::ui
