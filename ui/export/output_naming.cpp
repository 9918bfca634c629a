#include "ui/export/output_naming.h"

#include <QDir>
#include <QFileInfo>

namespace ckpt::ui {

namespace {

// Longest first, so "x.safetensors.index.json" loses the whole suffix.
constexpr std::array<const char*, 10> kKnownSuffixes = {
    ".safetensors.index.json", ".bin.index.json", ".safetensors", ".gguf", ".npz", ".npy", ".pt", ".pth", ".bin", ".ckpt"};

QString stripKnownSuffix(const QString& name) {
  for (const char* suffix : kKnownSuffixes) {
    const QLatin1String s(suffix);
    if (name.size() > s.size() && name.endsWith(s, Qt::CaseInsensitive)) return name.left(name.size() - s.size());
  }
  return name;
}

}  // namespace

bool sameFile(const QString& a, const QString& b) {
  const QFileInfo fa(a), fb(b);
  if (fa.exists() && fb.exists()) return fa.canonicalFilePath() == fb.canonicalFilePath();
  return QDir::cleanPath(fa.absoluteFilePath()) == QDir::cleanPath(fb.absoluteFilePath());
}

QString formatLabel(io::Format format) {
  switch (format) {
    case io::Format::Safetensors: return QStringLiteral("safetensors");
    case io::Format::Gguf: return QStringLiteral("GGUF");
    case io::Format::Npz: return QStringLiteral("NPZ");
    case io::Format::Npy: return QStringLiteral("NPY");
    case io::Format::PyTorch: return QStringLiteral("PyTorch");
  }
  return {};
}

QString formatExtension(io::Format format) {
  switch (format) {
    case io::Format::Safetensors: return QStringLiteral(".safetensors");
    case io::Format::Gguf: return QStringLiteral(".gguf");
    case io::Format::Npz: return QStringLiteral(".npz");
    case io::Format::Npy: return QStringLiteral(".npy");
    case io::Format::PyTorch: return QStringLiteral(".pt");
  }
  return {};
}

QString checkpointStem(const QString& path) {
  const QString name = QFileInfo(path).fileName();
  const QString stem = stripKnownSuffix(name);
  if (stem != name) return stem;
  // An unknown extension (a renamed file): drop only the last one.
  const qsizetype dot = name.lastIndexOf(QLatin1Char('.'));
  return dot > 0 ? name.left(dot) : name;
}

QString convertedPath(const QString& source, io::Format format) {
  const QFileInfo info(source);
  const QDir dir = info.absoluteDir();
  const QString stem = checkpointStem(source);
  const QString ext = formatExtension(format);
  auto taken = [&](const QString& candidate) { return QFileInfo::exists(candidate) || sameFile(candidate, source); };
  QString candidate = dir.filePath(stem + ext);
  if (!taken(candidate)) return candidate;
  candidate = dir.filePath(stem + QStringLiteral("-converted") + ext);
  for (int n = 2; taken(candidate); ++n) candidate = dir.filePath(stem + QStringLiteral("-converted-%1").arg(n) + ext);
  return candidate;
}

QString withExtension(const QString& path, io::Format format) {
  if (path.isEmpty()) return path;
  const QFileInfo info(path);
  const QString renamed = stripKnownSuffix(info.fileName()) + formatExtension(format);
  // Keep a bare file name bare: the user typed no folder.
  if (!path.contains(QLatin1Char('/'))) return renamed;
  return QDir(info.path()).filePath(renamed);
}

}  // namespace ckpt::ui
