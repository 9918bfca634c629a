// libFuzzer harness: a .safetensors file — the u64 header length, the JSON
// header (both the single-pass fast parser and the nlohmann reference), the
// tiling of the data section — then every tensor's data.
//
// Differential check: the fast header parser promises never to accept what
// the reference rejects and to yield the same Header where it accepts, and
// every error comes from the reference. So both paths must agree on every
// input: the same Header, or the same error sentence at the same offset.
//
// Byte flips mostly break the JSON syntax or the length prefix, so the custom
// mutator parses the header as JSON (keeping key order), changes one entry —
// a dtype, a shape dimension, a data offset, a tensor name, the metadata, the
// length prefix or the data section's size — and serializes it back with a
// matching length prefix. Inputs it cannot parse, and one in five of the
// rest, get libFuzzer's own mutation.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/fuzz/support/fuzz_support.h"

extern "C" std::size_t LLVMFuzzerMutate(std::uint8_t* data, std::size_t size, std::size_t max_size);

namespace {

using json = nlohmann::ordered_json;

// ---- structure-aware mutation -------------------------------------------

json interesting_number(std::mt19937_64& rng, std::int64_t old) {
  // Wrapping arithmetic: the point is odd values, not overflow in the mutator.
  const auto wrap = [](std::uint64_t v) { return static_cast<std::int64_t>(v); };
  const auto u = static_cast<std::uint64_t>(old);
  switch (rng() % 14) {
    case 0: return 0;
    case 1: return 1;
    case 2: return wrap(u + 1);
    case 3: return wrap(u - 1);
    case 4: return wrap(u * 2);
    case 5: return -1;
    case 6: return std::numeric_limits<std::int64_t>::max();
    case 7: return std::numeric_limits<std::uint64_t>::max();
    case 8: return std::uint64_t{1} << 32;
    case 9: return std::uint64_t{1} << 63;
    case 10: return static_cast<double>(old) + 0.5;
    case 11: return std::to_string(old);
    case 12: return nullptr;
    default: return static_cast<std::int64_t>(rng() % 4096);
  }
}

const char* const kDtypes[] = {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8",
                               "BOOL", "C64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "f32",
                               "", "Q4_0", "F8_E4M3FNUZ", "F8_E5M2FNUZ"};

std::int64_t as_int(const json& v) {
  if (v.is_number_integer()) return v.get<std::int64_t>();
  return 0;
}

void mutate_tensor(json& t, std::mt19937_64& rng) {
  if (!t.is_object()) {
    t = json::object({{"dtype", "U8"}, {"shape", json::array({1})}, {"data_offsets", json::array({0, 1})}});
    return;
  }
  switch (rng() % 8) {
    case 0:
      t["dtype"] = rng() % 8 == 0 ? json(rng() % 100) : json(kDtypes[rng() % std::size(kDtypes)]);
      return;
    case 1:
    case 2: {  // one dimension
      json& s = t["shape"];
      if (!s.is_array() || s.empty()) {
        s = json::array({interesting_number(rng, 1)});
        return;
      }
      json& d = s[static_cast<std::size_t>(rng() % s.size())];
      d = interesting_number(rng, as_int(d));
      return;
    }
    case 3: {  // rank
      json& s = t["shape"];
      if (!s.is_array()) s = json::array();
      if (rng() % 2 && !s.empty()) s.erase(s.size() - 1);
      else s.push_back(rng() % 2 ? 1 : 2);
      return;
    }
    case 4:
    case 5: {  // one offset, or both moved together
      json& o = t["data_offsets"];
      if (!o.is_array() || o.size() != 2) {
        o = json::array({0, 0});
        return;
      }
      if (rng() % 3 == 0) {
        const std::int64_t delta = static_cast<std::int64_t>(rng() % 17) - 8;
        o[0] = static_cast<std::int64_t>(static_cast<std::uint64_t>(as_int(o[0])) + static_cast<std::uint64_t>(delta));
        o[1] = static_cast<std::int64_t>(static_cast<std::uint64_t>(as_int(o[1])) + static_cast<std::uint64_t>(delta));
      } else {
        json& x = o[static_cast<std::size_t>(rng() % 2)];
        x = interesting_number(rng, as_int(x));
      }
      return;
    }
    case 6: {  // a key removed or an extra one added
      static const char* const kKeys[] = {"dtype", "shape", "data_offsets"};
      if (rng() % 2) t.erase(kKeys[rng() % 3]);
      else t["extra"] = rng() % 2 ? json("x") : json::array({1, 2, 3});
      return;
    }
    default: {  // offsets as another shape
      json& o = t["data_offsets"];
      o = rng() % 2 ? json::array({0, 0, 0}) : json(0);
      return;
    }
  }
}

void mutate_metadata(json& h, std::mt19937_64& rng) {
  json& m = h["__metadata__"];
  switch (rng() % 5) {
    case 0: m = nullptr; return;
    case 1: m = rng() % 2 ? json(1) : json::array({"a"}); return;
    case 2:
      if (!m.is_object()) m = json::object();
      m["format"] = rng() % 2 ? json("pt") : json(std::string(static_cast<std::size_t>(rng() % 300), 'm'));
      return;
    case 3:
      if (!m.is_object()) m = json::object();
      m["k" + std::to_string(rng() % 8)] = rng() % 2 ? json(1.5) : json::object({{"nested", "x"}});
      return;
    default: h.erase("__metadata__"); return;
  }
}

// Renames a tensor (keeping its place): empty, long, unicode, escapes, "__metadata__".
void rename_tensor(json& h, std::mt19937_64& rng) {
  std::vector<std::string> names;
  for (auto it = h.begin(); it != h.end(); ++it)
    if (it.key() != "__metadata__") names.push_back(it.key());
  if (names.empty()) return;
  const std::string old = names[rng() % names.size()];
  static const char* const kNames[] = {"", "a.b.c", "\xC3\xA9t\xC3\xA9", "tab\there", "nul\\u0000", "__metadata__",
                                       "../x", "layers.0.weight"};
  std::string name = rng() % 4 == 0 ? std::string(static_cast<std::size_t>(rng() % 2000), 'n') : kNames[rng() % std::size(kNames)];
  if (h.contains(name)) return;
  json rebuilt = json::object();
  for (auto it = h.begin(); it != h.end(); ++it) rebuilt[it.key() == old ? name : it.key()] = it.value();
  h = std::move(rebuilt);
}

std::size_t mutate_structure(std::uint8_t* data, std::size_t size, std::size_t max_size, std::mt19937_64& rng) {
  if (size < 8) return 0;
  std::uint64_t n = 0;
  for (int k = 7; k >= 0; --k) n = (n << 8) | data[k];
  if (n > size - 8) return 0;
  json h = json::parse(data + 8, data + 8 + n, nullptr, false);
  if (h.is_discarded() || !h.is_object()) return 0;
  std::vector<std::uint8_t> tail(data + 8 + n, data + size);

  std::int64_t length_delta = 0;
  switch (rng() % 10) {
    case 0: mutate_metadata(h, rng); break;
    case 1: rename_tensor(h, rng); break;
    case 2: {  // the data section longer or shorter
      if (rng() % 2 && !tail.empty()) tail.resize(tail.size() - 1 - rng() % tail.size());
      else tail.resize(tail.size() + 1 + rng() % 64, static_cast<std::uint8_t>(rng()));
      break;
    }
    case 3: length_delta = static_cast<std::int64_t>(rng() % 9) - 4; break;
    case 4: {  // a tensor removed
      std::vector<std::string> names;
      for (auto it = h.begin(); it != h.end(); ++it)
        if (it.key() != "__metadata__") names.push_back(it.key());
      if (!names.empty()) h.erase(names[rng() % names.size()]);
      break;
    }
    default: {
      std::vector<std::string> names;
      for (auto it = h.begin(); it != h.end(); ++it)
        if (it.key() != "__metadata__") names.push_back(it.key());
      if (names.empty()) h["t"] = json::object();
      else mutate_tensor(h[names[rng() % names.size()]], rng);
      break;
    }
  }
  std::string text = h.dump();
  // Writers pad the header with spaces to a multiple of 8; keep that usually.
  if (rng() % 4 != 0) text.append((8 - text.size() % 8) % 8, ' ');
  const std::uint64_t declared = static_cast<std::uint64_t>(static_cast<std::int64_t>(text.size()) + length_delta);
  const std::size_t total = 8 + text.size() + tail.size();
  if (total > max_size) return 0;
  for (int k = 0; k < 8; ++k) data[k] = static_cast<std::uint8_t>(declared >> (8 * k));
  std::memcpy(data + 8, text.data(), text.size());
  if (!tail.empty()) std::memcpy(data + 8 + text.size(), tail.data(), tail.size());
  return total;
}

}  // namespace

extern "C" std::size_t LLVMFuzzerCustomMutator(std::uint8_t* data, std::size_t size, std::size_t max_size,
                                               unsigned int seed) {
  std::mt19937_64 rng(seed);
  if (rng() % 5 != 0)
    if (const std::size_t n = mutate_structure(data, size, max_size, rng)) return n;
  return LLVMFuzzerMutate(data, size, max_size);
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ckpt::fuzz::check_safetensors_paths_agree(data, size);
  ckpt::fuzz::open_and_touch(data, size, ckpt::io::Format::Safetensors);
  return 0;
}
