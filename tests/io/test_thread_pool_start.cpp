// ThreadPool::start: work begun on the workers while the caller does
// something else (the .npz listing prepares the next batch of headers so),
// then finished, rethrown or dropped by the caller.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "io/thread_pool.h"

using ckpt::io::ThreadPool;

namespace {

using namespace std::chrono_literals;

// Waits (a bounded while) for `pred`; true if it came to hold.
template <class Pred>
bool eventually(Pred pred) {
  for (int i = 0; i < 2000 && !pred(); ++i) std::this_thread::sleep_for(1ms);
  return pred();
}

}  // namespace

TEST(ThreadPoolStart, WorkersBeginBeforeTheCallerFinishes) {
  ThreadPool pool(3);
  std::vector<std::atomic<int>> hits(1000);
  std::atomic<int> ran{0};
  auto pending = pool.start(hits.size(), [&](std::size_t k) {
    ++hits[k];
    ++ran;
  });
  // The caller has not joined in yet: only the workers can have run tasks.
  EXPECT_TRUE(eventually([&] { return ran.load() > 0; }));
  pending.finish();
  for (const auto& h : hits) ASSERT_EQ(h.load(), 1);
}

TEST(ThreadPoolStart, WithoutWorkersEverythingRunsAtFinish) {
  ThreadPool pool(1);
  std::atomic<int> ran{0};
  auto pending = pool.start(50, [&](std::size_t) { ++ran; });
  std::this_thread::sleep_for(5ms);
  EXPECT_EQ(ran.load(), 0);
  pending.finish();
  EXPECT_EQ(ran.load(), 50);
}

TEST(ThreadPoolStart, FinishRethrowsAfterEveryTaskHasRun) {
  ThreadPool pool(2);
  std::atomic<int> ran{0};
  auto pending = pool.start(40, [&](std::size_t k) {
    ++ran;
    if (k == 3) throw std::runtime_error("task 3");
  });
  EXPECT_THROW(pending.finish(), std::runtime_error);
  EXPECT_EQ(ran.load(), 40);
  pending.finish();  // finished already: nothing more happens
  EXPECT_EQ(ran.load(), 40);
}

// An error on the caller's side drops the work: no task starts after the
// drop, and none is still running when it returns (they may use the
// caller's objects, which go next).
TEST(ThreadPoolStart, DroppedWorkStopsStartingAndWaitsForRunningTasks) {
  ThreadPool pool(2);
  std::atomic<int> started{0}, ended{0};
  {
    auto pending = pool.start(10000, [&](std::size_t) {
      ++started;
      std::this_thread::sleep_for(200us);
      ++ended;
    });
    ASSERT_TRUE(eventually([&] { return started.load() >= 3; }));
  }
  const int at_drop = started.load();
  EXPECT_EQ(ended.load(), at_drop);
  EXPECT_LT(at_drop, 10000);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(started.load(), at_drop);
  // The pool goes on working afterwards.
  std::atomic<int> more{0};
  pool.parallel_for(100, [&](std::size_t) { ++more; });
  EXPECT_EQ(more.load(), 100);
}

// parallel_for from the caller while its started work occupies the workers:
// the caller runs its own tasks rather than waiting behind the others.
TEST(ThreadPoolStart, CallerCanRunOtherWorkMeanwhile) {
  ThreadPool pool(2);
  std::atomic<bool> release{false};
  std::atomic<int> ran{0};
  auto pending = pool.start(2, [&](std::size_t) {
    while (!release.load()) std::this_thread::sleep_for(100us);
    ++ran;
  });
  std::atomic<int> other{0};
  pool.parallel_for(20, [&](std::size_t) { ++other; });
  EXPECT_EQ(other.load(), 20);
  release = true;
  pending.finish();
  EXPECT_EQ(ran.load(), 2);
}

TEST(ThreadPoolStart, MovedPendingIsFinishedByItsNewOwner) {
  ThreadPool pool(2);
  std::atomic<int> ran{0};
  ThreadPool::Pending kept;
  {
    auto pending = pool.start(30, [&](std::size_t) { ++ran; });
    kept = std::move(pending);
  }
  kept.finish();
  EXPECT_EQ(ran.load(), 30);
}
