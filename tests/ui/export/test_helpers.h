#pragma once
// Shared by the export tests: small checkpoints written with the core's own
// writers, and a tensor source that holds a write after its first chunk so a
// test can cancel at a known point.
#include <QDir>
#include <QFileInfo>
#include <QStringList>
#include <QTest>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "io/open.h"
#include "io/tensor.h"

namespace ckpt::ui::test {

struct SampleTensor {
  std::string name;
  io::DType dtype = io::DType::F32;
  io::Shape shape;
};

// Values differ per tensor and per element, so a swapped or shifted tensor is caught.
inline io::TensorInfo sampleTensor(const SampleTensor& s, int seed) {
  io::TensorInfo t;
  t.name = s.name;
  t.dtype = s.dtype;
  t.shape = s.shape;
  const std::int64_t n = t.numel();
  t.nbytes = io::byte_size(s.dtype, n).value();
  std::vector<std::byte> bytes(t.nbytes);
  for (std::int64_t i = 0; i < n; ++i) {
    const double v = seed * 100.0 + static_cast<double>(i) * 0.25;
    auto* at = bytes.data() + static_cast<std::size_t>(i) * io::item_size(s.dtype);
    if (s.dtype == io::DType::F32) {
      const float f = static_cast<float>(v);
      std::memcpy(at, &f, 4);
    } else if (s.dtype == io::DType::I32) {
      const auto k = static_cast<std::int32_t>(seed * 1000 + i);
      std::memcpy(at, &k, 4);
    } else {
      std::memset(at, static_cast<int>((seed + i) & 0x3f), io::item_size(s.dtype));
    }
  }
  t.data = io::make_memory_data(std::move(bytes));
  return t;
}

// Writes `tensors` as `format` to `path` and opens the result as the app would.
inline std::shared_ptr<const io::Checkpoint> writeSample(const QString& path, io::Format format,
                                                         const std::vector<SampleTensor>& tensors) {
  std::vector<io::TensorInfo> infos;
  for (std::size_t i = 0; i < tensors.size(); ++i) infos.push_back(sampleTensor(tensors[i], static_cast<int>(i) + 1));
  io::WriteOptions opt;
  opt.sync = false;
  io::write_checkpoint(path.toStdString(), format, infos, {}, opt);
  return std::make_shared<const io::Checkpoint>(io::open_checkpoint(path.toStdString()));
}

inline std::vector<SampleTensor> threeTensors() {
  return {{"model.embed.weight", io::DType::F32, {8, 4}},
          {"model.layers.0.attn.q.weight", io::DType::F32, {4, 4}},
          {"model.step", io::DType::I32, {3}}};
}

// Streams `chunks` chunks of `chunk_bytes`, and after the first one waits
// (at most 10 s, so a broken test cannot hang) until release().
class GatedData final : public io::TensorData {
 public:
  GatedData(std::size_t chunks, std::size_t chunk_bytes) : chunks_(chunks), chunk_(chunk_bytes, std::byte{7}) {}
  void stream(const io::ByteSink& sink) const override {
    for (std::size_t k = 0; k < chunks_; ++k) {
      sink(chunk_);
      if (k == 0) {
        first_sent_.store(true);
        std::unique_lock lock(mutex_);
        cv_.wait_for(lock, std::chrono::seconds(10), [this] { return released_; });
      }
    }
  }
  void release() {
    {
      std::lock_guard lock(mutex_);
      released_ = true;
    }
    cv_.notify_all();
  }
  [[nodiscard]] bool firstChunkSent() const { return first_sent_.load(); }
  [[nodiscard]] std::uint64_t bytes() const { return chunks_ * chunk_.size(); }

 private:
  std::size_t chunks_;
  std::vector<std::byte> chunk_;
  mutable std::atomic<bool> first_sent_{false};
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  mutable bool released_ = false;
};

// A one-tensor checkpoint "at" `path` (nothing is written there) whose data come from `data`.
inline std::shared_ptr<const io::Checkpoint> gatedCheckpoint(const QString& path, std::shared_ptr<const GatedData> data,
                                                             std::string tensor_name = "big.weight") {
  io::Checkpoint ck;
  ck.path = path.toStdString();
  ck.format = io::Format::Safetensors;
  ck.format_detail = "safetensors";
  io::TensorInfo t;
  t.name = std::move(tensor_name);
  t.dtype = io::DType::F32;  // storable by every format
  t.shape = {static_cast<std::int64_t>(data->bytes() / 4)};
  t.nbytes = data->bytes();
  t.data = std::move(data);
  ck.tensors.push_back(std::move(t));
  return std::make_shared<const io::Checkpoint>(std::move(ck));
}

// Every file in `dir`, hidden ones too (a leftover temporary would show here).
inline QStringList filesIn(const QString& dir) {
  return QDir(dir).entryList(QDir::Files | QDir::Hidden | QDir::System, QDir::Name);
}

// `written` holds exactly `expected`'s tensors (by name) with the same dtype, shape and bytes.
inline void compareTensors(const std::vector<io::TensorInfo>& expected, const io::Checkpoint& written) {
  QCOMPARE(written.tensors.size(), expected.size());
  for (const auto& e : expected) {
    const io::TensorInfo* w = nullptr;
    for (const auto& t : written.tensors)
      if (t.name == e.name) w = &t;
    QVERIFY2(w != nullptr, ("missing tensor " + e.name).c_str());
    QCOMPARE(w->dtype, e.dtype);
    QCOMPARE(w->shape, e.shape);
    QVERIFY2(io::read_all(*w) == io::read_all(e), ("bytes differ in " + e.name).c_str());
  }
}

}  // namespace ckpt::ui::test
