// libFuzzer harness: a GGUF file (v1–v3, either byte order) — header, typed
// key/values (nested arrays), tensor infos, alignment and data placement —
// then every tensor's data, dequantized for statistics.
//
// Byte flips mostly die at the first count or string length, so the custom
// mutator parses the input as GGUF, records where every structural field sits
// (counts, string lengths, value and element type ids, array lengths, n_dims,
// dimensions, ggml type ids, data offsets, the alignment value) and changes
// one of them — or resizes a string, drops or duplicates a key/value or a
// tensor info keeping the counts right — and writes the file back. Inputs it
// cannot parse, and one in five of the rest, get libFuzzer's own mutation.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "tests/fuzz/support/fuzz_support.h"

extern "C" std::size_t LLVMFuzzerMutate(std::uint8_t* data, std::size_t size, std::size_t max_size);

namespace {

enum class Kind : std::uint8_t {
  Version, TensorCount, KvCount, StringLength, ValueType, ElementType, ArrayLength, Scalar,
  NDims, Dim, GgmlType, DataOffset, Alignment,
};

struct Field {
  std::size_t at;
  unsigned width;  // bytes
  Kind kind;
};

// A byte range with the field that counts it, for edits that keep the file consistent.
struct Span {
  std::size_t begin, end;
};

struct Layout {
  bool big_endian = false;
  unsigned count_width = 8;  // 4 in v1
  std::vector<Field> fields;
  std::vector<std::size_t> string_length_at;  // a StringLength field per string (keys, names, values)
  std::vector<Span> kvs, infos;
  std::size_t tensor_count_at = 0, kv_count_at = 0;
  std::size_t infos_end = 0;
};

class Parse {
 public:
  Parse(const std::uint8_t* d, std::size_t n) : d_(d), n_(n) {}

  bool run(Layout& out) {
    out_ = &out;
    if (n_ < 8 || std::memcmp(d_, "GGUF", 4) != 0) return false;
    std::uint32_t v = static_cast<std::uint32_t>(get(4, 4));
    if ((v & 0xFFFFu) == 0 && v != 0) {
      out.big_endian = true;
      v = static_cast<std::uint32_t>(get(4, 4));
    }
    if (v < 1 || v > 3) return false;
    out.count_width = v == 1 ? 4 : 8;
    out.fields.push_back({4, 4, Kind::Version});
    pos_ = 8;
    out.tensor_count_at = pos_;
    std::uint64_t tensors = 0, kvs = 0;
    if (!field(out.count_width, Kind::TensorCount, &tensors)) return false;
    out.kv_count_at = pos_;
    if (!field(out.count_width, Kind::KvCount, &kvs)) return false;
    if (kvs > n_ || tensors > n_) return false;
    for (std::uint64_t k = 0; k < kvs; ++k) {
      const std::size_t begin = pos_;
      if (!string()) return false;
      std::uint64_t type = 0;
      const std::size_t type_at = pos_;
      if (!field(4, Kind::ValueType, &type)) return false;
      const bool alignment = is_alignment_key(begin) && type == 4;
      if (alignment) {
        if (pos_ + 4 > n_) return false;
        out.fields.push_back({pos_, 4, Kind::Alignment});
        pos_ += 4;
      } else if (!value(type, 0)) {
        return false;
      }
      (void)type_at;
      out.kvs.push_back({begin, pos_});
    }
    for (std::uint64_t k = 0; k < tensors; ++k) {
      const std::size_t begin = pos_;
      if (!string()) return false;
      std::uint64_t dims = 0;
      if (!field(4, Kind::NDims, &dims) || dims > 16) return false;
      for (std::uint64_t d = 0; d < dims; ++d)
        if (!field(out.count_width, Kind::Dim, nullptr)) return false;
      if (!field(4, Kind::GgmlType, nullptr) || !field(8, Kind::DataOffset, nullptr)) return false;
      out.infos.push_back({begin, pos_});
    }
    out.infos_end = pos_;
    return true;
  }

