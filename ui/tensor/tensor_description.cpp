#include "ui/tensor/tensor_description.h"

#include <QFileInfo>
#include <QObject>
#include <QStringList>

#include "ui/param_tree_model.h"

namespace ckpt::ui {

namespace {

QString fromStd(std::string_view s) { return QString::fromUtf8(s.data(), static_cast<qsizetype>(s.size())); }

QString tr(const char* text) { return QObject::tr(text); }

}  // namespace

std::vector<DescriptionRow> describeTensor(const io::TensorInfo& t) {
  std::vector<DescriptionRow> rows;
  const auto& info = io::info(t.dtype);
  QString dtype = fromStd(info.name);
  if (info.block_elems > 1)
    dtype += tr(" (blocks of %1 values in %2 bytes)").arg(info.block_elems).arg(info.block_bytes);
  rows.push_back({tr("dtype"), dtype, {}});
  rows.push_back({tr("shape"), shapeText(t.shape), {}});
  const auto n = static_cast<std::uint64_t>(t.numel());
  rows.push_back({tr("parameters"), n >= 1000 ? QStringLiteral("%1 (%2)").arg(n).arg(humanCount(n)) : QString::number(n), {}});
  rows.push_back({tr("bytes"), t.nbytes >= 1024 ? QStringLiteral("%1 (%2)").arg(t.nbytes).arg(humanBytes(t.nbytes))
                                                : QString::number(t.nbytes),
                  {}});
  if (!t.file.empty()) {
    const QString path = QString::fromStdString(t.file);
    rows.push_back({tr("file"), tr("%1 at byte %2").arg(QFileInfo(path).fileName()).arg(t.offset), path});
  }
  if (!t.layout_note.empty()) rows.push_back({tr("layout"), QString::fromStdString(t.layout_note), {}});
  if (t.ggml_type) {
    const auto known = io::from_ggml(*t.ggml_type);
    QString text = tr("type %1 (%2)").arg(*t.ggml_type).arg(known ? fromStd(io::name(*known)) : tr("unknown"));
    if (!t.ggml_ne.empty()) {
      QStringList ne;
      for (std::uint64_t d : t.ggml_ne) ne << QString::number(d);
      text += tr(", ne [%1]").arg(ne.join(QStringLiteral(", ")));
    }
    rows.push_back({tr("GGUF"), text, {}});
  }
  return rows;
}

QString valuesNote(const io::TensorInfo& t) {
  switch (io::info(t.dtype).kind) {
    case io::DTypeKind::Quantized: return tr("Values are dequantized from the %1 blocks.").arg(fromStd(io::name(t.dtype)));
    case io::DTypeKind::Complex: return tr("Statistics use magnitudes; the values show real parts.");
    case io::DTypeKind::Bool:
    case io::DTypeKind::Unsigned:
    case io::DTypeKind::Signed:
    case io::DTypeKind::Float:
    case io::DTypeKind::Unknown: return {};
  }
  return {};
}

QString unreadableText(const io::TensorInfo& t) {
  if (t.dtype == io::DType::GgmlUnknown && t.ggml_type)
    return tr("The values of this tensor cannot be shown: its ggml type %1 is unknown to this build. "
              "Its description above comes from the file's header.")
        .arg(*t.ggml_type);
  return tr("The data of this tensor cannot be read, so only its description is shown.");
}

}  // namespace ckpt::ui
