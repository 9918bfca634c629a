// check_torch_readers_agree: the fuzzer looks for a pickle on which the
// state_dict scan and the interpreter part ways.
#include <cstring>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/byte_source.h"
#include "io/error.h"
#include "io/formats/pytorch.h"
#include "io/metadata.h"
#include "tests/fuzz/support/fuzz_support.h"

namespace ckpt::fuzz {

namespace {

struct Outcome {
  std::optional<io::Checkpoint> ck;
  std::string error;
};

template <class Fn>
Outcome describe_with(Fn fn, const std::shared_ptr<const io::ByteSource>& src) {
  try {
    return {fn(src), ""};
  } catch (const io::Error& e) {
    return {std::nullopt, e.what()};
  }
}

// The bytes a tensor streams, or the error that stops it, for small tensors.
std::string data_of(const io::TensorInfo& t) {
  if (!t.data || t.nbytes > (std::uint64_t{1} << 16)) return "";
  try {
    const auto b = io::read_all(t);
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
  } catch (const io::Error& e) {
    return std::string("error: ") + e.what();
  }
}

}  // namespace

void check_torch_readers_agree(const std::uint8_t* data, std::size_t size) {
  std::vector<std::byte> bytes(size);
  if (size) std::memcpy(bytes.data(), data, size);
  const auto src = std::make_shared<io::MemorySource>(std::move(bytes), "fuzz.pt");
  const Outcome fast = describe_with(io::pytorch::describe, src);
  const Outcome general = describe_with(io::pytorch::describe_general, src);
  if (fast.ck.has_value() != general.ck.has_value())
    invariant_failed(std::string("the state_dict scan ") + (fast.ck ? "read" : "refused") + " a file the interpreter " +
                     (general.ck ? "read" : "refused") + " (" + fast.error + general.error + ")");
  if (!fast.ck) {
    if (fast.error != general.error)
      invariant_failed("the two PyTorch readers word an error differently: '" + fast.error + "' vs '" + general.error + "'");
    return;
  }
  const io::Checkpoint& a = *fast.ck;
  const io::Checkpoint& b = *general.ck;
  if (a.format_detail != b.format_detail || a.tensors.size() != b.tensors.size() || a.metadata.size() != b.metadata.size())
    invariant_failed("the two PyTorch readers list different checkpoints");
  for (std::size_t i = 0; i < a.tensors.size(); ++i) {
    const auto& x = a.tensors[i];
    const auto& y = b.tensors[i];
    if (x.name != y.name || x.dtype != y.dtype || x.shape != y.shape || x.nbytes != y.nbytes || x.offset != y.offset ||
        x.layout_note != y.layout_note || (x.data == nullptr) != (y.data == nullptr) || data_of(x) != data_of(y))
      invariant_failed("the two PyTorch readers differ on tensor '" + x.name + "' / '" + y.name + "'");
  }
  for (std::size_t i = 0; i < a.metadata.size(); ++i)
    if (a.metadata[i].key != b.metadata[i].key ||
        io::to_json(a.metadata[i].value).dump() != io::to_json(b.metadata[i].value).dump())
      invariant_failed("the two PyTorch readers differ on metadata '" + a.metadata[i].key + "'");
}

}  // namespace ckpt::fuzz
