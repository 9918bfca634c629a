#include "ui/icons.h"

namespace ckpt::ui {

QIcon appIcon() { return QIcon(QStringLiteral(":/icons/ckpt-inspector.svg")); }

QIcon formatIcon(io::Format format) {
  switch (format) {
    case io::Format::Npy: return QIcon(QStringLiteral(":/icons/format-npy.svg"));
    case io::Format::Npz: return QIcon(QStringLiteral(":/icons/format-npz.svg"));
    case io::Format::Safetensors: return QIcon(QStringLiteral(":/icons/format-safetensors.svg"));
    case io::Format::Gguf: return QIcon(QStringLiteral(":/icons/format-gguf.svg"));
    case io::Format::PyTorch: return QIcon(QStringLiteral(":/icons/format-pytorch.svg"));
  }
  return {};
}

QIcon tensorIcon() {
  // Built once: the tree asks for it on every painted row.
  static const QIcon icon(QStringLiteral(":/icons/tensor.svg"));
  return icon;
}

QIcon groupIcon() {
  static const QIcon icon(QStringLiteral(":/icons/group.svg"));
  return icon;
}

}  // namespace ckpt::ui
