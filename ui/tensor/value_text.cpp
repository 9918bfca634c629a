#include "ui/tensor/value_text.h"

#include <QStringList>

#include <charconv>
#include <cmath>
#include <vector>

namespace ckpt::ui {

namespace {

bool integral(io::DType t) {
  switch (io::info(t).kind) {
    case io::DTypeKind::Bool:
    case io::DTypeKind::Unsigned:
    case io::DTypeKind::Signed: return true;
    case io::DTypeKind::Float:
    case io::DTypeKind::Complex:
    case io::DTypeKind::Quantized:
    case io::DTypeKind::Unknown: return false;
  }
  return false;
}

QString nonFinite(double v) {
  if (std::isnan(v)) return QStringLiteral("nan");
  return v > 0 ? QStringLiteral("inf") : QStringLiteral("-inf");
}

}  // namespace

QString numberText(double v) {
  if (!std::isfinite(v)) return nonFinite(v);
  return QString::number(v, 'g', 6);
}

QString valueText(double v, io::DType dtype) {
  // Integers above 2^53 already lost digits in the double; 'f' at least does
  // not add an exponent to them.
  if (integral(dtype) && std::isfinite(v)) return QString::number(v, 'f', 0);
  return numberText(v);
}

QString preciseValueText(double v, io::DType dtype) {
  if (!std::isfinite(v)) return nonFinite(v);
  if (integral(dtype)) return QString::number(v, 'f', 0);
  // std::to_chars gives the shortest text that reads back to the same value
  // of the argument's own type; Qt's float overloads widen to double first.
  char buf[64];
  const bool wide = dtype == io::DType::F64 || dtype == io::DType::C128;
  const auto r = wide ? std::to_chars(buf, buf + sizeof buf, v) : std::to_chars(buf, buf + sizeof buf, static_cast<float>(v));
  return QString::fromLatin1(buf, r.ptr - buf);
}

QString elementIndexText(const model::Window& w, int rank, std::int64_t r, std::int64_t c) {
  if (rank <= 0) return QStringLiteral("[]");
  if (rank == 1) return QStringLiteral("[%1]").arg(w.col0 + c);
  QStringList parts;
  for (int a = 0; a < rank; ++a) {
    std::int64_t i = 0;
    if (a == w.row_axis) i = w.row0 + r;
    else if (a == w.col_axis) i = w.col0 + c;
    else if (static_cast<std::size_t>(a) < w.index.size()) i = w.index[static_cast<std::size_t>(a)];
    parts << QString::number(i);
  }
  return QLatin1Char('[') + parts.join(QStringLiteral(", ")) + QLatin1Char(']');
}

}  // namespace ckpt::ui