 private:
  std::uint64_t get(std::size_t at, unsigned w) const {
    std::uint64_t v = 0;
    for (unsigned b = 0; b < w; ++b) {
      const unsigned shift = out_->big_endian ? 8 * (w - 1 - b) : 8 * b;
      v |= std::uint64_t{d_[at + b]} << shift;
    }
    return v;
  }
  bool field(unsigned w, Kind kind, std::uint64_t* value) {
    if (pos_ + w > n_) return false;
    out_->fields.push_back({pos_, w, kind});
    if (value) *value = get(pos_, w);
    pos_ += w;
    return true;
  }
  bool string() {
    std::uint64_t len = 0;
    const std::size_t at = pos_;
    if (!field(out_->count_width, Kind::StringLength, &len)) return false;
    if (len > n_ - pos_) return false;
    out_->string_length_at.push_back(at);
    pos_ += static_cast<std::size_t>(len);
    return true;
  }
  bool is_alignment_key(std::size_t begin) const {
    static constexpr char kKey[] = "general.alignment";
    const std::size_t len_bytes = out_->count_width;
    return get(begin, static_cast<unsigned>(len_bytes)) == sizeof(kKey) - 1 &&
           std::memcmp(d_ + begin + len_bytes, kKey, sizeof(kKey) - 1) == 0;
  }
  bool value(std::uint64_t type, int depth) {
    if (depth > 4) return false;
    switch (type) {
      case 0: case 1: case 7: return scalar(1);
      case 2: case 3: return scalar(2);
      case 4: case 5: case 6: return scalar(4);
      case 10: case 11: case 12: return scalar(8);
      case 8: return string();
      case 9: {
        std::uint64_t et = 0, count = 0;
        if (!field(4, Kind::ElementType, &et) || !field(out_->count_width, Kind::ArrayLength, &count)) return false;
        if (count > n_ - pos_) return false;
        for (std::uint64_t k = 0; k < count; ++k)
          if (!value(et, depth + 1)) return false;
        return true;
      }
      default: return false;
    }
  }
  bool scalar(unsigned w) {
    if (pos_ + w > n_) return false;
    // Recorded sparingly: a vocabulary array would drown the structural fields.
    if (out_->fields.size() < 4096) out_->fields.push_back({pos_, w, Kind::Scalar});
    pos_ += w;
    return true;
  }

