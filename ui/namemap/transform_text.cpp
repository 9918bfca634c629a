#include "ui/namemap/transform_text.h"

#include <QRegularExpression>
#include <QStringList>

#include <optional>

#include "io/dtype.h"
#include "model/transforms.h"

namespace ckpt::ui {

namespace {

std::optional<io::DType> dtypeFromText(const QString& word) {
  const std::string lower = word.toLower().toStdString();
  if (auto d = io::from_name(lower)) return d;
  return io::from_safetensors(word.toUpper().toStdString());
}

// One step ("permute 0,2,3,1"); sets `error` when it is not one.
std::optional<model::Transform> parseStep(const QString& step, QString* error) {
  static const QRegularExpression head(QStringLiteral("^([A-Za-z]+)\\s*(.*)$"));
  const auto m = head.match(step);
  if (!m.hasMatch()) {
    *error = QStringLiteral("'%1' is not a transform; use permute, transpose, cast or dequantize").arg(step);
    return std::nullopt;
  }
  const QString verb = m.captured(1).toLower();
  const QString args = m.captured(2).trimmed();
  model::Transform t;
  if (verb == QLatin1String("permute") || verb == QLatin1String("perm")) {
    t.kind = model::Transform::Kind::Permute;
    QString inner = args;
    inner.remove(QRegularExpression(QStringLiteral("[\\[\\]()]")));
    const QStringList axes = inner.split(QRegularExpression(QStringLiteral("[,\\s]+")), Qt::SkipEmptyParts);
    for (const QString& a : axes) {
      bool ok = false;
      const int axis = a.toInt(&ok);
      if (!ok) {
        *error = QStringLiteral("permute: '%1' is not an axis number").arg(a);
        return std::nullopt;
      }
      t.perm.push_back(axis);
    }
    if (t.perm.empty()) {
      *error = QStringLiteral("permute needs its axes, e.g. permute 0,2,3,1");
      return std::nullopt;
    }
    if (!model::is_permutation(t.perm)) {
      *error = QStringLiteral("permute %1 is not a permutation of 0..%2")
                   .arg(QString::fromStdString(model::perm_text(t.perm)))
                   .arg(t.perm.size() - 1);
      return std::nullopt;
    }
    return t;
  }
  if (verb == QLatin1String("transpose") || verb == QLatin1String("t")) {
    if (!args.isEmpty()) {
      *error = QStringLiteral("transpose takes no arguments (it reverses all axes); use permute to choose them");
      return std::nullopt;
    }
    t.kind = model::Transform::Kind::Transpose;
    return t;
  }
  if (verb == QLatin1String("cast") || verb == QLatin1String("dequantize") || verb == QLatin1String("dequant")) {
    t.kind = verb == QLatin1String("cast") ? model::Transform::Kind::Cast : model::Transform::Kind::Dequantize;
    if (args.isEmpty()) {
      *error = QStringLiteral("%1 needs a dtype, e.g. %1 float16").arg(verb);
      return std::nullopt;
    }
    const auto d = dtypeFromText(args);
    if (!d) {
      *error = QStringLiteral("%1: unknown dtype '%2'").arg(verb, args);
      return std::nullopt;
    }
    t.dtype = *d;
    return t;
  }
  *error = QStringLiteral("unknown transform '%1'; use permute, transpose, cast or dequantize").arg(m.captured(1));
  return std::nullopt;
}

}  // namespace

QString transformsText(const std::vector<model::Transform>& transforms) {
  QStringList steps;
  for (const auto& t : transforms) steps << QString::fromStdString(model::describe(t));
  return steps.join(QLatin1String("; "));
}

ParsedTransforms parseTransforms(const QString& text) {
  ParsedTransforms out;
  const QStringList steps = text.split(QLatin1Char(';'), Qt::SkipEmptyParts);
  for (const QString& raw : steps) {
    const QString step = raw.trimmed();
    if (step.isEmpty()) continue;
    auto t = parseStep(step, &out.error);
    if (!t) {
      out.transforms.clear();
      return out;
    }
    out.transforms.push_back(std::move(*t));
  }
  return out;
}

}  // namespace ckpt::ui
