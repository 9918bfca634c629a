#include "ui/compare/agreement_job.h"

#include <exception>
#include <span>
#include <utility>

namespace ckpt::ui {

namespace {

struct Cancelled {};

// model::diff_checkpoints takes no cancel callback, so the tensors it streams
// check the flag themselves: each chunk handed on first asks whether the job
// still matters, and unwinds the comparison when it does not.
class CancellableData final : public io::TensorData {
 public:
  CancellableData(std::shared_ptr<const io::TensorData> inner, const std::atomic<bool>& cancelled)
      : inner_(std::move(inner)), cancelled_(cancelled) {}

  void stream(const io::ByteSink& sink) const override {
    inner_->stream([&](std::span<const std::byte> chunk) {
      if (cancelled_.load(std::memory_order_relaxed)) throw Cancelled{};
      sink(chunk);
    });
  }
  [[nodiscard]] std::optional<std::span<const std::byte>> contiguous() const override { return inner_->contiguous(); }
  [[nodiscard]] std::optional<FileRange> file_range() const override { return inner_->file_range(); }
  [[nodiscard]] const io::ByteSource* source() const noexcept override { return inner_->source(); }

 private:
  std::shared_ptr<const io::TensorData> inner_;
  const std::atomic<bool>& cancelled_;  // the job outlives every comparison it runs
};

io::TensorInfo guarded(io::TensorInfo t, const std::atomic<bool>& cancelled) {
  if (t.data) t.data = std::make_shared<CancellableData>(std::move(t.data), cancelled);
  return t;
}

}  // namespace

AgreementJob::AgreementJob(std::vector<Pair> pairs, OnResult on_result, OnFinished on_finished)
    : thread_([this, pairs = std::move(pairs), on_result = std::move(on_result),
               on_finished = std::move(on_finished)]() mutable { run(std::move(pairs), on_result, on_finished); }) {}

AgreementJob::~AgreementJob() {
  cancel();
  if (thread_.joinable()) thread_.join();
}

void AgreementJob::run(std::vector<Pair> pairs, const OnResult& on_result, const OnFinished& on_finished) {
  for (Pair& p : pairs) {
    if (cancelled_.load()) break;
    Result r;
    r.row = p.row;
    try {
      const io::TensorInfo have = guarded(std::move(p.have), cancelled_);
      const io::TensorInfo want = guarded(std::move(p.want), cancelled_);
      const model::SpecDiff d = model::diff_checkpoints(std::span(&have, 1), std::span(&want, 1), true);
      if (!d.rows.empty()) r.agreement = d.rows.front().agreement;
    } catch (const Cancelled&) {
      break;
    } catch (const std::exception& e) {
      // The core may wrap what a sink threw; after a cancel any failure is ours.
      if (cancelled_.load()) break;
      r.error = e.what();
    } catch (...) {
      if (cancelled_.load()) break;
      r.error = "unknown error while reading the tensors";
    }
    on_result(std::move(r));
  }
  // Set first, so a receiver reacting to on_finished already sees it; joining
  // then waits only for on_finished to return.
  finished_.store(true);
  on_finished(cancelled_.load());
}

}  // namespace ckpt::ui