  const std::uint8_t* d_;
  std::size_t n_;
  std::size_t pos_ = 0;
  Layout* out_ = nullptr;
};

void put(std::vector<std::uint8_t>& b, std::size_t at, unsigned w, std::uint64_t v, bool big_endian) {
  for (unsigned k = 0; k < w; ++k) {
    const unsigned shift = big_endian ? 8 * (w - 1 - k) : 8 * k;
    b[at + k] = static_cast<std::uint8_t>(v >> shift);
  }
}

std::uint64_t get(const std::vector<std::uint8_t>& b, std::size_t at, unsigned w, bool big_endian) {
  std::uint64_t v = 0;
  for (unsigned k = 0; k < w; ++k) {
    const unsigned shift = big_endian ? 8 * (w - 1 - k) : 8 * k;
    v |= std::uint64_t{b[at + k]} << shift;
  }
  return v;
}

std::uint64_t interesting(std::mt19937_64& rng, const Field& f, std::uint64_t old) {
  const std::uint64_t max = f.width == 8 ? std::numeric_limits<std::uint64_t>::max() : (std::uint64_t{1} << (8 * f.width)) - 1;
  switch (f.kind) {
    case Kind::ValueType:
    case Kind::ElementType: return rng() % 4 == 0 ? rng() : rng() % 14;
    case Kind::GgmlType: return rng() % 8 == 0 ? rng() % 256 : rng() % 42;
    case Kind::Version: return rng() % 5;
    case Kind::NDims: return rng() % 10;
    case Kind::Alignment: {
      static constexpr std::uint64_t kAlign[] = {0, 1, 2, 3, 8, 16, 31, 32, 64, 256, 4096, 1u << 31, 0xFFFFFFFF};
      return kAlign[rng() % std::size(kAlign)];
    }
    case Kind::Dim: {
      static constexpr std::uint64_t kDims[] = {0, 1, 2, 3, 31, 32, 256, 257, std::uint64_t{1} << 31, std::uint64_t{1} << 32,
                                                std::uint64_t{1} << 62, (std::uint64_t{1} << 63) - 1, std::uint64_t{1} << 63};
      if (rng() % 2) return kDims[rng() % std::size(kDims)];
      break;
    }
    case Kind::DataOffset: {
      static constexpr std::uint64_t kOff[] = {0, 32, 64, 4096};
      if (rng() % 3 == 0) return kOff[rng() % std::size(kOff)];
      if (rng() % 2) return old + 32 * (rng() % 8) - 128;
      break;
    }
    default: break;
  }
  switch (rng() % 10) {
    case 0: return 0;
    case 1: return 1;
    case 2: return old + 1;
    case 3: return old - 1;
    case 4: return old * 2;
    case 5: return old / 2;
    case 6: return max;
    case 7: return max / 2 + 1;
    case 8: return rng() % 64;
    default: return rng() & max;
  }
}

// Changes one structural thing; false when nothing applicable was found.
bool mutate_structure(std::vector<std::uint8_t>& b, const Layout& l, std::mt19937_64& rng) {
  const bool be = l.big_endian;
  const unsigned cw = l.count_width;
  switch (rng() % 10) {
    case 0: {  // resize a string, keeping its length field right
      if (l.string_length_at.empty()) return false;
      const std::size_t at = l.string_length_at[rng() % l.string_length_at.size()];
      const std::uint64_t len = get(b, at, cw, be);
      const std::size_t body = at + cw;
      if (rng() % 2 && len > 0) {
        const std::uint64_t cut = 1 + rng() % len;
        b.erase(b.begin() + static_cast<std::ptrdiff_t>(body), b.begin() + static_cast<std::ptrdiff_t>(body + cut));
        put(b, at, cw, len - cut, be);
      } else {
        const std::size_t add = 1 + rng() % 64;
        const std::uint8_t fill = rng() % 3 == 0 ? static_cast<std::uint8_t>(rng()) : '.';
        b.insert(b.begin() + static_cast<std::ptrdiff_t>(body), add, fill);
        put(b, at, cw, len + add, be);
      }
      return true;
    }
    case 1: {  // drop a key/value or a tensor info, decrementing the count
      const bool kv = rng() % 2;
      const auto& spans = kv ? l.kvs : l.infos;
      if (spans.empty()) return false;
      const Span s = spans[rng() % spans.size()];
      const std::size_t count_at = kv ? l.kv_count_at : l.tensor_count_at;
      b.erase(b.begin() + static_cast<std::ptrdiff_t>(s.begin), b.begin() + static_cast<std::ptrdiff_t>(s.end));
      put(b, count_at, cw, get(b, count_at, cw, be) - 1, be);
      return true;
    }
    case 2: {  // duplicate a key/value or a tensor info, incrementing the count
      const bool kv = rng() % 2;
      const auto& spans = kv ? l.kvs : l.infos;
      if (spans.empty()) return false;
      const Span s = spans[rng() % spans.size()];
      const std::size_t count_at = kv ? l.kv_count_at : l.tensor_count_at;
      const std::vector<std::uint8_t> copy(b.begin() + static_cast<std::ptrdiff_t>(s.begin),
                                           b.begin() + static_cast<std::ptrdiff_t>(s.end));
      b.insert(b.begin() + static_cast<std::ptrdiff_t>(s.end), copy.begin(), copy.end());
      put(b, count_at, cw, get(b, count_at, cw, be) + 1, be);
      return true;
    }
    case 3: {  // cut the file somewhere in or after the header
      const std::size_t from = std::min(b.size(), l.infos_end > 0 ? l.infos_end - 1 : 0);
      const std::size_t at = from + (b.size() > from ? rng() % (b.size() - from) : 0);
      b.resize(at);
      return true;
    }
    default: {  // one field
      if (l.fields.empty()) return false;
      const Field& f = l.fields[rng() % l.fields.size()];
      put(b, f.at, f.width, interesting(rng, f, get(b, f.at, f.width, be)), be);
      return true;
    }
  }
}

}  // namespace

extern "C" std::size_t LLVMFuzzerCustomMutator(std::uint8_t* data, std::size_t size, std::size_t max_size,
                                               unsigned int seed) {
  std::mt19937_64 rng(seed);
  Layout layout;
  if (rng() % 5 != 0 && Parse(data, size).run(layout)) {
    std::vector<std::uint8_t> b(data, data + size);
    if (mutate_structure(b, layout, rng) && b.size() <= max_size) {
      std::memcpy(data, b.data(), b.size());
      return b.size();
    }
  }
  return LLVMFuzzerMutate(data, size, max_size);
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ckpt::fuzz::open_and_touch(data, size, ckpt::io::Format::Gguf);
  return 0;
}
