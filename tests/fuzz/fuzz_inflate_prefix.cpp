// libFuzzer harness: the prefix decoder (io/inflate_prefix.h) against zlib
// on arbitrary bytes. The first two bytes choose the lengths asked for (as
// PrefixReader asks: a short prefix, a longer one, the short one again, a
// large one); the rest is the raw deflate stream. Two properties:
//   - wherever the decoder answers, zlib called the same way answers the
//     same bytes and reports no error (otherwise the decoder must decline);
//   - zip::PrefixReader gives the same bytes or the same error sentence with
//     and without the decoder.
// Seeds (tests/fuzz/corpus/inflate_prefix/) are zlib streams of npy headers,
// text and random bytes at several levels and strategies, written by
// tests/fuzz/make_inflate_prefix_corpus.py.
#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "io/byte_source.h"
#include "io/error.h"
#include "io/formats/zip.h"
#include "io/inflate_prefix.h"

namespace {

using Bytes = std::vector<std::uint8_t>;

[[noreturn]] void violated(const char* what, std::size_t call) {
  std::fprintf(stderr, "fuzz invariant violated: %s (call %zu)\n", what, call);
  std::abort();
}

struct Answer {
  bool error = false;
  Bytes bytes;
};

// zlib as PrefixReader calls it.
std::vector<Answer> zlib_answers(const std::uint8_t* in, std::size_t size, const std::vector<std::size_t>& wants) {
  z_stream z{};
  if (inflateInit2(&z, -15) != Z_OK) std::abort();
  z.next_in = const_cast<Bytef*>(in);
  z.avail_in = static_cast<uInt>(size);
  Bytes out;
  std::size_t produced = 0;
  bool ended = false;
  bool failed = false;
  std::vector<Answer> answers;
  for (const std::size_t want : wants) {
    if (!failed && !ended && want > produced) {
      out.resize(std::max(out.size(), want));
      z.next_out = out.data() + produced;
      z.avail_out = static_cast<uInt>(want - produced);
      while (z.avail_out > 0) {
        const int rc = inflate(&z, Z_NO_FLUSH);
        if (rc == Z_STREAM_END) {
          ended = true;
          break;
        }
        if (rc != Z_OK) {
          failed = true;
          break;
        }
      }
      if (!failed) produced = want - z.avail_out;
    }
    if (failed) answers.push_back({true, {}});
    else answers.push_back({false, Bytes(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(std::min(want, produced)))});
  }
  inflateEnd(&z);
  return answers;
}

void check_against_zlib(const std::uint8_t* in, std::size_t size, const std::vector<std::size_t>& wants) {
  const auto z = zlib_answers(in, size, wants);
  ckpt::io::InflatePrefix d;
  d.start(std::as_bytes(std::span(in, size)));
  std::vector<std::byte> out;
  bool ended = false;
  for (std::size_t k = 0; k < wants.size(); ++k) {
    const std::size_t want = wants[k];
    if (!ended && want > d.produced()) {
      out.resize(std::max(out.size(), want));
      const auto st = d.extend(out, want);
      if (st == ckpt::io::InflatePrefix::Status::Cant) return;
      ended = st == ckpt::io::InflatePrefix::Status::Ended;
    }
    if (z[k].error) violated("the decoder answered where zlib reports an error", k);
    const std::size_t n = std::min(want, d.produced());
    if (n != z[k].bytes.size() || !std::equal(z[k].bytes.begin(), z[k].bytes.end(), reinterpret_cast<const std::uint8_t*>(out.data())))
      violated("the decoder's bytes differ from zlib's", k);
  }
}

std::vector<std::string> reader_answers(const std::uint8_t* in, std::size_t size, const std::vector<std::size_t>& wants,
                                        bool decoder) {
  ckpt::io::zip::set_prefix_decoder_enabled(decoder);
  const auto* b = reinterpret_cast<const std::byte*>(in);
  ckpt::io::MemorySource src(std::vector<std::byte>(b, b + size), "fuzz-input");
  ckpt::io::zip::Member m;
  m.name = "w.npy";
  m.method = ckpt::io::zip::kDeflated;
  m.size = std::uint64_t{1} << 20;
  m.compressed_size = size;
  ckpt::io::zip::PrefixReader reader;
  ckpt::io::zip::set_prefix_decoder_enabled(true);
  reader.start(src, m);
  std::vector<std::string> answers;
  for (const std::size_t want : wants) {
    try {
      const auto got = reader.first(want);
      answers.emplace_back(reinterpret_cast<const char*>(got.data()), got.size());
    } catch (const ckpt::io::Error& e) {
      answers.emplace_back(std::string("error: ") + e.what());
    }
  }
  return answers;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t w1 = data[0] % 64;
  const std::size_t w2 = w1 + std::size_t{data[1]} * 8;
  const std::vector<std::size_t> wants = {w1, w2, w1, 4096};
  check_against_zlib(data + 2, size - 2, wants);
  if (reader_answers(data + 2, size - 2, wants, true) != reader_answers(data + 2, size - 2, wants, false))
    violated("PrefixReader answers differently with and without the decoder", 0);
  return 0;
}
