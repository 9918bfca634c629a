#pragma once
// A fast reader for the one pickle shape that nearly every PyTorch checkpoint
// has: torch.save of a flat state_dict, a dict or OrderedDict of name →
// _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, OrderedDict()),
// optionally followed by the OrderedDict's _metadata state. It builds no
// value graph, only one small record per tensor, which is what makes
// listing 50,000 tensors take milliseconds instead of the general
// interpreter's half second.
//
// It never decides anything on its own: any opcode, value or arrangement
// outside that shape, anything the general interpreter (pickle.h) would
// refuse, and anything it would read differently (a repeated key, which a
// dict replaces) makes it return nullopt, and the caller runs the general
// interpreter, which reads (or words the error for) everything.
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "io/dtype.h"

namespace ckpt::io::torch_state_dict {

// One persistent id ('storage', CLASS, KEY, LOCATION, NUMEL), in the order
// the pickle's BINPERSID opcodes meet them (the order the general
// interpreter calls persistent_load in).
struct Pid {
  DType dtype;                 // the storage class's
  std::string_view key;        // views of the pickle's bytes
  std::string_view location;
  std::uint64_t numel;
};

struct Tensor {
  std::uint32_t pid;            // index into StateDict::pids
  std::uint32_t ndim;
  std::size_t size_at;          // dims[size_at…] and dims[stride_at…], ndim each
  std::size_t stride_at;
  std::int64_t storage_offset;  // elements
};

struct Entry {
  std::string_view name;  // unique, ASCII
  std::uint32_t tensor;   // index into StateDict::tensors (a tensor saved twice has two entries)
};

struct StateDict {
  std::vector<Pid> pids;
  std::vector<Tensor> tensors;
  std::vector<std::int64_t> dims;
  std::vector<Entry> entries;  // the dict's order
};

[[nodiscard]] std::optional<StateDict> scan(std::span<const std::byte> pickle);

}  // namespace ckpt::io::torch_state_dict
