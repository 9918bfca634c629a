// The MIME definitions the package installs (packaging/checkpoint-inspector-mime.xml),
// read by Qt's own MIME database as a file manager would read them: files our
// writers make, and torch's legacy format from the shared fixtures, are
// recognised by their content where the format has magic (renamed to .dat),
// and by name otherwise.
#include <QDir>
#include <QFile>
#include <QMimeDatabase>
#include <QProcess>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

#include <filesystem>
#include <vector>

#include "io/open.h"
#include "tests/support/support.h"

using ckpt::io::Format;

class MimeTypesTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase();
  void byContent_data();
  void byContent();
  void byName_data();
  void byName();
  void plainZipIsNotPyTorch();

 private:
  [[nodiscard]] QString write(Format format, const QString& name) const;
  [[nodiscard]] QString renamed(const QString& path, const QString& name) const;
  QTemporaryDir data_;
  QTemporaryDir files_;
};

// As a package install does (dpkg's trigger runs update-mime-database), our
// XML is compiled into one database with the system's definitions, so the
// priorities of competing magic (a torch zip is also a zip) are resolved as
// on a real system. Set before the first QMimeDatabase, which reads the
// XDG data folders once.
void MimeTypesTest::initTestCase() {
  const QString update = QStandardPaths::findExecutable(QStringLiteral("update-mime-database"));
  if (update.isEmpty()) QSKIP("update-mime-database (Debian package shared-mime-info) is not installed");
  const QDir packages(data_.filePath(QStringLiteral("mime/packages")));
  QVERIFY(packages.mkpath(QStringLiteral(".")));
  const QDir system(QStringLiteral("/usr/share/mime/packages"));
  for (const QString& xml : system.entryList({QStringLiteral("*.xml")}, QDir::Files))
    QVERIFY(QFile::copy(system.filePath(xml), packages.filePath(xml)));
  QVERIFY(QFile::copy(QStringLiteral(CKPT_SOURCE_DIR "/packaging/checkpoint-inspector-mime.xml"),
                      packages.filePath(QStringLiteral("checkpoint-inspector-mime.xml"))));
  QProcess p;
  p.setProcessChannelMode(QProcess::MergedChannels);
  p.start(update, {data_.filePath(QStringLiteral("mime"))});
  QVERIFY(p.waitForFinished(60000));
  QVERIFY2(p.exitCode() == 0, p.readAll().constData());
  qputenv("XDG_DATA_DIRS", data_.path().toUtf8());
  qputenv("XDG_DATA_HOME", data_.filePath(QStringLiteral("home")).toUtf8());
  QVERIFY(QMimeDatabase().mimeTypeForName(QStringLiteral("application/x-gguf")).isValid());
}

QString MimeTypesTest::write(Format format, const QString& name) const {
  const QString path = files_.filePath(name);
  std::vector<ckpt::io::TensorInfo> tensors{ckpt::test::random_tensor("layer.weight", ckpt::io::DType::F32, {4, 3})};
  ckpt::io::WriteOptions opt;
  opt.sync = false;
  ckpt::io::write_checkpoint(path.toStdString(), format, tensors, {}, opt);
  return path;
}

QString MimeTypesTest::renamed(const QString& path, const QString& name) const {
  const QString to = files_.filePath(name);
  QFile::remove(to);
  if (!QFile::copy(path, to)) return {};
  return to;
}

void MimeTypesTest::byContent_data() {
  QTest::addColumn<QString>("file");
  QTest::addColumn<QString>("type");
  QTest::newRow("gguf") << renamed(write(Format::Gguf, QStringLiteral("m.gguf")), QStringLiteral("gguf.dat"))
                        << QStringLiteral("application/x-gguf");
  QTest::newRow("npy") << renamed(write(Format::Npy, QStringLiteral("m.npy")), QStringLiteral("npy.dat"))
                       << QStringLiteral("application/x-npy");
  QTest::newRow("pytorch zip") << renamed(write(Format::PyTorch, QStringLiteral("m.pt")), QStringLiteral("pt.dat"))
                               << QStringLiteral("application/x-pytorch");
  const auto fixtures = ckpt::test::fixtures_dir();
  const std::filesystem::path legacy = fixtures ? *fixtures / "torch" / "seq_conv_bn_linear_legacy.pt" : std::filesystem::path();
  if (!fixtures) qWarning("../shared/fixtures is absent: the legacy PyTorch row is skipped");
  else if (std::filesystem::exists(legacy))
    QTest::newRow("pytorch legacy") << renamed(QString::fromStdString(legacy.string()), QStringLiteral("legacy.dat"))
                                    << QStringLiteral("application/x-pytorch");
}

void MimeTypesTest::byContent() {
  QFETCH(QString, file);
  QFETCH(QString, type);
  QVERIFY(!file.isEmpty());
  QCOMPARE(QMimeDatabase().mimeTypeForFile(file, QMimeDatabase::MatchContent).name(), type);
  // A file manager asks with the name too; an unknown extension must not win over the magic.
  QCOMPARE(QMimeDatabase().mimeTypeForFile(file).name(), type);
}

void MimeTypesTest::byName_data() {
  QTest::addColumn<QString>("file");
  QTest::addColumn<QString>("type");
  QTest::newRow("safetensors") << write(Format::Safetensors, QStringLiteral("model.safetensors"))
                               << QStringLiteral("application/x-safetensors");
  QTest::newRow("npz") << write(Format::Npz, QStringLiteral("arrays.npz")) << QStringLiteral("application/x-npz");
  QTest::newRow("gguf") << write(Format::Gguf, QStringLiteral("model.gguf")) << QStringLiteral("application/x-gguf");
  QTest::newRow("npy") << write(Format::Npy, QStringLiteral("array.npy")) << QStringLiteral("application/x-npy");
  QTest::newRow("pt") << write(Format::PyTorch, QStringLiteral("model.pt")) << QStringLiteral("application/x-pytorch");
  QTest::newRow("pth") << write(Format::PyTorch, QStringLiteral("model.pth")) << QStringLiteral("application/x-pytorch");
  QTest::newRow("bin") << write(Format::PyTorch, QStringLiteral("pytorch_model.bin"))
                       << QStringLiteral("application/x-pytorch");
}

void MimeTypesTest::byName() {
  QFETCH(QString, file);
  QFETCH(QString, type);
  const QMimeType t = QMimeDatabase().mimeTypeForFile(file);
  QCOMPARE(t.name(), type);
  QVERIFY2(!t.comment().isEmpty(), qPrintable(type));
  QCOMPARE(t.iconName(), QString(type).replace(QLatin1Char('/'), QLatin1Char('-')));
}

// An .npz is a zip with no torch record in it: renamed, it is a zip, not PyTorch.
void MimeTypesTest::plainZipIsNotPyTorch() {
  const QString npz = renamed(write(Format::Npz, QStringLiteral("z.npz")), QStringLiteral("npz.dat"));
  QCOMPARE(QMimeDatabase().mimeTypeForFile(npz, QMimeDatabase::MatchContent).name(), QStringLiteral("application/zip"));
  QVERIFY(QMimeDatabase().mimeTypeForName(QStringLiteral("application/x-npz")).inherits(QStringLiteral("application/zip")));
}

QTEST_GUILESS_MAIN(MimeTypesTest)
#include "test_mime_types.moc"
