#pragma once
// A pickle interpreter that never runs code. It understands every opcode of
// protocols 0–5 that torch.save and pickle emit for checkpoints, resolves
// globals against a fixed allow-list (in the spirit of
// torch.load(weights_only=True)) and turns the allowed calls into plain
// values: an OrderedDict becomes a Dict, _rebuild_tensor_v2 a Tensor, a
// storage class a StorageType. Any other global is refused by name.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "io/dtype.h"
#include "io/tensor.h"

namespace ckpt::io::pickle {

enum class Kind : std::uint8_t {
  None, Bool, Int, Float, String, Bytes, Tuple, List, Dict, Set,
  Global,       // an allowed global not (yet) called: text = "module.name"
  TorchDType,   // torch.float32 …: dtype
  StorageType,  // torch.FloatStorage …, or torch.UntypedStorage (dtype U8): dtype
  Storage,      // what persistent_load returned for a storage: see fields
  Tensor,       // _rebuild_tensor_v2 / _rebuild_parameter: see fields
};

struct Value;
using ValuePtr = std::shared_ptr<Value>;

// The parts only a Storage or a Tensor has. They live outside Value so the
// hundreds of thousands of ints, strings and tuples of a large state_dict do
// not each carry them (a Value with them inline is ~300 bytes, without ~100).
struct TorchParts {
  // Storage: a reference the caller's persistent_load made.
  std::string storage_key;
  std::string storage_location;
  std::uint64_t storage_numel = 0;  // in elements of `dtype`
  std::shared_ptr<const TensorData> storage_data;  // optional: the storage's raw bytes, set by the caller
  std::uint64_t storage_tag = 0;  // optional: whatever the caller needs to find the storage's bytes again

  // Tensor: a view of `storage`.
  ValuePtr storage;
  std::int64_t storage_offset = 0;  // elements
  Shape size;
  std::vector<std::int64_t> stride;  // elements
  bool requires_grad = false;
  bool is_parameter = false;
};

// What load() returns is read-only: one None, True, False, empty tuple and
// int from -5 to 256 stands for all of its occurrences in a load (as in
// CPython), so changing one would change them all.
struct Value {
  Kind kind = Kind::None;
  bool boolean = false;
  DType dtype = DType::U8;                              // TorchDType, StorageType, Storage, Tensor
  // load()'s own bookkeeping, kept on the value so it costs no lookup:
  // `height` is the longest chain of values below this one (checked against
  // Limits::max_depth, so walking or destroying a result never recurses
  // deeper than that); `held` is set once another value contains it, after
  // which load() refuses to change it (that is how it rules out cycles).
  bool held = false;
  std::uint32_t height = 0;
  std::int64_t integer = 0;
  double real = 0;
  std::string text;                                     // String (UTF-8), Bytes, Global
  std::vector<ValuePtr> items;                          // Tuple, List, Set
  std::vector<std::pair<ValuePtr, ValuePtr>> entries;   // Dict, in insertion order
  // Set by BUILD (e.g. OrderedDict._metadata); null until then, which is
  // nearly always.
  std::unique_ptr<std::vector<std::pair<std::string, ValuePtr>>> attrs;
  // Storage and Tensor values always have it (load() and make_storage() see
  // to that); every other kind has none.
  std::unique_ptr<TorchParts> torch;
};

// A Storage value, for a persistent_load to return.
[[nodiscard]] ValuePtr make_storage(DType dtype, std::string key, std::string location, std::uint64_t numel);

struct Limits {
  std::size_t max_depth = 1000;          // nesting of containers / stack marks
  std::size_t max_memo = 10'000'000;     // memo entries
  std::uint64_t max_length = std::uint64_t{1} << 32;  // one string/bytes object, and what is left in the input
  std::size_t max_stack = 50'000'000;    // values on the stack
  // What load() builds, in bytes: every value made (~180 bytes each: the
  // Value, its shared_ptr block and its stack slot; a tensor ~100 more), the
  // stack slot of each reuse of a shared None, bool, small int or empty
  // tuple, 16 per container item, dict entry or attribute, ~56 per dict key
  // indexed, 8 per tensor size or stride, and every byte of text copied
  // (attribute names, bytes(x)), summed over the whole load. At most
  // max_built_per_byte per byte of input plus max_built_floor, which bounds
  // the heap a load can take. torch.save's state_dict pickles measure 20-30
  // per byte; the densest real pickle, a list of empty lists in protocol 4
  // (']' and MEMOIZE: two bytes per value), ~100, which must still load. A
  // pickle of one-byte value opcodes (EMPTY_LIST, EMPTY_DICT) makes ~180 per
  // byte and is refused, and calls such as list(x), bytes(x) or a tensor
  // rebuild copy what a 2-byte memo fetch names, so without this a 60 KB
  // pickle could ask for gigabytes. (128, down from 256 when a Value was
  // ~300 bytes: the same values and the same refusals, half the heap bound.)
  std::uint64_t max_built_per_byte = 128;
  std::uint64_t max_built_floor = std::uint64_t{16} << 20;
};

struct Options {
  // Called for BINPERSID/PERSID with the persistent id value; returns what
  // stands in its place (torch: a Storage). Without it, persistent ids are refused.
  std::function<ValuePtr(const ValuePtr& pid)> persistent_load;
  Limits limits;
};

// Interprets one pickle starting at data[0]; `label` and `base_offset` make
// errors name the file and the absolute byte offset. Returns the value and
// sets *consumed to the bytes read through STOP (legacy torch files hold
// several pickles back to back).
[[nodiscard]] ValuePtr load(std::span<const std::byte> data, const std::string& label, std::uint64_t base_offset,
                            const Options& opt, std::size_t* consumed = nullptr);

// The full names of the globals load() accepts ("collections.OrderedDict", …).
[[nodiscard]] const std::vector<std::string>& allowed_globals();

// What an allowed global stands for, for a reader that scans torch's own
// pickles without this interpreter (torch_state_dict.h) and must agree with
// it on every name. nullopt: not allowed.
enum class GlobalRole : std::uint8_t { Other, OrderedDict, RebuildTensorV2, StorageClass };
struct GlobalInfo {
  GlobalRole role = GlobalRole::Other;
  DType dtype = DType::U8;  // StorageClass: its dtype (U8 for UntypedStorage)
};
[[nodiscard]] std::optional<GlobalInfo> allowed_global(std::string_view full_name);

}  // namespace ckpt::io::pickle
