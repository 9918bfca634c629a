#pragma once
// Value agreement for the paired tensors of a diff, computed on a thread of
// its own: it reads every byte of both sides, which for a real checkpoint
// takes seconds to minutes. One model::diff_checkpoints call per pair, so
// results arrive row by row and a cancel is noticed between tensors and,
// through the data wrapper in the .cpp, between chunks of one tensor.
#include <atomic>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "io/tensor.h"
#include "model/spec_diff.h"

namespace ckpt::ui {

class AgreementJob {
 public:
  struct Pair {
    std::size_t row = 0;       // the diff row this pair belongs to
    io::TensorInfo have, want; // same name; their data keep their files alive
  };
  struct Result {
    std::size_t row = 0;
    std::optional<model::Agreement> agreement;  // nullopt: the pair could not be compared
    std::string error;                          // set when reading failed
  };
  // Both run on the job's thread; receivers hand the values to their own thread.
  using OnResult = std::function<void(Result)>;
  using OnFinished = std::function<void(bool cancelled)>;

  AgreementJob(std::vector<Pair> pairs, OnResult on_result, OnFinished on_finished);
  ~AgreementJob();  // cancels, then joins
  AgreementJob(const AgreementJob&) = delete;
  AgreementJob& operator=(const AgreementJob&) = delete;

  void cancel() noexcept { cancelled_.store(true); }
  // True from just before on_finished is called; joining then waits only for it to return.
  [[nodiscard]] bool finished() const noexcept { return finished_.load(); }

 private:
  void run(std::vector<Pair> pairs, const OnResult& on_result, const OnFinished& on_finished);

  std::atomic<bool> cancelled_{false};
  std::atomic<bool> finished_{false};
  std::thread thread_;  // last: started once the flags exist
};

}  // namespace ckpt::ui
