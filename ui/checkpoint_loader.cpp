#include "ui/checkpoint_loader.h"

#include <QMetaObject>

#include <exception>

#include "io/open.h"

namespace ckpt::ui {

Document openDocument(const QString& path) {
  Document doc;
  doc.path = path;
  auto ck = std::make_shared<io::Checkpoint>(io::open_checkpoint(path.toStdString()));
  doc.tree = std::make_shared<model::ParamTree>(model::ParamTree::build(ck->tensors));
  doc.checkpoint = std::move(ck);
  return doc;
}

CheckpointLoader::CheckpointLoader(QObject* parent) : QObject(parent) {}

CheckpointLoader::~CheckpointLoader() {
  if (thread_.joinable()) thread_.join();
}

void CheckpointLoader::start(const QString& path) {
  if (thread_.joinable()) thread_.join();
  // The queued calls target `this`: the destructor joins the thread before
  // QObject's destructor discards events still posted to it.
  thread_ = std::thread([this, path] {
    try {
      Document doc = openDocument(path);
      QMetaObject::invokeMethod(this, [this, doc] { emit loaded(doc); }, Qt::QueuedConnection);
    } catch (const std::exception& e) {
      const QString message = QString::fromUtf8(e.what());
      QMetaObject::invokeMethod(this, [this, message] { emit failed(message); }, Qt::QueuedConnection);
    }
  });
}

}  // namespace ckpt::ui
