#pragma once
// The local headers of a zip archive read on a thread of their own in
// archive order, each one published as soon as it is checked, so a reader
// works on the first members while a cold disk still delivers the rest.
// Listing 50,000 .npz members cold read the whole 67 MB file for their
// headers first (~50 ms) and only then parsed (~50 ms more); a .pt's
// data.pkl is scanned meanwhile (its headers took 10 ms warm, 35-50 ms cold,
// the pickle 25 ms). Archives of few members are read at once, in the
// constructor: a thread costs more than a few hundred headers take.
//
// The archive's own problems keep their precedence: finish() throws the
// first local header problem in archive order, then the overlap check's,
// ahead of anything the reader met meanwhile (call it from the reader's
// error path too).
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <thread>
#include <vector>

#include "io/formats/zip.h"

namespace ckpt::io::zip {

class HeadersInOrder {
 public:
  // Starts the pass. `src` and `a` must stay alive and `a`'s members
  // unchanged but for data_offset and zip64_local (which the caller fills
  // from operator[]) until destruction.
  HeadersInOrder(const ByteSource& src, const Archive& a);
  // Stops the pass at the next member and waits for the thread.
  ~HeadersInOrder();
  HeadersInOrder(const HeadersInOrder&) = delete;
  HeadersInOrder& operator=(const HeadersInOrder&) = delete;

  // True once members [0, end) have their headers; never blocks.
  [[nodiscard]] bool ready(std::size_t end) const noexcept;
  // Blocks until members [0, end) have their headers; if the pass stopped at
  // a problem before `end`, throws it (as finish() would).
  void wait_for(std::size_t end);
  // Member k's header, for k below a count ready() or wait_for() confirmed.
  [[nodiscard]] const LocalHeader& operator[](std::size_t k) const noexcept { return headers_[k]; }
  // Waits for the whole pass and the overlap check; throws the archive's
  // first problem, if any.
  void finish();
  // finish(), then every member's header, moved out.
  [[nodiscard]] std::vector<LocalHeader> take();

 private:
  void run(const ByteSource& src, const Archive& a) noexcept;

  std::vector<LocalHeader> headers_;
  // Members whose headers are in headers_, times two, plus one once the
  // pass has stopped (all done, or error_ set): one value to wait on, which
  // changes whenever there is something new to see.
  std::atomic<std::uint64_t> progress_{0};
  std::atomic<bool> stop_{false};
  std::exception_ptr error_;  // written before progress_ says the pass stopped
  std::thread thread_;
};

}  // namespace ckpt::io::zip
